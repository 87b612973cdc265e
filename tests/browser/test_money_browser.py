"""The alarms page and the reseller's view in a real browser: both render without script errors or
outside requests and fit the window; a reseller signs in, follows one of its accounts and tops it up.
Set SCREENSHOT_DIR to save admin-alarms.png and reseller-accounts.png there (the README's are made
with SCREENSHOT_DIR=docs/screenshots)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.browser.conftest import _cli, _platform_env, launch, sign_in, watch_for_problems

RESELLER, RESELLER_PASSWORD = "acme", "acme-reseller-password"


def prepare(database_url: str) -> None:
    """A reseller selling to alice, one of her calls with its margins, and alarms as a check raises them."""
    env = _platform_env(database_url)
    _cli(env, "reseller", "create", RESELLER, "--password", RESELLER_PASSWORD, "--tariff", "acme-wholesale",
         "--credit-limit", "250.00")
    _cli(env, "reseller", "attach", RESELLER, "alice")
    engine = sa.create_engine(database_url)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with engine.begin() as c:
        alice = c.execute(sa.text("SELECT id FROM accounts WHERE login = 'alice'")).scalar_one()
        c.execute(sa.text("UPDATE resellers SET used = 4210, reserved = 36"))
        for n, (seconds, cost, bought) in enumerate([(125, 36, 15), (61, 24, 10), (0, 0, 0)]):
            ended = now - dt.timedelta(minutes=40 * n + 5)
            request_id = c.execute(sa.text(
                "INSERT INTO callback_requests (trigger_kind, trigger_id, account_id, state, due_at, expires_at, "
                "created_at, updated_at) VALUES ('api', :t, :a, 'completed', :e, :e, :e, :e) RETURNING id"),
                {"t": f"shot-{n}", "a": alice, "e": ended}).scalar_one()
            c.execute(sa.text(
                "INSERT INTO call_legs (request_id, leg, provider_sid, direction, to_number, status, started_at, "
                "ended_at, billed_seconds, cost, reseller_cost, reseller_margin) VALUES (:r, 'b', :s, 'outbound-dial', "
                "'+442071234567', :st, :e, :e, :b, :c, :rc, :rm)"),
                {"r": request_id, "s": f"CA{n:032d}", "st": "completed" if seconds else "no-answer", "e": ended,
                 "b": seconds, "c": cost, "rc": bought, "rm": cost - bought})
        for kind, subject, value, threshold in [("asr", "provider:twilio", "12% of 41", "30%"),
                                                ("failed_run", "provider:twilio", "10 failed", "10 failed"),
                                                ("acd", "prefix:44", "6 s", "10 s")]:
            c.execute(sa.text("INSERT INTO alarms (kind, subject, value, threshold, raised_at, updated_at) "
                              "VALUES (:k, :s, :v, :t, :at, :at)"),
                      {"k": kind, "s": subject, "v": value, "t": threshold, "at": now - dt.timedelta(minutes=7)})
    engine.dispose()


@pytest.fixture(scope="module")
def money_url(tmp_path_factory):
    yield from launch(tmp_path_factory, "money", operator=True, prepare=prepare)


def shoot(page, name: str) -> None:
    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / name), full_page=True)


def test_the_alarms_page_lists_what_is_raised(page, money_url):
    from playwright.sync_api import expect

    problems = watch_for_problems(page, money_url)
    sign_in(page, money_url, "/admin/alarms")
    expect(page.get_by_role("heading", name="Raised")).to_be_visible()
    expect(page.locator("#alarms-table tbody tr")).to_have_count(3)
    expect(page.locator("#alarms-table")).to_contain_text("12% of 41")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    shoot(page, "admin-alarms.png")
    assert problems == []


def test_a_reseller_follows_and_tops_up_its_account(page, money_url):
    from playwright.sync_api import expect

    problems = watch_for_problems(page, money_url)
    page.goto(money_url + "/reseller")
    expect(page.get_by_role("heading", name="Reseller sign-in")).to_be_visible()
    page.get_by_label("Reseller login").fill(RESELLER)
    page.get_by_label("Password").fill(RESELLER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#credit-table")).to_contain_text("250.00 USD")
    expect(page.locator("#accounts-table")).to_contain_text("alice")
    expect(page.locator("#accounts-table")).not_to_contain_text("bob")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    shoot(page, "reseller-accounts.png")
    page.get_by_role("link", name="alice").click()
    expect(page.locator("#cdrs-table tbody tr")).to_have_count(3)
    page.get_by_label("Top up (USD)").fill("5.00")
    page.get_by_role("button", name="Top up").click()
    expect(page.get_by_role("status")).to_have_text("The balance was topped up.")
    expect(page.locator("#balance")).to_have_text("25.00 USD")
    assert problems == []
