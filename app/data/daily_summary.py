"""The operator's per-day summary: calls, outcomes, billed minutes, revenue, provider cost, margin, failures.

Days are UTC. A call counts on the day it was asked for; minutes, revenue and
cost on the day each leg started. Revenue is what subscribers were charged
(the legs' costs), kept per currency since accounts may differ. Provider cost
is what the carrier charged the operator, read from its call records after
each leg ended (app/billing/provider_prices.py), per the carrier's currency. A leg
whose cost is not known is counted, never guessed: still being asked for, never
priced by the carrier, or ended before costs were collected. The margin
(revenue - cost) covers only the legs whose cost is known, and only where the
cost is in the subscriber's currency: there is no exchange rate to convert by.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from app.core import money, states
from app.data.db import Database
from app.data.tables import accounts, call_legs
from app.data.tables import callback_requests as requests_t

DEFAULT_DAYS = 14
MAX_DAYS = 366


@dataclass
class Day:
    day: dt.date
    calls: int = 0
    completed: int = 0
    failed: int = 0
    billed_seconds: int = 0
    revenue: dict[str, int] = field(default_factory=dict)  # currency -> minor units
    cost: dict[str, int] = field(default_factory=dict)  # the carrier's currency -> micro-units
    margin: dict[str, int] = field(default_factory=dict)  # currency -> micro-units, over legs with a known cost
    # Ended legs whose cost is unknown: still being asked for / never priced / ended before costs were collected.
    cost_pending: int = 0
    cost_unpriced: int = 0
    cost_untracked: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # reason -> requests

    @property
    def in_progress(self) -> int:
        return self.calls - self.completed - self.failed

    @property
    def minutes(self) -> Decimal:
        return (Decimal(self.billed_seconds) / 60).quantize(Decimal("0.1"))

    @property
    def cost_unknown(self) -> int:
        return self.cost_pending + self.cost_unpriced + self.cost_untracked

    @property
    def cost_text(self) -> str:
        return _amounts_text(self.cost) or ("—" if self.cost_unknown else "0")

    @property
    def margin_text(self) -> str:
        # Nothing to show yet, or costs known only in another currency than the revenue's.
        return _amounts_text(self.margin) or ("—" if self.cost_unknown or self.cost else "0")

    @property
    def unknown_text(self) -> str:
        """How many legs' cost is unknown, and why: '' when every cost is known."""
        parts = [(self.cost_pending, "pending"), (self.cost_unpriced, "never priced"),
                 (self.cost_untracked, "not tracked")]
        return ", ".join(f"{count} {why}" for count, why in parts if count)

    def add_costs(self, other: "Day") -> None:
        for mine, theirs in ((self.cost, other.cost), (self.margin, other.margin)):
            for currency, micros in theirs.items():
                mine[currency] = mine.get(currency, 0) + micros
        self.cost_pending += other.cost_pending
        self.cost_unpriced += other.cost_unpriced
        self.cost_untracked += other.cost_untracked


def micros_text(micros: int, currency: str) -> str:
    """An exact amount of micro-units: the currency's decimals, more only where the amount has them."""
    value = Decimal(micros).scaleb(-6)
    places = max(money.exponent(currency), -value.normalize().as_tuple().exponent)
    return f"{value:.{places}f} {currency}"


def _amounts_text(amounts: dict[str, int]) -> str:
    return ", ".join(micros_text(micros, currency) for currency, micros in sorted(amounts.items()))


@dataclass
class Summary:
    days: list[Day]
    reasons: list[str]  # every failure reason seen in the range, most frequent first
    totals: Day
    currencies: list[str]


def _add_provider_cost(day: Day, row) -> None:
    """One (day, subscriber currency, carrier currency) group of legs: its known cost, margin and unknowns."""
    day.cost_pending += int(row["pending"] or 0)
    day.cost_unpriced += int(row["unpriced"] or 0)
    day.cost_untracked += int(row["untracked"] or 0)
    unit, currency = row["unit"], row["currency"]
    if row["provider_cost"] is None or unit is None:
        return
    cost = int(row["provider_cost"])
    day.cost[unit] = day.cost.get(unit, 0) + cost
    if currency is None:  # no account: nobody was charged, the carrier still was
        day.margin[unit] = day.margin.get(unit, 0) - cost
    elif currency == unit:
        revenue = money.minor_to_micros(int(row["priced_revenue"] or 0), currency)
        day.margin[unit] = day.margin.get(unit, 0) + revenue - cost


def default_range(today: dt.date) -> tuple[dt.date, dt.date]:
    return today - dt.timedelta(days=DEFAULT_DAYS - 1), today


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _between(column, since: dt.date, until: dt.date):
    start = dt.datetime.combine(since, dt.time())
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time())
    return sa.and_(column >= start, column < end)


async def summarize(db: Database, *, since: dt.date, until: dt.date) -> Summary:
    """Every day from `since` to `until` (inclusive), days without calls included."""
    days = {since + dt.timedelta(days=n): Day(since + dt.timedelta(days=n)) for n in range((until - since).days + 1)}

    request_day = sa.func.date(requests_t.c.created_at)
    rows = await db.fetch_all(
        sa.select(request_day.label("day"), sa.func.count().label("calls"),
                  sa.func.count().filter(requests_t.c.state == states.COMPLETED).label("completed"),
                  sa.func.count().filter(requests_t.c.state == states.FAILED).label("failed"))
        .where(_between(requests_t.c.created_at, since, until))
        .group_by(request_day)
    )
    for row in rows:
        day = days[_as_date(row["day"])]
        day.calls, day.completed, day.failed = int(row["calls"]), int(row["completed"] or 0), int(row["failed"] or 0)

    rows = await db.fetch_all(
        sa.select(request_day.label("day"), requests_t.c.reason, sa.func.count().label("count"))
        .where(_between(requests_t.c.created_at, since, until), requests_t.c.state == states.FAILED)
        .group_by(request_day, requests_t.c.reason)
    )
    for row in rows:
        days[_as_date(row["day"])].failures[row["reason"] or "unknown"] = int(row["count"])

    leg_day = sa.func.date(call_legs.c.started_at)
    priced = call_legs.c.provider_price.is_not(None)
    unknown = sa.and_(call_legs.c.ended_at.is_not(None), call_legs.c.provider_price.is_(None))
    still_asking = call_legs.c.price_check_at.is_not(None)
    rows = await db.fetch_all(
        sa.select(leg_day.label("day"), accounts.c.currency, call_legs.c.provider_price_unit.label("unit"),
                  sa.func.sum(call_legs.c.billed_seconds).label("seconds"),
                  sa.func.sum(call_legs.c.cost).label("cost"),
                  sa.func.sum(call_legs.c.provider_price).label("provider_cost"),
                  sa.func.sum(call_legs.c.cost).filter(priced).label("priced_revenue"),
                  sa.func.count().filter(unknown, still_asking).label("pending"),
                  sa.func.count().filter(unknown, ~still_asking, call_legs.c.price_checks > 0).label("unpriced"),
                  sa.func.count().filter(unknown, ~still_asking, call_legs.c.price_checks == 0).label("untracked"))
        .select_from(call_legs.join(requests_t, requests_t.c.id == call_legs.c.request_id)
                     .outerjoin(accounts, accounts.c.id == requests_t.c.account_id))
        .where(_between(call_legs.c.started_at, since, until))
        .group_by(leg_day, accounts.c.currency, call_legs.c.provider_price_unit)
    )
    for row in rows:
        day = days[_as_date(row["day"])]
        day.billed_seconds += int(row["seconds"] or 0)
        if row["cost"] and row["currency"]:
            day.revenue[row["currency"]] = day.revenue.get(row["currency"], 0) + int(row["cost"])
        _add_provider_cost(day, row)

    ordered = list(days.values())
    totals = Day(until)
    for day in ordered:
        totals.calls += day.calls
        totals.completed += day.completed
        totals.failed += day.failed
        totals.billed_seconds += day.billed_seconds
        for currency, minor in day.revenue.items():
            totals.revenue[currency] = totals.revenue.get(currency, 0) + minor
        totals.add_costs(day)
        for reason, count in day.failures.items():
            totals.failures[reason] = totals.failures.get(reason, 0) + count
    reasons = sorted(totals.failures, key=lambda reason: (-totals.failures[reason], reason))
    return Summary(days=ordered, reasons=reasons, totals=totals, currencies=sorted(totals.revenue))
