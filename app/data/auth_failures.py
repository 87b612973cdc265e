"""Queries for failed authorizations (wrong PINs and passwords): the rows app/fraud/lockouts.py counts.

Every count is over the rows since a given time; WINDOW, the sliding hour the
lockouts count over, is kept here because operators' views count over it too.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.data.db import Database, Prepared, utcnow
from app.data.tables import auth_failures

WINDOW = dt.timedelta(hours=1)


_INSERT = Prepared(auth_failures.insert().values(
    account_id=sa.bindparam("account_id", type_=sa.Integer), requester=sa.bindparam("requester"),
    channel=sa.bindparam("channel"), at=sa.bindparam("at", type_=sa.DateTime)).returning(auth_failures.c.id))
_SINCE = sa.bindparam("since", type_=sa.DateTime)


def of_source() -> tuple:
    """A source's failures since `since`, but for the row `excluding` (this attempt's own)."""
    return (auth_failures.c.requester == sa.bindparam("requester"), auth_failures.c.at > _SINCE,
            auth_failures.c.id != sa.bindparam("excluding", type_=sa.Integer))


def of_account(account_id) -> tuple:
    """An account's failures in `channel` since `since`; `account_id` a value's bind or a column."""
    return (auth_failures.c.account_id == account_id, auth_failures.c.channel == sa.bindparam("channel"),
            auth_failures.c.at > _SINCE)


_SOURCE_FAILURES = Prepared(
    sa.select(sa.func.count().label("failures"), sa.func.max(auth_failures.c.at).label("latest")).where(*of_source()))
_ACCOUNT_FAILURES = Prepared(
    sa.select(sa.func.count().label("failures")).where(*of_account(sa.bindparam("account_id", type_=sa.Integer))))
_DELETE_ONE = Prepared(auth_failures.delete().where(auth_failures.c.id == sa.bindparam("id", type_=sa.Integer)))


async def insert(db: Database, *, account_id: int | None, requester: str, channel: str, at: dt.datetime) -> int:
    """One failure row; its id."""
    return await db.fetch_val(_INSERT, {"account_id": account_id, "requester": requester, "channel": channel,
                                        "at": at})


async def count(db: Database, *, since: dt.datetime, account_id: int | None = None, channel: str | None = None,
                requester: str | None = None) -> int:
    """Failures after `since`, of the account (in `channel` when given) and/or of the requester."""
    if account_id is not None and channel is not None and requester is None:
        return await db.fetch_val(_ACCOUNT_FAILURES, {"account_id": account_id, "channel": channel, "since": since})
    query = sa.select(sa.func.count()).where(auth_failures.c.at > since)
    if account_id is not None:
        query = query.where(auth_failures.c.account_id == account_id)
    if channel is not None:
        query = query.where(auth_failures.c.channel == channel)
    if requester is not None:
        query = query.where(auth_failures.c.requester == requester)
    return await db.fetch_val(query)


async def source_failures(db: Database, *, requester: str, since: dt.datetime,
                          excluding: list[int]) -> tuple[int, dt.datetime | None]:
    """(how many, the latest) failures of `requester` after `since`, but for the rows `excluding`."""
    if len(excluding) == 1:
        row = await db.fetch_one(_SOURCE_FAILURES, {"requester": requester, "since": since,
                                                    "excluding": excluding[0]})
        return row["failures"], row["latest"]
    row = await db.fetch_one(
        sa.select(sa.func.count(), sa.func.max(auth_failures.c.at))
        .where(auth_failures.c.requester == requester, auth_failures.c.at > since,
               auth_failures.c.id.not_in(excluding))
    )
    return row[0], row[1]


async def delete_ids(db: Database, *, ids) -> None:
    ids = list(ids)
    if len(ids) == 1:
        await db.execute(_DELETE_ONE, {"id": ids[0]})
    else:
        await db.execute(auth_failures.delete().where(auth_failures.c.id.in_(ids)))


async def delete(db: Database, *, account_id: int | None = None, requester: str | None = None) -> int:
    """Delete the account's and/or the requester's failures (all of them when neither is given); how many."""
    query = auth_failures.delete()
    if account_id is not None:
        query = query.where(auth_failures.c.account_id == account_id)
    if requester is not None:
        query = query.where(auth_failures.c.requester == requester)
    return len(await db.fetch_all(query.returning(auth_failures.c.id)))


async def recent(db: Database, *, since: dt.datetime | None = None):
    """Failures after `since` (the last WINDOW by default), by requester and account, most first."""
    since = utcnow() - WINDOW if since is None else since
    return await db.fetch_all(
        sa.select(auth_failures.c.requester, auth_failures.c.account_id, sa.func.count().label("failures"))
        .where(auth_failures.c.at > since)
        .group_by(auth_failures.c.requester, auth_failures.c.account_id)
        .order_by(sa.func.count().desc())
    )
