"""Times of scheduled callbacks: parsing them, reading them in a time zone, checking the window.

Pure: every function takes `now` (naive UTC, as the database keeps times) so the
callers and tests decide what now is. A time is refused with `BadTime`, whose
message is safe to show whoever typed it:

- RFC 3339 (the API) needs its offset: "2026-12-24T18:30:00+01:00" or "...Z";
  a time without one means nothing without a time zone.
- A local time (the portal, a text) is read in the account's IANA time zone. A
  time the clocks skip (spring forward) does not exist and one they pass twice
  (fall back) is ambiguous: both are refused, never guessed.
- The time must be ahead of now, and at most `MAX_AHEAD` ahead.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from functools import lru_cache

MAX_AHEAD = dt.timedelta(days=30)
# Seconds of slack for "in the past": a time typed for this very minute is placed now, not refused.
GRACE = dt.timedelta(seconds=60)
DEFAULT_TIME_ZONE = "UTC"

# [0-9], not \d: \d (and int()) would take full-width and other non-ASCII digits.
_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
                      r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


class BadTime(ValueError):
    """A scheduled time that cannot be used; the message says why."""


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_time_zone(name: str) -> bool:
    # Looked up in the list, never opened by name: a name is a path into the zone files.
    return isinstance(name, str) and name in time_zones()


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name if name and valid_time_zone(name) else DEFAULT_TIME_ZONE)


def _naive_utc(aware: dt.datetime) -> dt.datetime:
    return aware.astimezone(dt.UTC).replace(tzinfo=None)


def parse_rfc3339(text: object) -> dt.datetime:
    """An RFC 3339 date-time with its offset -> naive UTC."""
    if not isinstance(text, str) or len(text) > 40:
        raise BadTime("'at' is an RFC 3339 date-time with its offset, e.g. 2026-12-24T18:30:00+01:00")
    match = _RFC3339.fullmatch(text.strip())
    if not match:
        raise BadTime("'at' is an RFC 3339 date-time with its offset, e.g. 2026-12-24T18:30:00+01:00")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        offset = dt.timedelta(0) if zulu else int(sign + "1") * dt.timedelta(hours=int(off_h), minutes=int(off_m))
        micro = int((fraction or ".0")[1:7].ljust(6, "0"))
        aware = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59), micro,
                            tzinfo=dt.timezone(offset))
    except ValueError:
        raise BadTime("'at' is not a real date and time") from None
    return _naive_utc(aware)


def local_to_utc(local: dt.datetime, time_zone: str) -> dt.datetime:
    """A wall-clock time in `time_zone` -> naive UTC; BadTime if the clocks skip it or pass it twice."""
    tz = zone(time_zone)
    early, late = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    if early.utcoffset() != late.utcoffset():
        if _naive_utc(early).replace(tzinfo=dt.UTC).astimezone(tz).replace(tzinfo=None) != local:
            raise BadTime(f"{local:%Y-%m-%d %H:%M} does not exist in {tz.key}: the clocks skip it")
        raise BadTime(f"{local:%Y-%m-%d %H:%M} happens twice in {tz.key} (the clocks go back); pick another time")
    return _naive_utc(early)


def utc_to_local(when: dt.datetime, time_zone: str) -> dt.datetime:
    """Naive UTC -> the wall-clock time in `time_zone` (aware)."""
    return when.replace(tzinfo=dt.UTC).astimezone(zone(time_zone))


def check_window(when: dt.datetime, now: dt.datetime) -> dt.datetime:
    """`when` if it lies ahead of `now` and within MAX_AHEAD; BadTime otherwise."""
    if when < now - GRACE:
        raise BadTime("that time has passed")
    if when > now + MAX_AHEAD:
        raise BadTime("a callback can be scheduled at most 30 days ahead")
    return max(when, now)


def next_at(hour: int, minute: int, time_zone: str, now: dt.datetime) -> dt.datetime:
    """The next hour:minute on the account's clock: today, or tomorrow if it has passed. Naive UTC."""
    today = utc_to_local(now, time_zone).date()
    for day in (today, today + dt.timedelta(days=1)):
        local = dt.datetime.combine(day, dt.time(hour, minute))
        try:
            when = local_to_utc(local, time_zone)
        except BadTime:
            if day == today and _passed(local, time_zone, now):
                continue  # today's was skipped or doubled, and is behind us anyway
            raise
        if when > now:
            return when
    raise BadTime("that time has passed")  # not reached: tomorrow's is always ahead


def _passed(local: dt.datetime, time_zone: str, now: dt.datetime) -> bool:
    return utc_to_local(now, time_zone).replace(tzinfo=None) >= local


def parse_local(date_text: str, time_text: str, time_zone: str, now: dt.datetime) -> dt.datetime:
    """The portal's date (YYYY-MM-DD) and time (HH:MM) in the account's time zone -> naive UTC, in the window."""
    date_match = _DATE.fullmatch((date_text or "").strip())
    time_match = _TIME.fullmatch((time_text or "").strip()[:5])
    if not date_match or not time_match:
        raise BadTime("give the date as YYYY-MM-DD and the time as HH:MM")
    try:
        local = dt.datetime(*(int(part) for part in date_match.groups()), *(int(part) for part in time_match.groups()))
    except ValueError:
        raise BadTime("that date does not exist") from None
    return check_window(local_to_utc(local, time_zone), now)


def rfc3339(when: dt.datetime | None) -> str | None:
    """Naive UTC -> '2026-12-24T17:30:00Z'."""
    return when.replace(microsecond=0).isoformat() + "Z" if when is not None else None
