"""The voucher pages in Chromium: the operator finds a code and disables a batch; a subscriber adds a voucher.

Set SCREENSHOT_DIR to save the pages README shows (docs/screenshots/: admin-vouchers.png,
admin-account-low-balance.png, portal-balance.png):
`SCREENSHOT_DIR=docs/screenshots pytest tests/browser/test_voucher_pages_browser.py`.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.core import voucher_codes
from app.core.settings import Settings
from app.data import cards, vouchers
from app.data.db import make_database
from tests.browser.conftest import launch, log_in, sign_in, watch_for_problems

CODES: list[str] = []


def make_batches(database_url: str) -> None:
    async def work():
        db = make_database(Settings(database_url=database_url, secret_key="test"))
        await db.connect()
        try:
            _, codes = await vouchers.create_batch(db, secret_key="test", count=50, value=1000, currency="USD",
                                                   prefix="42")
            await vouchers.create_batch(db, secret_key="test", count=200, value=500, currency="USD")
            await cards.create_batch(db, secret_key="test", count=20, balance=500, currency="USD", valid_days=30)
            CODES[:] = codes
        finally:
            await db.disconnect()

    with ThreadPoolExecutor(1) as thread:  # away from any browser's event loop
        thread.submit(asyncio.run, work()).result()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from launch(tmp_path_factory, "vouchers", operator=True, prepare=make_batches)


def shoot(page, name: str) -> None:
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / name), full_page=True)


def test_a_subscriber_adds_a_voucher_and_the_operator_finds_it(page, site, browser):
    from playwright.sync_api import expect

    problems = watch_for_problems(page, site)
    log_in(page, site, "alice", "alice-demo-password")
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Balance").click()
    page.get_by_label("Voucher code").fill(voucher_codes.grouped(CODES[0]))
    page.get_by_role("button", name="Add to my balance").click()
    expect(page.get_by_role("status")).to_contain_text("Voucher accepted: 10.00 USD added")
    page.get_by_label("Text me when my balance falls below (USD)").fill("5.00")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("low-balance notice was saved")
    shoot(page, "portal-balance.png")

    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin_problems = watch_for_problems(admin, site)
    sign_in(admin, site, "/admin/vouchers")
    expect(admin.locator("#batches-table tbody tr")).to_have_count(2)
    admin.get_by_label("Voucher code").fill(CODES[0])
    admin.get_by_role("button", name="Find").click()
    expect(admin.locator("#found")).to_contain_text("redeemed")
    expect(admin.locator("#found")).to_contain_text("alice")
    shoot(admin, "admin-vouchers.png")
    admin.get_by_role("button", name="Disable batch 2").click()
    expect(admin.get_by_role("status")).to_contain_text("The batch was disabled")
    expect(admin.locator('tr[data-batch="2"]')).to_contain_text("disabled")
    admin.goto(site + "/admin/accounts")
    admin.get_by_role("link", name="alice").first.click()
    expect(admin.get_by_label("Text the subscriber below (USD)")).to_have_value("5.00")
    admin.locator("#low-balance-form").scroll_into_view_if_needed()
    shoot(admin, "admin-account-low-balance.png")
    assert problems == [] and admin_problems == []
