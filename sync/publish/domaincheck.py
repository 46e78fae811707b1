"""The periodic DNS re-check of verified domains, run by the sync worker.

A verified domain whose DNS no longer shows the CNAME or the TXT record is flagged
(``dns_lost_at``, status "lost" in the API and on the domain page) so that its organisation
sees it; it keeps being served, because a DNS outage or a provider's hiccup must not take
working links down (docs/decisions/0007-domain-ownership.md). A domain the operator verified
by hand (``verified_via = 'operator'``) is trusted without DNS and is not re-checked.

A round runs in its own thread with its own connection: DNS lookups can take seconds, and the
publisher's loop must keep publishing meanwhile.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from core import logs
from sync import domainproof

log = logging.getLogger(__name__)

ROUND_SIZE = 200  # domains checked per round at most; the oldest checks first

_DUE = (
    "SELECT id, hostname, verification_token, dns_lost_at IS NOT NULL FROM domains"
    " WHERE verified_at IS NOT NULL AND verified_via <> 'operator'"
    " AND (dns_checked_at IS NULL OR dns_checked_at < now() - make_interval(secs => %s))"
    " ORDER BY dns_checked_at NULLS FIRST, id LIMIT %s"
)


def check_round(
    database_url: str,
    every_seconds: float,
    cname_target: str,
    resolver_setting: str,
    limit: int = ROUND_SIZE,
) -> dict[str, int]:
    """Re-check the verified domains not checked for ``every_seconds``; returns counts."""
    counts = {"checked": 0, "lost": 0, "back": 0, "unknown": 0}
    target = domainproof.edge_target(cname_target)
    with psycopg.connect(database_url, autocommit=True) as conn:
        due = conn.execute(_DUE, (every_seconds, limit)).fetchall()
        for domain_id, hostname, token, was_lost in due:
            proof = domainproof.check(hostname, token, target, resolver_setting)
            counts["checked"] += 1
            if proof.error or not (proof.txt or proof.cname or target):
                # DNS did not answer, or without EDGE_CNAME_TARGET only a TXT can be seen:
                # nothing is known, so nothing is flagged.
                counts["unknown"] += 1
                conn.execute("UPDATE domains SET dns_checked_at = now() WHERE id = %s", (domain_id,))
                continue
            here = proof.txt or proof.cname
            conn.execute(
                "UPDATE domains SET dns_checked_at = now(), dns_lost_at = CASE WHEN %s THEN NULL"
                " ELSE coalesce(dns_lost_at, now()) END WHERE id = %s",
                (here, domain_id),
            )
            if here and was_lost:
                counts["back"] += 1
                logs.event(log, "domain DNS points here again", hostname=hostname)
            elif not here:
                counts["lost"] += 1
                if not was_lost:
                    logs.event(
                        log,
                        "domain DNS moved away",
                        logging.WARNING,
                        hostname=hostname,
                        found="; ".join(proof.found) or "no record",
                    )
    return counts


class DomainChecker:
    """Starts a round in the background when due; one round at a time."""

    def __init__(
        self, database_url: str, every: float, cname_target: str, resolver_setting: str
    ) -> None:
        self.database_url = database_url
        self.every = every
        self.cname_target = cname_target
        self.resolver_setting = resolver_setting
        self._thread: threading.Thread | None = None

    def _round(self) -> None:
        try:
            counts = check_round(
                self.database_url, self.every, self.cname_target, self.resolver_setting
            )
        except psycopg.Error as exc:  # the next round tries again
            logs.event(log, "domain re-check failed", logging.WARNING, error=repr(exc))
            return
        if counts["checked"]:
            logs.event(log, "domains re-checked", **counts)

    def start(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return False
        self._thread = threading.Thread(target=self._round, name="domain-recheck", daemon=True)
        self._thread.start()
        return True
