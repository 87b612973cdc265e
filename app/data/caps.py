"""Counts the rate limits (app/fraud/limits.py) compare with their caps, and the dials they count."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import states
from app.data.db import Database, Prepared
from app.data.tables import auth_failures, callback_requests, destination_dials, trigger_counts

_COUNT = sa.bindparam("count_requester", type_=sa.String)
_NOW = sa.bindparam("now", type_=sa.DateTime)
_WINDOW_OPENED_BEFORE = sa.bindparam("window_opened_before", type_=sa.DateTime)
_FAILED_BY = sa.bindparam("failed_by", type_=sa.String)
_FAILED_SINCE = sa.bindparam("failed_since", type_=sa.DateTime)


def _count_trigger_statement(dialect) -> sa.Insert:
    """Count one trigger in its requester's window (a new window when the last one is over), returning
    the count and the requester's recent authentication failures: built once per backend, with bound
    parameters, so each trigger reuses its compiled form."""
    stale = trigger_counts.c.window_start <= _WINDOW_OPENED_BEFORE
    failures = (sa.select(sa.func.count()).where(auth_failures.c.requester == _FAILED_BY,
                                                 auth_failures.c.at > _FAILED_SINCE)
                .scalar_subquery().label("failures"))
    insert = dialect.insert(trigger_counts).values(requester=_COUNT, window_start=_NOW, count=1)
    return insert.on_conflict_do_update(
        index_elements=[trigger_counts.c.requester],
        # Every right-hand side reads the row as it was: the window is judged once.
        set_={"count": sa.case((stale, 1), else_=trigger_counts.c.count + 1),
              "window_start": sa.case((stale, _NOW), else_=trigger_counts.c.window_start)},
    ).returning(trigger_counts.c.count, failures)


_COUNT_TRIGGER = {"postgresql": Prepared(_count_trigger_statement(postgresql)),
                  "sqlite": Prepared(_count_trigger_statement(sqlite))}


async def count_trigger(db: Database, *, requester: str, now: dt.datetime, window: dt.timedelta,
                        failed_by: str, failed_since: dt.datetime) -> tuple[int, int]:
    """Count a trigger of `requester`: (its triggers in the current window, this one included; the
    authentication failures of `failed_by` after `failed_since`), in one statement.

    The upsert takes the requester's row lock, so parallel triggers of one requester each get a
    count of their own on both backends, without a transaction around it.
    """
    row = await db.fetch_one(_COUNT_TRIGGER["postgresql" if db.is_postgres else "sqlite"], {
        "count_requester": requester, "now": now, "window_opened_before": now - window,
        "failed_by": failed_by, "failed_since": failed_since})
    return row["count"], row["failures"]


_NUMBER = sa.bindparam("number", type_=sa.String)
_SINCE = sa.bindparam("since", type_=sa.DateTime)
# Every destination typed counts the number's dials of the last day and adds its own: prepared once. The count
# also says whether older rows are left to forget, so that they are deleted only when there are some.
_DIALS = Prepared(sa.select(
    sa.func.coalesce(sa.func.sum(sa.case((destination_dials.c.at > _SINCE, 1), else_=0)), 0).label("recent"),
    sa.func.coalesce(sa.func.sum(sa.case((destination_dials.c.at <= _SINCE, 1), else_=0)), 0).label("older"))
    .where(destination_dials.c.number == _NUMBER))
_FORGET_DIALS = Prepared(destination_dials.delete().where(destination_dials.c.number == _NUMBER,
                                                          destination_dials.c.at <= _SINCE))
_ADD_DIAL = Prepared(destination_dials.insert().values(number=_NUMBER,
                                                       request_id=sa.bindparam("request_id", type_=sa.Integer),
                                                       at=sa.bindparam("at", type_=sa.DateTime)))


async def dials_to(db: Database, *, number: str, since: dt.datetime) -> int:
    """Second-party dials of `number` after `since`."""
    return (await db.fetch_one(_DIALS, {"number": number, "since": since}))["recent"]


async def dials_and_older(db: Database, *, number: str, since: dt.datetime) -> tuple[int, int]:
    """(dials of `number` after `since`, its dials at or before it), in one statement."""
    row = await db.fetch_one(_DIALS, {"number": number, "since": since})
    return int(row["recent"]), int(row["older"])


async def add_dial(db: Database, *, number: str, request_id: int | None, at: dt.datetime,
                   forget_before: dt.datetime | None) -> None:
    """Count a dial of `number`, deleting its dials at or before `forget_before` (never counted again);
    None: it has none to forget."""
    if forget_before is not None:
        await db.execute(_FORGET_DIALS, {"number": number, "since": forget_before})
    await db.execute(_ADD_DIAL, {"number": number, "request_id": request_id, "at": at})


def _in_states_statement(states_: tuple[str, ...], *, scheduled: bool) -> Prepared:
    c = callback_requests.c
    query = sa.select(sa.func.count().label("count")).where(
        c.account_id == sa.bindparam("account_id", type_=sa.Integer),
        sa.or_(*(c.state == sa.literal(state) for state in states_)),
        c.id != sa.bindparam("excluding", type_=sa.Integer))
    if scheduled:
        after = sa.bindparam("scheduled_after", type_=sa.DateTime)
        query = query.where(sa.or_(c.scheduled_at.is_(None), c.scheduled_at <= after))
    return Prepared(query)


# The count a call's admission and its PIN make of the account's calls in progress, prepared once per set of states.
_IN_STATES: dict[tuple[tuple[str, ...], bool], Prepared] = {}


async def requests_in_states(db: Database, *, account_id: int, states, excluding: int | None = None,
                             scheduled_after: dt.datetime | None = None) -> int:
    """The account's requests in `states`, but for the request `excluding` and, with `scheduled_after`,
    those scheduled for a later time (still waiting for it)."""
    key = (tuple(states), scheduled_after is not None)
    prepared = _IN_STATES.get(key)
    if prepared is None and len(_IN_STATES) < 16:
        prepared = _IN_STATES[key] = _in_states_statement(key[0], scheduled=key[1])
    if prepared is not None:
        return await db.fetch_val(prepared, {"account_id": account_id, "excluding": excluding or 0,
                                             "scheduled_after": scheduled_after})
    query = sa.select(sa.func.count()).where(
        callback_requests.c.account_id == account_id, callback_requests.c.state.in_(states))
    if excluding is not None:
        query = query.where(callback_requests.c.id != excluding)
    if scheduled_after is not None:
        query = query.where(sa.or_(callback_requests.c.scheduled_at.is_(None),
                                   callback_requests.c.scheduled_at <= scheduled_after))
    return await db.fetch_val(query)


async def scheduled_waiting(db: Database, *, account_id: int, now: dt.datetime) -> int:
    """The account's scheduled callbacks still queued for a later time."""
    return await db.fetch_val(sa.select(sa.func.count()).where(
        callback_requests.c.account_id == account_id, callback_requests.c.state == states.QUEUED,
        callback_requests.c.scheduled_at > now))
