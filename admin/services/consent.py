"""Consent: carrier opt-out, opt-in and help keywords, and the one place a contact's opt-out
state changes (every change is in the contact's history with its source).

The keywords follow the carriers' and the FCC's rules (2025): a reply that is one of the
opt-out words, in any case, with punctuation or spaces around it ("stop." "Stop!" "opt-out"),
opts the contact out and gets one confirmation; START, UNSTOP and YES opt back in; HELP and INFO
answer with the organisation's help text. Those answers are compliance messages: the only kind
the sender hands over for an opted-out contact.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from admin.extensions import db
from admin.models import Contact, HistoryEvent, Organisation
from admin.services import inputs
from admin.services.errors import NotFound

OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "revoke",
     "opt out", "optout", "opt out all"}
)  # fmt: skip
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
Keyword = Literal["opt_out", "opt_in", "help"]

SETTINGS_KEY = "messaging"
HELP_TEXT_MAX = 320  # two GSM-7 segments


def keyword(body: str) -> Keyword | None:
    """The consent keyword a reply is, if any: punctuation and case do not matter."""
    text = unicodedata.normalize("NFKC", body).casefold()
    text = " ".join(re.sub(r"[\W_]+", " ", text).split())
    if text in OPT_OUT_WORDS:
        return "opt_out"
    if text in OPT_IN_WORDS:
        return "opt_in"
    if text in HELP_WORDS:
        return "help"
    return None


def set_opted_out(
    org_id: int, contact: Contact, opted_out: bool, source: str, user_id: int | None = None
) -> bool:
    """Change the contact's opt-out state (in the caller's transaction) and record it in their
    history with ``source`` (e.g. "replied STOP (twilio)", "API", "web"); False when unchanged."""
    if contact.opted_out == opted_out:
        return False
    contact.opted_out = opted_out
    db.session.add(
        HistoryEvent(
            org_id=org_id,
            contact_id=contact.id,
            type="opt_out" if opted_out else "opt_in",
            body=f"{'Opted out' if opted_out else 'Opted back in'}: {source}",
            user_id=user_id,
        )
    )
    return True


def _org(org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(None, "no such organisation")
    return org


def default_help_text(org_name: str) -> str:
    return (
        f"{org_name}: reply to this message for help. Msg & data rates may apply. "
        "Reply STOP to unsubscribe."
    )


def help_text(org_id: int) -> str:
    org = _org(org_id)
    saved = (org.settings or {}).get(SETTINGS_KEY, {}).get("help_text")
    return saved if isinstance(saved, str) and saved else default_help_text(org.name)


def save_help_text(org_id: int, value: Any) -> str:
    """Store the organisation's HELP answer ("" restores the default); returns it."""
    text = inputs.text("help_text", value, HELP_TEXT_MAX)
    org = _org(org_id)
    messaging = {**(org.settings or {}).get(SETTINGS_KEY, {}), "help_text": text}
    org.settings = {**(org.settings or {}), SETTINGS_KEY: messaging}
    db.session.commit()
    return help_text(org_id)


def answer(org_id: int, kind: Keyword) -> str:
    """The compliance answer to a keyword."""
    name = _org(org_id).name
    if kind == "opt_out":
        return f"{name}: you are unsubscribed and will get no more messages. Reply START to resubscribe."
    if kind == "opt_in":
        return f"{name}: you are subscribed again. Reply HELP for help, STOP to unsubscribe."
    return help_text(org_id)
