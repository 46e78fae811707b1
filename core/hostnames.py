"""Hostname normalisation, shared by the admin (when a domain is saved) and the edge (the Host
header), so that both name a domain the same way: lowercase IDNA A-label, no trailing dot,
no port. Mixed-script look-alikes (``pаypal`` with a Cyrillic ``а``) are refused.
"""

from __future__ import annotations

import re
import unicodedata

import idna

_LDH_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Letters of other scripts that look like Latin ones: a label made only of these (and digits,
# hyphens) reads as Latin to a person and is refused as a whole-script look-alike.
_LATIN_LOOKALIKES = frozenset(
    "аеорсухіјѕԁһӏԛԝкмнтвℓ"  # Cyrillic
    "αοορνικτυχβεζηιμ"  # Greek
)


class HostnameError(ValueError):
    """A hostname that cannot be a Smart Links domain; the message says why."""


def _script(ch: str) -> str | None:
    if ch.isascii() and (ch.isdigit() or ch == "-"):
        return None
    try:
        return unicodedata.name(ch).split(" ")[0]
    except ValueError:
        return "UNKNOWN"


def _check_label_scripts(label: str) -> None:
    scripts = {s for s in map(_script, label) if s is not None}
    if len(scripts) > 1:
        raise HostnameError(f"label {label!r} mixes scripts ({', '.join(sorted(scripts))})")
    if (
        scripts
        and scripts != {"LATIN"}
        and all(
            c in _LATIN_LOOKALIKES or (c.isascii() and (c.isdigit() or c == "-")) for c in label
        )
    ):
        raise HostnameError(f"label {label!r} imitates Latin letters")


def normalize_hostname(text: str) -> str:
    """The canonical form of a hostname entered by a person; raises HostnameError."""
    if not isinstance(text, str):
        raise HostnameError("hostname must be a string")
    host = text.strip()
    if not host:
        raise HostnameError("hostname is empty")
    if any(c in host for c in "/:@?#[] \t\r\n\\"):
        raise HostnameError("hostname must be a bare host name, without scheme, port or path")
    host = host.rstrip(".")
    if "." not in host:
        raise HostnameError("hostname must have at least two labels, like go.example.org")
    try:
        ulabel_host = idna.decode(idna.encode(host, uts46=True))
        ascii_host = idna.encode(ulabel_host).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise HostnameError(f"not a valid hostname: {exc}") from None
    for label in ulabel_host.split("."):
        _check_label_scripts(label)
    if len(ascii_host) > 253:
        raise HostnameError("hostname is longer than 253 characters")
    labels = ascii_host.split(".")
    if not all(_LDH_LABEL.match(label) for label in labels):
        raise HostnameError("hostname labels use letters, digits and inner hyphens only")
    if labels[-1].isdigit():
        raise HostnameError("an IP address is not a domain")
    return ascii_host


def normalize_host_header(value: str) -> str | None:
    """The hostname a request is for, in the form ``normalize_hostname`` stores; None when the
    header cannot name a domain. Cheap for the common case (plain ASCII)."""
    host = value.strip()
    if host.startswith("["):
        return None  # an IPv6 literal never names a domain
    host = host.rpartition(":")[0] if ":" in host else host
    host = host.rstrip(".").lower()
    if not host:
        return None
    if host.isascii():
        return host if all(_LDH_LABEL.match(label) for label in host.split(".")) else None
    try:
        return normalize_hostname(host)
    except HostnameError:
        return None
