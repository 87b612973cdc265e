"""Scheduled times: RFC 3339, wall-clock times across daylight-saving changes, the 30-day window."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core import schedule
from app.core.schedule import BadTime

NOW = dt.datetime(2026, 3, 28, 12, 0)  # naive UTC; Paris springs forward on 2026-03-29 at 02:00


@pytest.mark.parametrize("text, expected", [
    ("2026-03-28T18:30:00Z", dt.datetime(2026, 3, 28, 18, 30)),
    ("2026-03-28t18:30:00z", dt.datetime(2026, 3, 28, 18, 30)),
    ("2026-03-28T18:30:00+01:00", dt.datetime(2026, 3, 28, 17, 30)),
    ("2026-03-28T18:30:00.123456789-05:30", dt.datetime(2026, 3, 29, 0, 0, 0, 123456)),
    ("2026-03-28 18:30:00+00:00", dt.datetime(2026, 3, 28, 18, 30)),
])
def test_rfc3339_with_its_offset_is_read_as_utc(text, expected):
    assert schedule.parse_rfc3339(text) == expected


@pytest.mark.parametrize("text", [
    "2026-03-28T18:30:00", "2026-03-28", "18:30", "2026-03-28T18:30Z", "2026-02-30T10:00:00Z",
    "2026-03-28T24:00:00Z", "2026-03-28T18:30:00+25:00", "２０２６-03-28T18:30:00Z", "", None, 12, "x" * 100,
])
def test_anything_else_is_refused(text):
    with pytest.raises(BadTime):
        schedule.parse_rfc3339(text)


def test_the_window_is_now_to_30_days_ahead():
    assert schedule.check_window(NOW + dt.timedelta(days=30), NOW) == NOW + dt.timedelta(days=30)
    assert schedule.check_window(NOW - dt.timedelta(seconds=30), NOW) == NOW  # this very minute: now
    with pytest.raises(BadTime, match="passed"):
        schedule.check_window(NOW - dt.timedelta(minutes=5), NOW)
    with pytest.raises(BadTime, match="30 days"):
        schedule.check_window(NOW + dt.timedelta(days=30, seconds=1), NOW)


def test_a_wall_clock_time_the_clocks_skip_or_repeat_is_refused():
    assert schedule.local_to_utc(dt.datetime(2026, 3, 29, 3, 30), "Europe/Paris") == dt.datetime(2026, 3, 29, 1, 30)
    with pytest.raises(BadTime, match="does not exist"):
        schedule.local_to_utc(dt.datetime(2026, 3, 29, 2, 30), "Europe/Paris")
    with pytest.raises(BadTime, match="twice"):
        schedule.local_to_utc(dt.datetime(2026, 10, 25, 2, 30), "Europe/Paris")


def test_a_text_time_is_today_or_tomorrow_on_the_accounts_clock():
    # 12:00 UTC is 13:00 in Paris: 18:30 is today, 09:00 tomorrow (after the clocks went forward).
    assert schedule.next_at(18, 30, "Europe/Paris", NOW) == dt.datetime(2026, 3, 28, 17, 30)
    assert schedule.next_at(9, 0, "Europe/Paris", NOW) == dt.datetime(2026, 3, 29, 7, 0)
    with pytest.raises(BadTime, match="does not exist"):
        schedule.next_at(2, 30, "Europe/Paris", NOW)  # tomorrow's 02:30 is skipped
    assert schedule.next_at(8, 0, "Asia/Tokyo", NOW) == dt.datetime(2026, 3, 28, 23, 0)


def test_the_portal_date_and_time():
    assert schedule.parse_local("2026-03-30", "09:15", "America/New_York", NOW) == dt.datetime(2026, 3, 30, 13, 15)
    for date, time in [("2026-3-30", "09:15"), ("2026-03-30", "9:15"), ("2026-02-29", "09:15"), ("", ""),
                       ("2026-03-30", "25:00")]:
        with pytest.raises(BadTime):
            schedule.parse_local(date, time, "America/New_York", NOW)


def test_time_zones_are_names_from_the_list_never_paths():
    assert schedule.valid_time_zone("Europe/Paris") and schedule.valid_time_zone("UTC")
    for name in ("../../etc/passwd", "/etc/localtime", "Europe/Nowhere", "", "europe/paris", None):
        assert not schedule.valid_time_zone(name)
    assert schedule.zone("../../etc/passwd").key == "UTC"
