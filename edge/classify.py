"""Who is asking: a person ("human"), a link-preview fetcher ("preview") or a crawler ("bot"),
with the reason, so that crawlers never see contact data and only people count as clicks.

Order matters: our own list of link-preview fetchers first (iMessage's agent names Facebook and
Twitter at once), then the in-app browsers of social apps (people, even though their agents
mention Facebook or Instagram), then the maintained crawler list of the crawlerdetect package.
Results are cached per user agent: crawlerdetect runs a very large regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect import CrawlerDetect

HUMAN = "human"
PREVIEW = "preview"
BOT = "bot"


@dataclass(frozen=True, slots=True)
class Visitor:
    kind: str  # HUMAN | PREVIEW | BOT
    reason: str  # why: "prefetch", "fetcher:WhatsApp", "crawler:Googlebot", "no user agent", ...
    counted: bool = True  # False for HEAD: nothing is recorded


# Link-preview fetchers (the cards of messaging apps, social networks and mail), carrier and
# mail link scanners. Matched case-insensitively anywhere in the agent; the token that matched
# is the reason.
_FETCHER_TOKENS = (
    "facebookexternalhit",  # Facebook, Messenger, and iMessage ("facebookexternalhit/1.1 Facebot Twitterbot/1.0")
    "Facebot",
    "facebookcatalog",
    "meta-externalagent",
    "meta-externalfetcher",
    "Twitterbot",
    "WhatsApp",  # also Signal's preview fetcher
    "Google-PageRenderer",  # Google Messages (RCS) and Google+ snippets
    "GoogleMessages",
    "Google Messages",
    "Slackbot",
    "Slack-ImgProxy",
    "TelegramBot",
    "Discordbot",
    "LinkedInBot",
    "SkypeUriPreview",  # Skype and Microsoft Teams
    "MicrosoftPreview",
    "Applebot",
    "Pinterestbot",
    "redditbot",
    "Embedly",
    "Iframely",
    "vkShare",
    "Snap URL Preview",
    "Bluesky Cardyb",
    "Mastodon/",
    "Line-Poker",
    "KakaoTalk-Scrap",
    "Yahoo Link Preview",
    # mail and carrier link scanners
    "Proofpoint",
    "Mimecast",
    "Barracuda",
    "BitdefenderSafeLinks",
    "zvelo",
    "urlscan",
)
_FETCHER_RE = re.compile("|".join(re.escape(t) for t in _FETCHER_TOKENS), re.IGNORECASE)
_FETCHER_NAMES = {t.lower(): t for t in _FETCHER_TOKENS}

# In-app browsers of social apps: a person reading the link inside the app. Case-sensitive:
# "Snapchat/12.3" is the app, "snapchat" in lower case appears in Snap's preview fetcher.
_IN_APP_RE = re.compile(
    r"FBAN/|FBAV/|FB_IAB/|FBIOS|Instagram \d|Barcelona \d|musical_ly|BytedanceWebview|"
    r"TikTok|Snapchat/|Pinterest/\d|LinkedInApp|Line/\d|KAKAOTALK|GSA/\d|MicroMessenger"
)
_IN_APP_NAMES = {
    "FBAN/": "Facebook",
    "FBAV/": "Facebook",
    "FB_IAB/": "Facebook",
    "FBIOS": "Facebook",
    "musical_ly": "TikTok",
    "BytedanceWebview": "TikTok",
    "Snapchat/": "Snapchat",
}

_crawlers = CrawlerDetect()
UA_CACHE_SIZE = 8192
# Only this much of an agent is classified (the click event keeps as much): crawlerdetect's
# cost grows with the length, ~1-20 ms for an unseen agent of this size, then cached.
MAX_AGENT = 512


@lru_cache(maxsize=UA_CACHE_SIZE)
def classify_agent(user_agent: str) -> Visitor:
    """The kind of a visitor by its User-Agent alone."""
    agent = user_agent.strip()
    if not agent:
        return Visitor(BOT, "no user agent")
    fetcher = _FETCHER_RE.search(agent)
    if fetcher is not None:
        token = _FETCHER_NAMES.get(fetcher.group(0).lower(), fetcher.group(0))
        return Visitor(PREVIEW, f"fetcher:{token}")
    in_app = _IN_APP_RE.search(agent)
    if in_app is not None:
        token = in_app.group(0)
        name = _IN_APP_NAMES.get(token, token.rstrip("/ 0123456789"))
        return Visitor(HUMAN, f"in-app:{name}")
    if _crawlers.is_crawler(agent):
        return Visitor(BOT, f"crawler:{_crawlers.get_matches() or 'listed'}")
    return Visitor(HUMAN, "")


def is_prefetch(sec_purpose: str, purpose: str) -> bool:
    """``Sec-Purpose: prefetch`` (also ``prefetch;prerender``), ``Purpose: prefetch``, and the
    older ``X-Purpose: preview`` / ``X-Moz: prefetch`` (passed in ``purpose``)."""
    text = f"{sec_purpose} {purpose}".lower()
    return "prefetch" in text or "preview" in text


def classify(method: str, user_agent: str, sec_purpose: str = "", purpose: str = "") -> Visitor:
    """The visitor of one request. A HEAD is shaped like the GET the same agent would send (a
    redirect for a person, the preview page for a fetcher) but is never counted."""
    if method == "HEAD":
        by_agent = classify_agent(user_agent[:MAX_AGENT])
        return Visitor(by_agent.kind, "HEAD", counted=False)
    if (sec_purpose or purpose) and is_prefetch(sec_purpose, purpose):
        return Visitor(PREVIEW, "prefetch")
    return classify_agent(user_agent[:MAX_AGENT])
