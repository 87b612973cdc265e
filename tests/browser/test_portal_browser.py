"""The subscriber portal in a real browser: log in, Connect Two, watch both legs go live to the end.

The platform runs as a subprocess on the sandbox carrier (tests/browser/conftest.py),
seeded with the demo data. The phones are scripted through the sandbox's
control API: alice's home phone presses 1 at the "press 1 to connect" prompt,
the number she calls talks for a few seconds.

Set SCREENSHOT_DIR to save the dashboard after the call there as dashboard.png
(the README's is made with SCREENSHOT_DIR=docs).
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from app.web.demo import seed as demo
from tests.browser.conftest import log_in, watch_for_problems

ALICE_HOME = "+14155550100"
NY = "+12125550123"
ALICE = next(account for account in demo.ACCOUNTS if account[0] == "alice")
BOB = next(account for account in demo.ACCOUNTS if account[0] == "bob")
ALICE_BALANCE = Decimal(ALICE[5]) / 100


@pytest.fixture(scope="module")
def sandbox(platform_url):
    """The carrier's control API: script the phones, run its clock faster than real time."""
    control = platform_url + "/sandbox/_sandbox"
    with httpx.Client(timeout=10) as client:
        for number, script in ((ALICE_HOME, {"keys": ["1", None], "answer_after": 2.0}),
                               (NY, {"answer_after": 2.0, "talk_seconds": 30.0})):
            assert client.put(f"{control}/phones/{quote(number)}", json=script).status_code == 200
        assert client.put(f"{control}/clock", json={"speed": 20}).status_code == 200
    return control


def test_connect_two_live_to_completed_with_its_cdr_and_the_new_balance(page, platform_url, sandbox):
    from playwright.sync_api import expect

    problems = watch_for_problems(page, platform_url)
    log_in(page, platform_url, "alice", ALICE[1])
    expect(page.get_by_role("heading", name="Connect two phones")).to_be_visible()
    expect(page.locator("#balance")).to_have_text(f"{ALICE_BALANCE:.2f} USD")
    expect(page.get_by_label("Your phone")).to_have_value(ALICE_HOME)
    page.get_by_label("Number to call").fill("(212) 555-0123")
    page.get_by_role("button", name="Call", exact=True).click()

    card = page.locator("#call-status")
    expect(card.locator("#call-heading")).to_contain_text("Current call")
    leg_a, leg_b = card.locator('[data-field="leg_a"]'), card.locator('[data-field="leg_b"]')
    # Pushed by Server-Sent Events as it happens: the callback rings and is answered, then both talk.
    expect(leg_a).to_have_text(re.compile("ringing|answered|connected"), timeout=15_000)
    expect(leg_b).to_have_text("connected", timeout=20_000)
    expect(leg_a).to_have_text("connected")
    expect(card.locator('[data-field="state"]')).to_have_text("connected")
    expect(card.locator('[data-field="state"]')).to_have_text("completed", timeout=30_000)
    expect(card).to_have_attribute("data-settled", "true", timeout=15_000)
    expect(leg_a).to_have_text("ended")
    expect(leg_b).to_have_text("ended")
    expect(card.locator('[data-field="summary"]')).to_have_text("Completed.")
    expect(card.get_by_role("button", name="Cancel this call")).to_be_hidden()

    rows = card.locator('[data-field="legs"] tr')
    expect(rows).to_have_count(2)
    cells = [[cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()] for i in range(2)]
    assert [row[:3] for row in cells] == [["A · your phone", ALICE_HOME, "completed"],
                                          ["B · number to call", NY, "completed"]]
    costs = [Decimal(re.fullmatch(r"(\d+\.\d\d) USD", row[5]).group(1)) for row in cells]
    assert all(cost > 0 for cost in costs)
    expect(card.locator('[data-field="cost"]')).to_have_text(f"{sum(costs):.2f} USD")
    expect(page.locator("#balance")).to_have_text(f"{ALICE_BALANCE - sum(costs):.2f} USD")

    # The same call in the history, with its CDR, after a reload (no script needed there).
    page.get_by_role("link", name="History").click()
    history = page.locator("table").first
    expect(history).to_contain_text(f"{sum(costs):.2f} USD")
    expect(history).to_contain_text("billed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#balance")).to_have_text(f"{ALICE_BALANCE - sum(costs):.2f} USD")
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / "dashboard.png"), full_page=True)
    assert problems == []


def test_a_form_with_a_forged_csrf_token_is_refused(page, platform_url, sandbox):
    from playwright.sync_api import expect

    log_in(page, platform_url, "bob", BOB[1])
    expect(page.get_by_role("heading", name="Connect two phones")).to_be_visible()
    page.locator('#connect-form input[name="csrf"]').evaluate("input => { input.value = 'forged'; }")
    page.get_by_label("Your phone").fill("+14155550111")
    page.get_by_label("Number to call").fill(NY)
    page.get_by_role("button", name="Call", exact=True).click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    page.goto(platform_url + "/history")
    expect(page.locator("table")).to_contain_text("No calls yet.")


def test_without_event_source_on_a_phone_and_another_accounts_call_is_not_found(browser, platform_url, sandbox):
    """Alice on a phone-sized browser without EventSource (the page polls instead); Bob tries her call."""
    from playwright.sync_api import expect

    alice = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    alice.add_init_script("delete window.EventSource;")
    bob = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        alice_page, bob_page = alice.new_page(), bob.new_page()
        log_in(alice_page, platform_url, "alice", ALICE[1])
        alice_page.get_by_label("Number to call").fill(NY)
        alice_page.get_by_role("button", name="Call", exact=True).click()
        path = alice_page.locator("#call-status").get_attribute("data-events").removesuffix("/events")
        expect(alice_page.locator("#call-status [data-field=legs] tr").first).to_be_visible()
        assert alice_page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways

        log_in(bob_page, platform_url, "bob", BOB[1])
        expect(bob_page.get_by_role("heading", name="Connect two phones")).to_be_visible()
        response = bob_page.goto(platform_url + path)
        assert response.status == 404
        expect(bob_page.get_by_role("heading", name="Not found")).to_be_visible()
        for suffix in ("/status", "/events"):
            assert bob_page.request.get(platform_url + path + suffix).status == 404
        assert alice_page.request.get(platform_url + path + "/status").status == 200
        card = alice_page.locator("#call-status")
        expect(card.locator('[data-field="state"]')).to_have_text("completed", timeout=30_000)
        expect(card).to_have_attribute("data-settled", "true", timeout=15_000)
    finally:
        alice.close()
        bob.close()
