"""The admin pages in a real browser, against a live server whose carrier is the built-in sandbox.

An operator signs in, tops up an account, adds a service number, imports a
rates file; a subscriber rings an ANI number from a sandbox phone that waits
at the voice prompt, so the callback stays live; the operator sees it on the
live page, cancels it, and finds it failed `canceled` among the CDRs; the
summary's chart renders. Set SCREENSHOT_DIR to save the summary page there
as admin-summary.png (the README's is made with SCREENSHOT_DIR=docs).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from app.data.tables import call_legs, callback_requests
from tests.browser.conftest import OPERATOR, launch, sign_in, watch_for_problems

ALICE_MOBILE = "+14155550101"  # a registered ANI of the demo's alice
ALICE_HOME = "+14155550100"  # alice's default number: ANI callbacks ring it
ANI_NUMBER = "+18005550001"
DAYS = 14


def seed_history(database_url: str) -> None:
    """Two weeks of finished calls, so the summary has something to draw: the rows the platform would write."""
    engine = sa.create_engine(database_url)
    rng = random.Random(7)
    today = dt.datetime.now(dt.UTC).replace(tzinfo=None, hour=9, minute=0, second=0, microsecond=0)
    reasons = ["a_no_answer", "a_busy", "b_no_answer", "auth_failed", "insufficient_funds", "destination_blocked"]
    with engine.begin() as c:
        alice = c.execute(sa.text("SELECT id FROM accounts WHERE login = 'alice'")).scalar_one()
        for back in range(DAYS - 1, 0, -1):
            day = today - dt.timedelta(days=back)
            for n in range(rng.randint(3, 12) + (DAYS - back) // 2):
                at = day + dt.timedelta(minutes=17 * n)
                failed = rng.random() < 0.3
                request_id = c.execute(callback_requests.insert().values(
                    trigger_kind="voice", trigger_id=f"CAhistory{back:02d}{n:03d}", service_number=ANI_NUMBER,
                    mode="ani", caller_id=ALICE_MOBILE, account_id=alice, leg_a_number=ALICE_HOME,
                    leg_b_number="+442071234567", state="failed" if failed else "completed",
                    reason=rng.choice(reasons) if failed else None, due_at=at, expires_at=at, created_at=at,
                    updated_at=at)).inserted_primary_key[0]
                if failed:
                    continue
                talk = rng.randint(30, 600)
                # The carrier's own per-minute price (micro-units), known once it has priced the call:
                # yesterday's calls are still waiting for it.
                for leg, number, seconds, price, carrier_price in (("a", ALICE_HOME, talk + 40, 10_000, 8_500),
                                                                   ("b", "+442071234567", talk, 50_000, 31_000)):
                    billed = -(-seconds // 60) * 60
                    priced = back > 1
                    c.execute(call_legs.insert().values(
                        request_id=request_id, leg=leg, provider_sid=f"CAhistory{request_id:06d}{leg}",
                        direction="outbound-api", to_number=number, status="completed", started_at=at,
                        answered_at=at, ended_at=at + dt.timedelta(seconds=seconds), duration_seconds=seconds,
                        billed_seconds=billed, price_per_minute=price, cost=-(-billed * price // 60 // 10_000),
                        provider_price=billed // 60 * carrier_price if priced else None,
                        provider_price_unit="USD" if priced else None,
                        price_check_at=None if priced else today + dt.timedelta(hours=1)))
    engine.dispose()


@pytest.fixture(scope="module")
def admin_url(tmp_path_factory):
    """A migrated platform with the demo data, two weeks of calls and an operator, served by uvicorn."""
    # The sandbox clock at twice real time: the voice prompts wait long enough to be seen and canceled.
    yield from launch(tmp_path_factory, "admin-browser", operator=True, env={"SANDBOX_SPEED": "2"},
                      prepare=seed_history)


@pytest.fixture
def admin(page, admin_url):
    """A page signed in as the operator, failing the test on any script error or request elsewhere."""
    from playwright.sync_api import expect

    # A form refused with 422 (the bad rates file) is logged by the browser; anything else is a problem.
    problems = watch_for_problems(page, admin_url, allowed_console="status of 422")
    sign_in(page, admin_url, "/admin/accounts")
    expect(page.get_by_role("heading", name="Accounts", exact=True)).to_be_visible()
    yield page
    assert problems == []


def test_an_operator_tops_up_adds_a_number_and_imports_rates(admin, admin_url):
    from playwright.sync_api import expect

    page = admin
    page.get_by_role("link", name="alice").click()
    expect(page.locator("#balance")).to_have_text("20.00 USD")
    page.get_by_label("Amount (USD)").fill("5.00")
    page.get_by_label("Note").fill("paid at the counter")
    page.get_by_role("button", name="Change the balance").click()
    expect(page.get_by_role("status")).to_have_text("The balance was changed and the change recorded.")
    expect(page.locator("#balance")).to_have_text("25.00 USD")
    audit = page.locator("#audit tbody tr").first
    expect(audit).to_contain_text(f"operator:{OPERATOR}")
    expect(audit).to_contain_text("5.00")
    expect(audit).to_contain_text("paid at the counter")

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Numbers").click()
    adding = page.get_by_role("region", name="Add a number")
    adding.get_by_label("Number", exact=True).fill("+1 800 555 0009")
    adding.get_by_label("Mode", exact=True).select_option("ani")
    adding.get_by_role("button", name="Add number").click()
    expect(page.get_by_role("status")).to_have_text("The number was added.")
    expect(page.locator('#numbers-table tr[data-number="+18005550009"]')).to_contain_text("registered caller IDs only")

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Rates").click()
    page.get_by_label("Into tariff").fill("gold")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"prefix,price\n44,0.04\n4420,cheap\n"}])
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-errors")).to_contain_text("line 3:")
    page.get_by_label("Into tariff").fill("gold")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "gold.csv", "mimeType": "text/csv",
                "buffer": b"prefix,price_per_minute,increment\n44,0.04,30/6\n4420,0.035,1/1\n1,0.008\n"}])
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_have_text("3 rates were imported.")
    expect(page.locator("#rates-table tbody tr")).to_have_count(3)
    expect(page.locator("#rates-table tbody tr").nth(2)).to_contain_text("4420")
    expect(page.locator("#rates-table tbody tr").nth(2)).to_contain_text("0.035")


def test_an_operator_sees_a_live_callback_and_cancels_it(admin, admin_url):
    from playwright.sync_api import expect

    page = admin
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Live calls").click()
    expect(page.locator("#live-rows")).to_contain_text("No callbacks in progress.")
    # Alice rings the ANI number; the callback rings her home phone, which answers and waits at the prompt.
    with httpx.Client(base_url=admin_url, timeout=10) as sandbox:
        for number in (ALICE_MOBILE, ALICE_HOME):
            assert sandbox.put(f"/sandbox/_sandbox/phones/{number}",
                               json={"interactive": True, "answer_after": 1.0}).status_code == 200
        # The demo's ring endpoint points the carrier at this platform, then rings like /_sandbox/ring.
        assert sandbox.post("/demo/ring", json={"from": ALICE_MOBILE, "to": ANI_NUMBER}).status_code == 200
        row = page.locator("#live-rows tr[data-id]")
        expect(row).to_have_count(1, timeout=10_000)  # the page's script polls the live list
        request_id = row.get_attribute("data-id")
        expect(row).to_contain_text("alice")
        expect(row.locator("td").nth(5)).to_contain_text("answered", timeout=10_000)
        page.get_by_role("button", name=f"Cancel callback {request_id}").click()
        expect(page.get_by_role("status")).to_have_text(f"Callback #{request_id} was canceled.")
        expect(page.locator("#live-rows")).to_contain_text("No callbacks in progress.")
        # The callback leg was hung up at the carrier.
        deadline = time.monotonic() + 10
        while sandbox.get("/sandbox/_sandbox/calls", params={"number": ALICE_HOME, "live": 1}).json()["calls"]:
            assert time.monotonic() < deadline, "the callback leg is still up"
            time.sleep(0.2)

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="CDRs").click()
    page.get_by_label("Reason").select_option("canceled")
    page.get_by_role("button", name="Search").click()
    record = page.locator("#cdr-table tbody tr").first
    expect(record.locator("td").first).to_have_text(request_id)
    expect(record).to_contain_text("failed")
    expect(record).to_contain_text("canceled")
    expect(record).to_contain_text(ALICE_HOME)


def test_the_summary_chart_renders(admin, admin_url):
    from playwright.sync_api import expect

    page = admin
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Summary").click()
    chart = page.get_by_role("img", name="Calls per day")
    expect(chart).to_be_visible()
    expect(chart.locator("g.bar")).to_have_count(DAYS)
    assert int(chart.locator("g.bar").nth(DAYS - 2).get_attribute("data-total")) > 0
    box = chart.bounding_box()
    assert box["width"] > 600 and box["height"] > 200
    expect(page.locator("#summary-table")).to_contain_text("pending")  # yesterday's calls, not yet priced
    expect(page.locator("#summary-table")).to_contain_text("USD")
    expect(page.locator("#failure-reasons")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # nothing sticks out sideways
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / "admin-summary.png"), full_page=True)
