"""Errors in a person's words: the web pages never show an API field name.

Services name the field at fault as the JSON API spells it (``contact_ids``, ``link_id``); the
pages show the same message with those names replaced by the words on the form.
"""

from __future__ import annotations

import re

# API field name -> the words a person sees on the form.
FIELD_WORDS = {
    "contact_ids": "contacts",
    "contact_id": "contact",
    "link_id": "link",
    "library_action_id": "saved reply",
    "first_name": "first name",
    "last_name": "last name",
    "fallback_url": "fallback URL",
    "preview_image_url": "preview image",
    "image_url": "image",
    "expires_at": "expiry",
    "list_id": "list",
    "domain_id": "domain",
}
_NAMES = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, FIELD_WORDS), key=len, reverse=True)) + r")(\[\d+\])?"
)


def plain(message: str) -> str:
    """``message`` with every API field name replaced by the form's word for it."""
    return _NAMES.sub(lambda m: FIELD_WORDS[m.group(1)], message)
