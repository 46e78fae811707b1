"""Visitor classification against a table of real user-agent strings (both sides)."""

from __future__ import annotations

import pytest

from core.clicks import BOT, HUMAN, PREVIEW
from edge.classify import AgentClassifier, classify, classify_agent

PEOPLE = {
    "iPhone Safari": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "iPad Safari": "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Pixel Chrome": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Android Chrome reduced": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Samsung Internet": "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Chrome on iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    "Firefox Android": "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
    "Firefox iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
    "Edge Android": "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36 EdgA/120.0.2210.84",
    "Opera Android": "Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 OPR/79.0.4195.76449",
    "DuckDuckGo": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 DuckDuckGo/7 Safari/605.1.15",
    "Xiaomi browser": "Mozilla/5.0 (Linux; U; Android 12; en-us; 2201117TG Build/SKQ1.211006.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/112.0.5615.136 Mobile Safari/537.36 XiaoMi/MiuiBrowser/14.5.3-gn",
    "Android WebView": "Mozilla/5.0 (Linux; Android 13; SM-A536U Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.193 Mobile Safari/537.36",
    "Instagram iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 302.0.0.23.114 (iPhone14,3; iOS 17_0; en_US; en; scale=3.00; 1284x2778; 522498915)",
    "Instagram Android": "Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 Instagram 309.1.0.41.113 Android (33/13; 480dpi; 1080x2176; samsung; SM-G991B; o1s; exynos2100; en_US; 541635863)",
    "Facebook iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBDV/iPhone14,2;FBMD/iPhone;FBSN/iOS;FBSV/16.6;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
    "Facebook Android": "Mozilla/5.0 (Linux; Android 13; SM-G991U Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/442.0.0.33.113;]",
    "Messenger iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/MessengerForiOS;FBAV/439.0.0.30.109;FBBV/536101592;FBDV/iPhone13,2;FBMD/iPhone;FBSN/iOS;FBSV/17.1;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/0]",
    "TikTok Android": "Mozilla/5.0 (Linux; Android 12; moto g power (2022) Build/S3RQS32.20-42-10-9; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/118.0.5993.111 Mobile Safari/537.36 musical_ly_2023108010 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/31.8.1 ByteLocale/en ByteFullLocale/en Region/US Spark/1.4.3.4-bugfix AppVersion/31.8.1 BytedanceWebview/d8a21c6",
    "TikTok iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_32.2.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US ByteFullLocale/en isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6 FalconTag/",
    "Snapchat iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/12.60.0.44 (like Safari/8617.2.4.10.8, panda)",
    "Google app iOS": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/292.0.574353928 Mobile/15E148 Safari/604.1",
    "Desktop Chrome": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
}

FETCHERS = {
    "iMessage": ("facebookexternalhit/1.1 Facebot Twitterbot/1.0", PREVIEW),
    "Facebook": (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        PREVIEW,
    ),
    "WhatsApp": ("WhatsApp/2.23.20.0 A", PREVIEW),
    "WhatsApp iOS": ("WhatsApp/2.23.24.76 i", PREVIEW),
    "Google Messages": (
        "Mozilla/5.0 (Linux; Android 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36 Google-PageRenderer Google (+https://developers.google.com/+/web/snippet/)",
        PREVIEW,
    ),
    "Slackbot": ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", PREVIEW),
    "Slack image proxy": ("Slack-ImgProxy (+https://api.slack.com/robots)", PREVIEW),
    "Telegram": ("TelegramBot (like TwitterBot)", PREVIEW),
    "Discord": ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", PREVIEW),
    "LinkedIn": (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        PREVIEW,
    ),
    "Skype/Teams": (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
        PREVIEW,
    ),
    "Twitter": ("Twitterbot/1.0", PREVIEW),
    "Applebot": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        PREVIEW,
    ),
    "Snap preview": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/85.0.4183.83 Safari/537.36 (Snap URL Preview Service; bot; snapchat; https://developers.snap.com/robots)",
        PREVIEW,
    ),
    "Pinterest": ("Pinterestbot/1.0 (+http://www.pinterest.com/bot.html)", PREVIEW),
    "Mimecast": ("Mozilla/5.0 (compatible; Mimecast URL Protect)", PREVIEW),
    "Googlebot": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        BOT,
    ),
    "Bingbot": ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", BOT),
    "curl": ("curl/8.4.0", BOT),
    "python-requests": ("python-requests/2.31.0", BOT),
    "Go client": ("Go-http-client/1.1", BOT),
    "Ahrefs": ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", BOT),
    "Yandex": ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", BOT),
    "Google Favicon": (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/49.0.2623.75 Safari/537.36 Google Favicon",
        BOT,
    ),
    "empty": ("", BOT),
}


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_people_are_human(name: str):
    visitor = classify("GET", PEOPLE[name])
    assert visitor.kind == HUMAN, (name, visitor)
    assert visitor.counted


@pytest.mark.parametrize("name", sorted(FETCHERS))
def test_fetchers_and_bots(name: str):
    agent, kind = FETCHERS[name]
    visitor = classify("GET", agent)
    assert visitor.kind == kind, (name, visitor)
    assert visitor.reason  # always says why


def test_reasons_name_what_matched():
    assert classify_agent(FETCHERS["iMessage"][0]).reason == "fetcher:facebookexternalhit"
    assert classify_agent(PEOPLE["TikTok iOS"]).reason == "in-app:TikTok"
    assert classify_agent(PEOPLE["Facebook iOS"]).reason == "in-app:Facebook"
    assert classify_agent("").reason == "no user agent"
    assert classify_agent(FETCHERS["Googlebot"][0]).reason == "crawler:Googlebot"


def test_prefetch_and_head():
    person = PEOPLE["iPhone Safari"]
    assert classify("GET", person, sec_purpose="prefetch").reason == "prefetch"
    assert classify("GET", person, sec_purpose="prefetch;prerender").kind == PREVIEW
    assert classify("GET", person, purpose="prefetch").kind == PREVIEW
    head = classify("HEAD", person)
    assert (head.kind, head.reason, head.counted) == (HUMAN, "HEAD", False)
    assert classify("HEAD", FETCHERS["WhatsApp"][0]).kind == PREVIEW
    assert classify("GET", person, sec_purpose="").kind == HUMAN


def test_enough_real_agents_on_both_sides():
    assert len(PEOPLE) >= 15
    assert len(FETCHERS) >= 15


def test_crawler_list_budget_degrades_to_the_cheap_check_without_caching():
    now = [1000.0]
    classifier = AgentClassifier(size=100, budget_per_second=2, burst=2, clock=lambda: now[0])
    assert classifier("Mozilla/5.0 odd agent one").reason == ""  # full check (budget 2)
    assert classifier("Mozilla/5.0 odd agent two").reason == ""  # full check (budget 1)
    busy = classifier("Mozilla/5.0 odd agent three")
    assert (busy.kind, busy.reason) == (HUMAN, "unchecked:busy")
    assert classifier("SomeCrawler/1.0 (+http://crawler.example)").reason == "busy:bot word"
    # our own lists and the cache still answer exactly while busy
    assert classifier(FETCHERS["WhatsApp"][0]).kind == PREVIEW
    assert classifier("Mozilla/5.0 odd agent one").reason == ""
    assert "Mozilla/5.0 odd agent three" not in classifier.cache
    now[0] += 1.0  # the budget refills
    assert classifier(FETCHERS["Googlebot"][0]).reason == "crawler:Googlebot"


def test_cache_is_bounded():
    classifier = AgentClassifier(size=3, budget_per_second=100)
    for i in range(10):
        classifier(f"Mozilla/5.0 agent {i}")
    assert len(classifier.cache) == 3
