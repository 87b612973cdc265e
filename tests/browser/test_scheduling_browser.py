"""Speed dials and scheduled calls in the portal, in a real browser (Chromium).

The platform runs as a subprocess with the demo data (tests/browser/conftest.py); the
subscriber keeps a phonebook entry with a speed-dial code, sets a time zone, schedules a
call for tomorrow on the dashboard's date and time fields, sees it listed and cancels it.
"""

from __future__ import annotations

import datetime as dt

from app.core import schedule
from app.data.db import utcnow
from app.web.demo import seed as demo
from tests.browser.conftest import log_in, watch_for_problems

ALICE = next(account for account in demo.ACCOUNTS if account[0] == "alice")
MARKUP = "<img src=x onerror=alert(1)>Mum"


def test_phonebook_entries_with_speed_dial_codes(page, platform_url):
    from playwright.sync_api import expect

    problems = watch_for_problems(page, platform_url, allowed_console="422")  # the refused forms' status
    log_in(page, platform_url, "alice", ALICE[1])
    page.get_by_role("link", name="Phonebook").click()
    expect(page.get_by_role("heading", name="Phonebook and speed dials")).to_be_visible()
    form = page.locator("#add-entry")
    form.get_by_label("Name").fill(MARKUP)
    form.get_by_label("Number").fill("(212) 555-0123")
    form.get_by_label("Code").fill("7")
    form.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_have_text("The entry was added.")
    row = page.locator("#phonebook-table tbody tr").filter(has_text="+12125550123")
    # The name is text on the page, never markup: no image element, no script run.
    expect(row.locator("th")).to_have_text(MARKUP)
    expect(row.locator("img")).to_have_count(0)
    expect(row).to_contain_text("*7#")

    # The same code twice is refused, with the reason next to the form.
    form.get_by_label("Name").fill("Dad")
    form.get_by_label("Number").fill("+14155550123")
    form.get_by_label("Code").fill("7")
    form.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("already another entry's")

    page.goto(platform_url + "/phonebook")
    page.get_by_role("link", name=f"Edit {MARKUP}").click()
    page.get_by_label("Speed-dial code").fill("12")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("The entry was saved.")
    expect(page.locator("#phonebook-table")).to_contain_text("*12#")
    page.get_by_role("button", name=f"Delete {MARKUP}").click()
    expect(page.get_by_role("status")).to_have_text("The entry was deleted.")
    expect(page.locator("#phonebook-table")).to_contain_text("No entries yet.")
    assert problems == []


def test_a_call_scheduled_in_the_accounts_time_zone_is_listed_and_canceled(page, platform_url):
    from playwright.sync_api import expect

    problems = watch_for_problems(page, platform_url, allowed_console="422")  # the refused forms' status
    log_in(page, platform_url, "alice", ALICE[1])
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_role("status")).to_have_text("Your settings were saved.")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#when-hint")).to_contain_text("Asia/Tokyo")
    tomorrow = schedule.utc_to_local(utcnow() + dt.timedelta(days=1), "Asia/Tokyo")
    page.get_by_label("Number to call").fill("(212) 555-0123")
    page.get_by_label("Date").fill(f"{tomorrow:%Y-%m-%d}")
    page.get_by_label("Time").fill("09:30")
    page.get_by_role("button", name="Call", exact=True).click()
    scheduled = page.locator("#scheduled-table tbody tr").filter(has_text="+12125550123")
    expect(scheduled).to_contain_text(f"{tomorrow:%Y-%m-%d} 09:30")

    # Too far ahead is refused, and said why (a past date the date field itself does not offer).
    page.get_by_label("Number to call").fill("(212) 555-0123")
    page.get_by_label("Date").fill(f"{tomorrow + dt.timedelta(days=40):%Y-%m-%d}")
    page.get_by_label("Time").fill("09:30")
    page.get_by_role("button", name="Call", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("at most 30 days ahead")

    page.goto(platform_url + "/")
    page.get_by_role("button", name=f"Cancel the call of {tomorrow:%Y-%m-%d} 09:30").click()
    expect(page.locator("#scheduled-table")).to_contain_text("None: give a date and a time")
    assert problems == []
