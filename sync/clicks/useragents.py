"""Device, operating system and browser of a click, from its user agent (ua-parser).

Parsing runs regular expressions over the whole user agent; clicks of one campaign come from a
few hundred distinct agents, so a per-process cache makes the drain's cost per click a dict hit.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from ua_parser import parse

# Columns clicks.device / os / browser are String(64).
_MAX = 64
# ua-parser reports no device for most desktop agents; name them by their OS instead of "Other".
_DESKTOP_OS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "FreeBSD"}


class UserAgentInfo(NamedTuple):
    device: str
    os: str
    browser: str


UNKNOWN = UserAgentInfo("Other", "Other", "Other")


@lru_cache(maxsize=20_000)
def describe(user_agent: str) -> UserAgentInfo:
    """The device family ("iPhone", "Samsung SM-S918B", "Desktop", "Spider", "Other"), the OS
    family ("iOS", "Android", ...) and the browser family ("Mobile Safari", "Chrome", ...)."""
    if not user_agent:
        return UNKNOWN
    try:
        result = parse(user_agent)
    except Exception:  # a parser bug must never stop the drain
        return UNKNOWN
    browser = result.user_agent.family if result.user_agent else "Other"
    os_family = result.os.family if result.os else "Other"
    if result.device is not None:
        device = result.device.family
    elif os_family in _DESKTOP_OS:
        device = "Desktop"
    else:
        device = "Other"
    return UserAgentInfo(device[:_MAX], os_family[:_MAX], browser[:_MAX])
