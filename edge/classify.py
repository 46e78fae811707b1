"""Who is asking: a person ("human"), a link-preview fetcher ("preview") or a crawler ("bot"),
with the reason, so that crawlers never see contact data and only people count as clicks.

Order matters: our own list of link-preview fetchers first (iMessage's agent names Facebook and
Twitter at once), then the in-app browsers of social apps (people, even though their agents
mention Facebook or Instagram), then the maintained crawler list of the crawlerdetect package.
Results are cached per user agent: crawlerdetect runs a very large regular expression.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from crawlerdetect import CrawlerDetect

from core.clicks import BOT, HUMAN, PREVIEW, ClickKind


@dataclass(frozen=True, slots=True)
class Visitor:
    kind: ClickKind
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


def _known_apps(agent: str) -> Visitor | None:
    """Our own lists (cheap): link-preview fetchers, then in-app browsers."""
    fetcher = _FETCHER_RE.search(agent)
    if fetcher is not None:
        token = _FETCHER_NAMES.get(fetcher.group(0).lower(), fetcher.group(0))
        return Visitor(PREVIEW, f"fetcher:{token}")
    in_app = _IN_APP_RE.search(agent)
    if in_app is not None:
        token = in_app.group(0)
        name = _IN_APP_NAMES.get(token, token.rstrip("/ 0123456789"))
        return Visitor(HUMAN, f"in-app:{name}")
    return None


def _crawler_list(agent: str) -> Visitor:
    """crawlerdetect's maintained list (expensive): a bot, else a person."""
    if _crawlers.is_crawler(agent):
        return Visitor(BOT, f"crawler:{_crawlers.get_matches() or 'listed'}")
    return Visitor(HUMAN, "")


# Words no browser's agent contains and most automated clients' agents do: the cheap check
# used while the crawler-list budget is spent.
_CHEAP_BOT_RE = re.compile(
    r"bot|crawl|spider|slurp|scan|fetch|preview|http|python|curl|wget|java|okhttp|libwww|"
    r"headless|phantom|lighthouse|monitor|checker|validator",
    re.IGNORECASE,
)


class AgentClassifier:
    """Classification by user agent with a bounded cache and a budget of crawler-list runs.

    An agent not seen before costs one crawlerdetect run (~1-20 ms). A client sending a new
    random agent with every request could keep a worker busy with them, so at most
    ``budget_per_second`` runs happen per second (after a first ``burst``); past that, unseen agents get the cheap check
    (a bot word, else a person) and are not cached, so that they are classified fully later.
    """

    def __init__(
        self,
        size: int = UA_CACHE_SIZE,
        budget_per_second: float = 25.0,
        burst: float = 100.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.rate = budget_per_second
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.refilled = clock()
        self.cache: OrderedDict[str, Visitor] = OrderedDict()

    def _spend(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def __call__(self, user_agent: str) -> Visitor:
        cached = self.cache.get(user_agent)
        if cached is not None:
            self.cache.move_to_end(user_agent)
            return cached
        agent = user_agent.strip()
        if not agent:
            return Visitor(BOT, "no user agent")
        visitor = _known_apps(agent)
        if visitor is None:
            if not self._spend():
                if _CHEAP_BOT_RE.search(agent):
                    return Visitor(BOT, "busy:bot word")
                return Visitor(HUMAN, "unchecked:busy")
            visitor = _crawler_list(agent)
        self.cache[user_agent] = visitor
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return visitor


classify_agent = AgentClassifier()


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
