"""The operator's per-day summary: calls, outcomes, billed minutes, revenue, failures by reason.

Days are UTC. A call counts on the day it was asked for; minutes and revenue
on the day each leg started. Revenue is what subscribers were charged (the
legs' costs), kept per currency since accounts may differ. What the carrier
charged the operator is not stored anywhere, so no provider cost is shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from app import states
from app.db import Database
from app.tables import accounts, call_legs
from app.tables import callback_requests as requests_t

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
    failures: dict[str, int] = field(default_factory=dict)  # reason -> requests

    @property
    def in_progress(self) -> int:
        return self.calls - self.completed - self.failed

    @property
    def minutes(self) -> Decimal:
        return (Decimal(self.billed_seconds) / 60).quantize(Decimal("0.1"))


@dataclass
class Summary:
    days: list[Day]
    reasons: list[str]  # every failure reason seen in the range, most frequent first
    totals: Day
    currencies: list[str]


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
    rows = await db.fetch_all(
        sa.select(leg_day.label("day"), accounts.c.currency, sa.func.sum(call_legs.c.billed_seconds).label("seconds"),
                  sa.func.sum(call_legs.c.cost).label("cost"))
        .select_from(call_legs.join(requests_t, requests_t.c.id == call_legs.c.request_id)
                     .outerjoin(accounts, accounts.c.id == requests_t.c.account_id))
        .where(_between(call_legs.c.started_at, since, until))
        .group_by(leg_day, accounts.c.currency)
    )
    for row in rows:
        day = days[_as_date(row["day"])]
        day.billed_seconds += int(row["seconds"] or 0)
        if row["cost"] and row["currency"]:
            day.revenue[row["currency"]] = day.revenue.get(row["currency"], 0) + int(row["cost"])

    ordered = list(days.values())
    totals = Day(until)
    for day in ordered:
        totals.calls += day.calls
        totals.completed += day.completed
        totals.failed += day.failed
        totals.billed_seconds += day.billed_seconds
        for currency, minor in day.revenue.items():
            totals.revenue[currency] = totals.revenue.get(currency, 0) + minor
        for reason, count in day.failures.items():
            totals.failures[reason] = totals.failures.get(reason, 0) + count
    reasons = sorted(totals.failures, key=lambda reason: (-totals.failures[reason], reason))
    return Summary(days=ordered, reasons=reasons, totals=totals, currencies=sorted(totals.revenue))
