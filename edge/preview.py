"""The preview page for link-preview fetchers and bots: OpenGraph and Twitter-card tags from the
link's preview, and a visible link for a person who was taken for a bot.

It is built from the domain and link records only: the contact's record is never passed in, so
no name, phone number or other contact field can appear in it. The link in it is the
destination merged with defaults only.
"""

from __future__ import annotations

from html import escape

from core.records import DomainRecord, LinkRecord

MAX_TEXT = 2_000  # characters kept of a title or description: the page stays far below 1 MB
MAX_URL = 8_000


def image_url(link: LinkRecord, public_admin_url: str) -> str:
    """The preview image as an absolute http(s) URL (an uploaded image may be stored as a
    path on the admin), or "" when there is none or it is not http(s)."""
    url = link.preview_image_url.strip()
    if url.startswith("/") and not url.startswith("//"):
        url = public_admin_url.rstrip("/") + url
    if not url.lower().startswith(("https://", "http://")) or len(url) > MAX_URL:
        return ""
    return url


def _attr(value: str) -> str:
    return escape(value, quote=True)


_CACHED_PAGES = 1024  # per worker: pages of the links previewed lately, less their URL

# (domain, link, destination, public_admin_url) -> the page's bytes around its two copies of
# the page URL. Only that URL (it names the code) differs from one request to the next, and
# escaping a dozen texts per preview was most of its cost; the records are frozen and compared
# by content, so an edited link (a new record) gets a new page.
_pages: dict[tuple[DomainRecord, LinkRecord, str | None, str], tuple[bytes, bytes, bytes]] = {}


def render_preview(
    *,
    domain: DomainRecord,
    link: LinkRecord,
    page_url: str,
    destination: str | None,
    public_admin_url: str,
) -> bytes:
    """The HTML page (UTF-8). ``destination`` is the defaults-only URL, or None."""
    key = (domain, link, destination, public_admin_url)
    parts = _pages.get(key)
    if parts is None:
        if len(_pages) >= _CACHED_PAGES:
            _pages.clear()
        parts = _pages[key] = _page_parts(domain, link, destination, public_admin_url)
    url = _attr(page_url).encode("utf-8")
    return parts[0] + url + parts[1] + url + parts[2]


def _page_parts(
    domain: DomainRecord, link: LinkRecord, destination: str | None, public_admin_url: str
) -> tuple[bytes, bytes, bytes]:
    """The page before, between and after its two copies of the (escaped) page URL."""
    site = domain.hostname
    title = (link.preview_title or site)[:MAX_TEXT]
    description = link.preview_description[:MAX_TEXT]
    image = image_url(link, public_admin_url)
    card = "summary_large_image" if image else "summary"
    meta = [
        ("name", "twitter:card", card),
        ("name", "twitter:title", title),
    ]
    if description:
        meta += [
            ("name", "description", description),
            ("property", "og:description", description),
            ("name", "twitter:description", description),
        ]
    if image:
        meta += [
            ("property", "og:image", image),
            ("name", "twitter:image", image),
        ]
    tags = "\n".join(f'<meta {a}="{_attr(k)}" content="{_attr(v)}">' for a, k, v in meta)
    body_link = (
        f'<p><a href="{_attr(destination)}" rel="nofollow noopener">Continue to the page</a></p>'
        if destination
        else ""
    )
    image_tag = f'<p><img src="{_attr(image)}" alt="" style="max-width:100%"></p>' if image else ""
    before = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{escape(title)}</title>
"""
    before += '<link rel="canonical" href="'
    between = f"""">
<meta property="og:type" content="website">
<meta property="og:title" content="{_attr(title)}">
"""
    between += '<meta property="og:url" content="'
    after = f"""">
<meta property="og:site_name" content="{_attr(site)}">
{tags}
</head>
<body>
<h1>{escape(title)}</h1>
{f"<p>{escape(description)}</p>" if description else ""}
{image_tag}
{body_link}
</body>
</html>
"""
    return before.encode("utf-8"), between.encode("utf-8"), after.encode("utf-8")
