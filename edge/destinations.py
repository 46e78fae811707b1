"""The Location of a redirect: the link's destination merged with the contact's record.

Parsed templates are cached in-process by their source text (a link's destination at one
version is one text, so this is the same as caching per (link id, version), and a changed
destination simply gets a new entry). The merged URL is checked again (core.merge.check_merged:
origin unchanged, no control character, at most 8,000 bytes) before it goes out; when it fails,
the destination merged with defaults only goes out instead and the click says so.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

import msgspec

from core.hostnames import HostnameError, normalize_hostname
from core.merge import MAX_MERGED_LENGTH, Template, TemplateError, check_merged, parse_template
from core.records import ContactRecord

TEMPLATE_CACHE_SIZE = 4096

# Every printable ASCII character is kept as it is; only non-ASCII text (an IRI's literal
# path) is percent-encoded as UTF-8 so that the header is plain ASCII.
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


@lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def template_for(source: str) -> Template | None:
    """The parsed destination, or None when it is not a valid http(s) template (the admin
    validates at save, so this means a record written by something else)."""
    try:
        return parse_template(source)
    except TemplateError:
        return None


class Location(msgspec.Struct, frozen=True, gc=False):  # one per redirect; no cycle possible
    url: str  # ASCII
    merge_fallback: bool  # True: the merged URL failed its check; defaults only went out


def _finish(url: str, template: Template) -> str | None:
    """``url`` as it may go out in a Location header (ASCII), or None when it fails the check."""
    if not check_merged(url, template):
        return None
    if url.isascii():
        return url
    # An IRI: the host to its IDNA form, the rest percent-encoded as UTF-8.
    origin = template.origin
    scheme, _, authority = origin.partition("://")
    host, colon, port = authority.partition(":")
    try:
        host = normalize_hostname(host) if not host.isascii() else host
    except HostnameError:
        return None
    ascii_url = f"{scheme}://{host}{colon}{port}" + quote(url[len(origin) :], safe=_PRINTABLE_ASCII)
    return ascii_url if len(ascii_url) <= MAX_MERGED_LENGTH else None


def defaults_only(template: Template) -> str | None:
    """The destination with every placeholder at its default: what a HEAD, a preview page or
    a fallback shows, since it carries no contact data. None if even that fails the check."""
    return _finish(template.render(None), template)


def build_location(
    template: Template, contact: ContactRecord | None, source: str = ""
) -> Location | None:
    """The Location for a person's click (``source``: the code's broadcast refcode); None when
    neither the merged URL nor the defaults-only one passes the check (the caller then answers
    as for an unusable link)."""
    if contact is not None or (source and template.uses_source):
        merged = _finish(template.render(contact, source), template)
        if merged is not None:
            return Location(merged, merge_fallback=False)
        fallback = defaults_only(template)
        return Location(fallback, merge_fallback=True) if fallback is not None else None
    plain = defaults_only(template)
    return Location(plain, merge_fallback=False) if plain is not None else None
