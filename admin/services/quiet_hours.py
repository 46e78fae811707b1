"""Quiet hours: no message before 8:00 or after 21:00 in the recipient's local time (the TCPA's
window, which carriers and state laws follow). A message due in the quiet hours is held until
the window opens.

The recipient's time zone is the contact's ``time_zone`` field (an IANA name such as
``America/Chicago``) when it has one, else the zones phonenumbers knows for the number's area
code. A number spanning several zones must be inside the window in all of them. A valid North
American number with no zone of its own (a toll-free or other non-geographic number, for which
phonenumbers lists every zone of the plan) is taken to be in any of the four continental US
zones, the careful choice. A number that is not a valid one (the 555 numbers of fiction and
tests) has no area code to go by and is not held.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

OPENS = time(8, 0)
CLOSES = time(21, 0)
FIELD = "time_zone"
CONTINENTAL_US = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
STEP = timedelta(minutes=15)  # every zone's offset is a multiple of 15 minutes
LOOK_AHEAD = timedelta(days=2)


@lru_cache(maxsize=4096)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_NANP_PREFIXES: dict[str, tuple[str, ...]] = {}


def zones_of_phone(phone: str) -> tuple[str, ...]:
    """The zones of a number's area code. In North America the zone and the validity of a
    number follow from its first six digits (area code and exchange), so those are looked up
    once: parsing 100,000 numbers one by one would take seconds."""
    if not phone.startswith("+1") or len(phone) < 8:
        return _zones_of_number(phone)
    prefix = phone[:8]
    found = _NANP_PREFIXES.get(prefix)
    if found is None:
        found = _NANP_PREFIXES[prefix] = _zones_of_number(phone)
    return found


@lru_cache(maxsize=10_000)
def _zones_of_number(phone: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return ()
    if not phonenumbers.is_valid_number(number):
        return ()
    found = tuple(z for z in phone_zones.time_zones_for_number(number) if _zone(z) is not None)
    if number.country_code == 1 and (not found or len(found) > len(CONTINENTAL_US)):
        return CONTINENTAL_US
    return found


def zones_of(phone: str, fields: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The recipient's time zones: their ``time_zone`` field if valid, else their number's."""
    named = (fields or {}).get(FIELD)
    if isinstance(named, str) and named.strip() and _zone(named.strip()) is not None:
        return (named.strip(),)
    return zones_of_phone(phone)


def _open(moment: datetime, zones: tuple[str, ...]) -> bool:
    for name in zones:
        zone = _zone(name)
        local = moment.astimezone(zone).time() if zone is not None else None
        if local is not None and not OPENS <= local < CLOSES:
            return False
    return True


@lru_cache(maxsize=10_000)
def window_opens(moment: datetime, zones: tuple[str, ...]) -> datetime:
    """The first time at or after ``moment`` (aware) inside the window in every zone; when the
    zones share no window, the first that opens in the first zone."""
    if not zones or _open(moment, zones):
        return moment
    epoch = datetime(2000, 1, 1, tzinfo=moment.tzinfo)
    start = epoch + ((moment - epoch) // STEP + 1) * STEP
    for candidate_zones in (zones, zones[:1]):
        candidate = start
        while candidate - moment < LOOK_AHEAD:
            if _open(candidate, candidate_zones):
                return candidate
            candidate += STEP
    return moment


def hold_until(moment: datetime, phone: str, fields: Mapping[str, Any] | None) -> datetime | None:
    """When a message due at ``moment`` may go to this recipient: None when it may go then."""
    opens = window_opens(moment, zones_of(phone, fields))
    return opens if opens > moment else None


def valid_time_zone(name: str) -> bool:
    return _zone(name) is not None
