"""Queries of the admin pages that read across accounts: account search, rate pages, live
callbacks and CDR search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from app.data import account_history, auth_failures
from app.core import states
from app.data.db import Database
from app.data.tables import accounts, call_legs, rates
from app.data.tables import callback_requests as requests_t

MAX_ID = account_history.MAX_ID


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Accounts --------------------------------------------------------------------


async def search_accounts(db: Database, *, login_part: str = "", offset: int = 0, limit: int = 50):
    query = accounts.select()
    if login_part:
        query = query.where(accounts.c.login.like(_like(login_part), escape="\\"))
    return await db.fetch_all(query.order_by(accounts.c.login).offset(offset).limit(limit))


async def account_logins(db: Database, *, account_ids) -> dict[int, str]:
    ids = sorted({i for i in account_ids if i is not None})
    if not ids:
        return {}
    rows = await db.fetch_all(sa.select(accounts.c.id, accounts.c.login).where(accounts.c.id.in_(ids)))
    return {row["id"]: row["login"] for row in rows}


async def account_failures(db: Database, *, account_id: int) -> int:
    """Failed PINs and passwords of the account in the lockout window."""
    return sum(row["failures"] for row in await auth_failures.recent(db) if row["account_id"] == account_id)


# Rates -----------------------------------------------------------------------


async def rate_page(db: Database, *, tariff: str, prefix: str = "", offset: int = 0, limit: int = 50):
    """One page of a tariff's rates by prefix, those starting with `prefix` when given; one row more than
    `limit` tells that there is a next page."""
    query = rates.select().where(rates.c.tariff == tariff)
    if prefix:
        query = query.where(rates.c.prefix.like(prefix + "%"))
    return await db.fetch_all(query.order_by(rates.c.prefix).offset(offset).limit(limit + 1))


async def get_rate(db: Database, *, tariff: str, prefix: str):
    return await db.fetch_one(rates.select().where(rates.c.tariff == tariff, rates.c.prefix == prefix))


# Callback requests: live ones, and the CDR search ------------------------------------


def _with_account():
    return sa.select(requests_t, accounts.c.login, accounts.c.currency).select_from(
        requests_t.outerjoin(accounts, accounts.c.id == requests_t.c.account_id))


async def legs_by_request(db: Database, *, request_ids: list[int]) -> dict[int, list]:
    found: dict[int, list] = {request_id: [] for request_id in request_ids}
    if request_ids:
        query = call_legs.select().where(call_legs.c.request_id.in_(request_ids)).order_by(call_legs.c.id)
        for leg in await db.fetch_all(query):
            found[leg["request_id"]].append(leg)
    return found


async def live_callbacks(db: Database, *, limit: int = 200):
    """Requests not yet over, oldest first, with their legs: [(row, legs)]."""
    rows = await db.fetch_all(_with_account().where(requests_t.c.state.notin_(states.TERMINAL))
                              .order_by(requests_t.c.id).limit(limit))
    legs = await legs_by_request(db, request_ids=[row["id"] for row in rows])
    return [(row, legs[row["id"]]) for row in rows]


async def get_callback(db: Database, *, request_id: int):
    if not 0 < request_id <= MAX_ID:
        return None
    return await db.fetch_one(requests_t.select().where(requests_t.c.id == request_id))


@dataclass(frozen=True)
class CdrFilter:
    login: str = ""
    number: str = ""  # digits found in leg A's or leg B's number
    since: dt.date | None = None
    until: dt.date | None = None  # inclusive
    state: str = ""
    reason: str = ""

    def conditions(self) -> list:
        found = []
        if self.login:
            found.append(requests_t.c.account_id == sa.select(accounts.c.id).where(
                accounts.c.login == self.login).scalar_subquery())
        if self.number:
            pattern = _like(self.number)
            found.append(sa.or_(
                requests_t.c.leg_a_number.like(pattern, escape="\\"),
                requests_t.c.leg_b_number.like(pattern, escape="\\"),
                requests_t.c.caller_id.like(pattern, escape="\\"),
                sa.exists().where(call_legs.c.request_id == requests_t.c.id,
                                  call_legs.c.to_number.like(pattern, escape="\\")),
            ))
        if self.since:
            found.append(requests_t.c.created_at >= dt.datetime.combine(self.since, dt.time()))
        if self.until:
            found.append(requests_t.c.created_at < dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time()))
        if self.state:
            found.append(requests_t.c.state == self.state)
        if self.reason:
            found.append(requests_t.c.reason == self.reason)
        return found


async def search_callbacks(db: Database, *, where: CdrFilter, before_id: int | None = None,
                           after_id: int | None = None, limit: int = 50):
    """Newest first, by keyset pages like the portal's history: [(row, legs)]."""
    query = _with_account().where(*where.conditions())
    if before_id is not None:
        query = query.where(requests_t.c.id < before_id)
    if after_id is not None:
        rows = list(reversed(await db.fetch_all(query.where(requests_t.c.id > after_id)
                                                .order_by(requests_t.c.id).limit(limit))))
    else:
        rows = await db.fetch_all(query.order_by(requests_t.c.id.desc()).limit(limit))
    legs = await legs_by_request(db, request_ids=[row["id"] for row in rows])
    return [(row, legs[row["id"]]) for row in rows]


async def any_callback(db: Database, *, where: CdrFilter, below_id: int | None = None,
                       above_id: int | None = None) -> bool:
    query = sa.select(requests_t.c.id).where(*where.conditions())
    if below_id is not None:
        query = query.where(requests_t.c.id < below_id)
    if above_id is not None:
        query = query.where(requests_t.c.id > above_id)
    return await db.fetch_val(query.limit(1)) is not None
