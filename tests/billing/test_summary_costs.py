"""The daily summary's provider cost and margin: per currency, over known costs only, unknowns counted.

Rows are written as the platform writes them (legs with their CDR cost, the
carrier's price once collected); the summary is read both as data and as the
operator's page.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
import sqlalchemy as sa

from app.data import daily_summary
from app.data.db import utcnow
from app.data.tables import accounts, call_legs, callback_requests
from tests.utils import scenario as sc
from tests.utils.harness import PlatformUnderTest
from tests.utils.live import seed

OPERATOR, PASSWORD = "root", "operator-password"


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        assert platform.cli("operator", "create", OPERATOR, "--password", PASSWORD) == 0
        with engine.begin() as c:
            c.execute(accounts.update().where(accounts.c.login == "bob").values(currency="EUR"))
        yield platform


def add_call(p: PlatformUnderTest, login: str | None, at: dt.datetime, *legs: dict) -> int:
    """A finished callback and its legs: each dict gives cost (minor units) and what is known of the carrier's price."""
    with p.engine.begin() as c:
        owner = c.execute(sa.select(accounts.c.id).where(accounts.c.login == login)).scalar() if login else None
        request_id = c.execute(callback_requests.insert().values(
            trigger_kind="voice", trigger_id="CA" + uuid.uuid4().hex, account_id=owner, state="completed",
            due_at=at, expires_at=at, created_at=at, updated_at=at)).inserted_primary_key[0]
        for n, leg in enumerate(legs):
            c.execute(call_legs.insert().values(
                request_id=request_id, leg="ab"[n], provider_sid="CA" + uuid.uuid4().hex, direction="outbound-api",
                to_number=sc.ALICE_HOME, status="completed", started_at=at, answered_at=at,
                ended_at=at + dt.timedelta(seconds=60), duration_seconds=60, billed_seconds=60, **leg))
    return request_id


def priced(cost: int, micros: int, unit: str = "USD") -> dict:
    return dict(cost=cost, provider_price=micros, provider_price_unit=unit, price_checks=1)


@pytest.fixture
def history(p):
    today = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
    yesterday = today - dt.timedelta(days=1)
    # Today: alice (USD) priced in full; bob (EUR) priced in USD by the carrier; an account-less PIN failure;
    # one leg still being asked for, one the carrier never priced.
    add_call(p, "alice", today, priced(10, 28_000), priced(20, 130_000))
    add_call(p, "bob", today, priced(30, 14_000))
    add_call(p, None, today, priced(0, 7_000))
    add_call(p, "alice", today, dict(cost=5, price_check_at=today + dt.timedelta(minutes=1)),
             dict(cost=5, price_checks=5))
    # Yesterday: a leg that ended before costs were collected, and a call that never connected (priced at 0).
    add_call(p, "alice", yesterday, dict(cost=4), priced(0, 0))
    return today.date()


def test_cost_is_per_carrier_currency_and_margin_only_over_known_costs(p, history):
    summary = p.run(daily_summary.summarize, p.platform.db, since=history - dt.timedelta(days=1), until=history)
    yesterday, today = summary.days
    assert today.revenue == {"USD": 40, "EUR": 30}
    assert today.cost == {"USD": 28_000 + 130_000 + 14_000 + 7_000}
    # alice: 0.30 USD charged for 0.158 of carrier cost; the account-less call: 0.007 paid to the carrier for
    # nothing. bob's EUR revenue has no USD cost to set against it: left out, not converted at a made-up rate.
    assert today.margin == {"USD": 300_000 - 158_000 - 7_000}
    assert (today.cost_pending, today.cost_unpriced, today.cost_untracked) == (1, 1, 0)
    assert (today.cost_text, today.margin_text) == ("0.179 USD", "0.135 USD")
    assert today.unknown_text == "1 pending, 1 never priced"
    assert (yesterday.cost, yesterday.margin, yesterday.cost_untracked) == ({"USD": 0}, {"USD": 0}, 1)
    assert (yesterday.cost_text, yesterday.unknown_text) == ("0.00 USD", "1 not tracked")
    totals = summary.totals
    assert (totals.cost, totals.margin, totals.cost_unknown) == ({"USD": 179_000}, {"USD": 135_000}, 3)
    assert summary.currencies == ["EUR", "USD"]


def test_a_day_without_calls_costs_nothing_and_one_with_unknown_costs_shows_no_figure(p, history):
    empty = p.run(daily_summary.summarize, p.platform.db, since=history + dt.timedelta(days=1),
                  until=history + dt.timedelta(days=1)).days[0]
    assert (empty.cost_text, empty.margin_text, empty.unknown_text) == ("0", "0", "")
    add_call(p, "alice", utcnow().replace(year=2020, month=1, day=1), dict(cost=3))
    old = p.run(daily_summary.summarize, p.platform.db, since=dt.date(2020, 1, 1), until=dt.date(2020, 1, 1)).days[0]
    assert (old.cost_text, old.margin_text, old.unknown_text) == ("—", "—", "1 not tracked")


def test_micro_amounts_are_shown_exactly_with_the_currencys_decimals_at_least():
    assert daily_summary.micros_text(14_000, "USD") == "0.014 USD"
    assert daily_summary.micros_text(1_230_000, "USD") == "1.23 USD"
    assert daily_summary.micros_text(10_000_000, "EUR") == "10.00 EUR"
    assert daily_summary.micros_text(-52_000, "USD") == "-0.052 USD"
    assert daily_summary.micros_text(1_500_000, "JPY") == "1.5 JPY"
    assert daily_summary.micros_text(1_000_001, "USD") == "1.000001 USD"


def test_the_summary_page_shows_cost_and_margin_columns(p, history):
    page = p.client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    p.client.post("/admin/login", data={"csrf": csrf, "login": OPERATOR, "password": PASSWORD})
    response = p.client.get("/admin")
    assert response.status_code == 200
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))
    assert "Provider cost Margin" in text  # the table's columns
    assert f"{history} 4 4 0 6.0 0.30 EUR, 0.40 USD 0.179 USD (1 pending, 1 never priced) 0.135 USD" in text
    assert "Cost unknown for 3 legs: 1 pending, 1 never priced, 1 not tracked" in text
