"""The demo softphone in a real browser: a whole PIN-mode callback, clicked through the page.

Set SCREENSHOT_DIR to save a full-page screenshot of the finished call there
as softphone.png (the README's is made with SCREENSHOT_DIR=docs).
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path


from app.web.demo import seed as demo
from tests.browser.conftest import watch_for_problems

PIN_NUMBER = "+18005550000"
STRANGER = "+14155550199"
LONDON = "+442071234567"
ALICE_BALANCE = next(Decimal(balance) / 100 for login, *_, balance in demo.ACCOUNTS if login == "alice")


def _keys(page, digits: str) -> None:
    for key in digits:
        page.locator(f'.keypad [data-key="{key}"]').click()


def test_a_pin_callback_clicked_through_the_page(page, platform_url):
    from playwright.sync_api import Error, expect

    problems = watch_for_problems(page, platform_url)

    page.goto(platform_url + "/demo")
    expect(page.get_by_role("heading", name="Demo softphone")).to_be_visible()
    page.get_by_label("Service number to ring").select_option(PIN_NUMBER)
    page.get_by_label("Ring from").select_option(STRANGER)
    keypad = page.get_by_role("group", name="Keypad")
    expect(keypad.get_by_role("button", name="4")).to_be_disabled()
    page.get_by_role("button", name="Call", exact=True).click()

    screen, status = page.locator("#screen-text"), page.locator("#status")
    # Rejected busy, then called back: the phone answers by itself and asks for the PIN.
    expect(keypad.get_by_role("button", name="4")).to_be_enabled()
    expect(screen).to_contain_text("enter your PIN")
    _keys(page, "482193#")
    expect(screen).to_contain_text("number you wish to call")
    expect(page.locator("#balance")).to_have_text(f"{ALICE_BALANCE:.2f} USD")
    _keys(page, "00442071234567#")

    expect(status).to_contain_text("connected", timeout=20_000)
    expect(page.locator("#screen-title")).to_have_text("Connected")
    # The callee talks for 20 (virtual) seconds, then comes the offer of another call.
    expect(screen).to_contain_text("another call", timeout=20_000)
    try:
        page.get_by_role("button", name="Hang up").click(timeout=3_000)
    except Error:
        pass  # the offer timed out first: the platform ended the call itself
    expect(status).to_contain_text("completed", timeout=20_000)
    # Polling stops (and Call comes back) once every leg's CDR is written.
    expect(page.get_by_role("button", name="Call", exact=True)).to_be_enabled(timeout=20_000)

    rows = page.locator("#legs tr")
    expect(rows).to_have_count(2)
    cells = [[cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()] for i in range(2)]
    assert [row[:3] for row in cells] == [["A · callback", STRANGER, "completed"], ["B · destination", LONDON, "completed"]]
    costs = [Decimal(re.fullmatch(r"(\d+\.\d\d) USD", row[5]).group(1)) for row in cells]
    assert all(cost > 0 for cost in costs)
    balance = Decimal(re.fullmatch(r"(\d+\.\d\d) USD", page.locator("#balance").inner_text()).group(1))
    assert balance == ALICE_BALANCE - sum(costs)
    states = page.locator("#timeline .badge").all_inner_texts()
    assert states == ["queued", "calling_a", "a_answered", "calling_b", "connected", "a_answered", "completed"]
    expect(page.locator("#transcript")).to_contain_text("pressed 482193#")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # nothing sticks out sideways

    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / "softphone.png"), full_page=True)
    assert problems == []
