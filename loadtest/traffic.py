"""The traffic mix every load test sends: 90% phone browsers, 8% link-preview fetchers, 2%
unknown codes, each request on a distinct code of the seeded link.

A request is one line of a plain file (path, User-Agent, X-Forwarded-For, kind, tab-separated)
so that wrk's Lua script and locust read the same list.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.codes import ALPHABET, CODE_LENGTH

HUMAN, PREVIEW, UNKNOWN = "human", "preview", "unknown"
MIX: tuple[tuple[str, float], ...] = ((HUMAN, 0.90), (PREVIEW, 0.08), (UNKNOWN, 0.02))

# What phones send when someone taps a link in a text message.
PHONE_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.53 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; moto g stylus 5G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
)

# Fetchers that unfurl a link into a preview card (iMessage sends the first one).
PREVIEW_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "WhatsApp/2.23.20.0",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
)


@dataclass(frozen=True)
class Target:
    """One issued short URL: host, code and the link's extension (may be empty)."""

    host: str
    code: str
    extension: str = ""

    @property
    def path(self) -> str:
        return f"/{self.code}/{self.extension}" if self.extension else f"/{self.code}"


@dataclass(frozen=True)
class Request:
    path: str
    user_agent: str
    forwarded_for: str
    kind: str

    def line(self) -> str:
        return f"{self.path}\t{self.user_agent}\t{self.forwarded_for}\t{self.kind}\n"


def unknown_code(rng: random.Random, issued: set[str] | frozenset[str] = frozenset()) -> str:
    while True:
        code = "".join(rng.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if code not in issued:
            return code


def pick_kind(rng: random.Random) -> str:
    roll = rng.random()
    for kind, share in MIX:
        if roll < share:
            return kind
        roll -= share
    return MIX[0][0]


def phone_ip(rng: random.Random) -> str:
    # Carrier NAT ranges vary; any public-looking address will do for the edge's parsing.
    return (
        f"{rng.randint(11, 199)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    )


def build_requests(targets: Sequence[Target], count: int, seed: int = 6) -> list[Request]:
    """``count`` requests walking the targets in a shuffled order, so that consecutive requests
    hit distinct codes (and distinct Redis buckets), with the 90/8/2 mix."""
    rng = random.Random(seed)
    order = list(range(len(targets)))
    rng.shuffle(order)
    issued = {t.code for t in targets}
    out: list[Request] = []
    for i in range(count):
        target = targets[order[i % len(order)]]
        kind = pick_kind(rng)
        if kind == UNKNOWN:
            path = f"/{unknown_code(rng, issued)}"
            ua = rng.choice(PHONE_USER_AGENTS)
        elif kind == PREVIEW:
            path, ua = target.path, rng.choice(PREVIEW_USER_AGENTS)
        else:
            path, ua = target.path, rng.choice(PHONE_USER_AGENTS)
        out.append(Request(path, ua, phone_ip(rng), kind))
    return out


def write_requests(path: Path, requests: Iterable[Request]) -> None:
    with path.open("w") as f:
        f.writelines(r.line() for r in requests)


def read_targets(path: Path) -> list[Target]:
    """The codes file written by ``python -m loadtest.seed --export`` (host, code, extension)."""
    targets = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        host, code, *rest = line.split("\t")
        targets.append(Target(host, code, rest[0] if rest else ""))
    return targets


def write_targets(path: Path, targets: Iterable[Target]) -> int:
    n = 0
    with path.open("w") as f:
        f.write("# host\tcode\textension (python -m loadtest.seed --export)\n")
        for t in targets:
            f.write(f"{t.host}\t{t.code}\t{t.extension}\n")
            n += 1
    return n
