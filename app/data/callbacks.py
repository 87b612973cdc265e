"""Queries for the outbox (callback requests), their events and their call legs.

The state column is written here only, by `create_request`, `transition` and
`claim_due`, and these are called only by app/calls/machine.py, which decides
which moves an event may make. `transition` is a conditional update on the
state the caller last saw, with its event row in the same transaction: two
webhooks racing on one request cannot both move it.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import states
from app.core.ids import is_provider_id
from app.data.db import Database, Prepared, utcnow
from app.data.tables import call_legs, callback_requests, events

log = logging.getLogger(__name__)
requests_t = callback_requests


def _is_postgres(db: Database) -> bool:
    return db.is_postgres


def _insert_ignoring_duplicates(db: Database, table: sa.Table):
    return (postgresql if _is_postgres(db) else sqlite).insert(table)


# The columns of a queued request as the admission writes it (app/calls/admission.py).
_QUEUED = ("trigger_kind", "trigger_id", "service_number", "mode", "caller_id", "account_id", "needs_pin",
           "leg_a_number", "leg_a_from", "leg_b_number", "confirm_mode", "notify_number", "base_url", "due_at",
           "expires_at", "scheduled_at", "state", "created_at", "updated_at")


def _queue_statement(dialect) -> Prepared:
    return Prepared(
        dialect.insert(requests_t)
        .values({name: sa.bindparam(name, type_=requests_t.c[name].type) for name in _QUEUED})
        .on_conflict_do_nothing(index_elements=["trigger_kind", "trigger_id"])
        .returning(requests_t.c.id)
    )


# Every trigger's write: prepared once (app/data/db.py), not built per request.
_QUEUE = {"postgresql": _queue_statement(postgresql), "sqlite": _queue_statement(sqlite)}


async def create_request(db: Database, *, detail: str | None = None, **values) -> tuple[int | None, bool]:
    """Write a request unless its trigger was seen before: (id, created).

    Providers retry webhooks, so the same CallSid can arrive twice; the unique
    (trigger_kind, trigger_id) pair makes the second one a no-op.
    """
    now = utcnow()
    values.setdefault("created_at", now)
    values.setdefault("updated_at", now)
    values.setdefault("due_at", now)
    values.setdefault("expires_at", now)
    if not detail and values.get("state") != states.FAILED and len(values) == len(_QUEUED) \
            and all(name in values for name in _QUEUED):
        # One statement, the whole of a queued trigger's write.
        new_id = await db.fetch_val(_QUEUE["postgresql" if db.is_postgres else "sqlite"], values)
    else:
        query = (
            _insert_ignoring_duplicates(db, requests_t)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["trigger_kind", "trigger_id"])
            .returning(requests_t.c.id)
        )
        if detail or values.get("state") == states.FAILED:
            new_id = await _create_with_event(db, query, now=now, detail=detail, values=values)
        else:
            new_id = await db.fetch_val(query)
    if new_id is None:
        existing = await db.fetch_val(
            sa.select(requests_t.c.id).where(
                requests_t.c.trigger_kind == values["trigger_kind"], requests_t.c.trigger_id == values["trigger_id"]
            )
        )
        return existing, False
    return new_id, True


async def _create_with_event(db: Database, query, *, now: dt.datetime, detail: str | None, values: dict) -> int | None:
    async with db.transaction():
        new_id = await db.fetch_val(query)
        if new_id is not None:
            await db.execute(
                events.insert().values(
                    request_id=new_id, at=now, from_state=None, to_state=values["state"],
                    reason=values.get("reason"), detail=(detail or "")[:255] or None,
                )
            )
    return new_id


_BY_ID = Prepared(requests_t.select().where(requests_t.c.id == sa.bindparam("request_id", type_=sa.Integer)))
_ASSIGN = Prepared(requests_t.update().where(requests_t.c.id == sa.bindparam("request_id", type_=sa.Integer))
                   .values(account_id=sa.bindparam("account_id", type_=sa.Integer), needs_pin=False,
                           updated_at=sa.bindparam("now", type_=sa.DateTime))
                   .returning(*requests_t.c))
_LEG_BY_SID = Prepared(call_legs.select().where(call_legs.c.provider_sid == sa.bindparam("sid")))


async def get_request(db: Database, *, request_id: int):
    return await db.fetch_one(_BY_ID, {"request_id": request_id})


async def assign_account(db: Database, *, request_id: int, account_id: int):
    """The account a PIN named, its PIN no longer awaited; the row as it is now."""
    return await db.fetch_one(_ASSIGN, {"request_id": request_id, "account_id": account_id, "now": utcnow()})


async def transition(
    db: Database, request, to_state: str, *, reason: str | None = None, detail: str | None = None,
    unplaced: bool = False, **values
) -> bool:
    """Move `request` (the row as last read) to `to_state`; False if someone else moved it first.

    `unplaced`: only while no leg A sid is recorded (a status callback may attach one meanwhile).
    """
    from_state = request["state"]
    if not states.can_move(from_state, to_state):
        return False
    now = utcnow()
    async with db.transaction():
        moved = await db.fetch_val(
            requests_t.update()
            .where(requests_t.c.id == request["id"], requests_t.c.state == from_state,
                   *([requests_t.c.leg_a_sid.is_(None)] if unplaced else []))
            .values(state=to_state, reason=reason, updated_at=now, **values)
            .returning(requests_t.c.id)
        )
        if moved is None:
            return False
        log.info("request %s: %s -> %s%s", request["id"], from_state, to_state, f" ({reason})" if reason else "",
                 extra={"callback_id": request["id"], "state": to_state, "reason": reason})
        await db.execute(
            events.insert().values(
                request_id=request["id"], at=now, from_state=from_state, to_state=to_state,
                reason=reason, detail=(detail or "")[:255] or None,
            )
        )
    return True


async def update_request(db: Database, *, request_id: int, **values):
    """Change a request's columns; the row as it is now."""
    return await db.fetch_one(requests_t.update().where(requests_t.c.id == request_id)
                              .values(updated_at=utcnow(), **values).returning(*requests_t.c))


async def increment(db: Database, *, request_id: int, column: str) -> int:
    col = requests_t.c[column]
    return await db.fetch_val(
        requests_t.update().where(requests_t.c.id == request_id).values({col: col + 1}).returning(col)
    )


async def claim_due(db: Database, *, now: dt.datetime, limit: int):
    """Claim up to `limit` due requests for dialling: queued → calling_a.

    On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several app instances claim
    from one queue without waiting for or double-claiming each other's rows;
    SQLite serialises writers, which gives the same guarantee.
    """
    due = (
        sa.select(requests_t.c.id)
        .where(requests_t.c.state == states.QUEUED, requests_t.c.due_at <= now, requests_t.c.expires_at > now)
        .order_by(requests_t.c.due_at, requests_t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with db.transaction():
        if _is_postgres(db):
            # Two statements, not `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE
            # SKIP LOCKED)`: PostgreSQL may rescan that subquery and claim more than n.
            ids = [row[0] for row in await db.fetch_all(due)]
            if not ids:
                return []
            chosen = requests_t.c.id.in_(ids)
        else:
            # One statement: SQLite takes the write lock first, so a rival waits
            # instead of failing to upgrade a read lock.
            chosen = requests_t.c.id.in_(due.scalar_subquery())
        rows = await db.fetch_all(
            requests_t.update()
            .where(chosen, requests_t.c.state == states.QUEUED)
            .values(state=states.CALLING_A, attempts=requests_t.c.attempts + 1, claimed_at=now, updated_at=now)
            .returning(*requests_t.c)
        )
        if rows:
            await db.execute_many(
                events.insert(),
                [
                    dict(request_id=row["id"], at=now, from_state=states.QUEUED, to_state=states.CALLING_A,
                         detail=f"attempt {row['attempts']}")
                    for row in rows
                ],
            )
    return sorted(rows, key=lambda row: (row["due_at"], row["id"]))


async def expired_queued(db: Database, *, now: dt.datetime, limit: int = 100):
    return await db.fetch_all(
        requests_t.select()
        .where(requests_t.c.state == states.QUEUED, requests_t.c.expires_at <= now)
        .limit(limit)
    )


async def stale_placing(db: Database, *, before: dt.datetime, limit: int = 100):
    """Requests whose leg A create call never came back (timeout, crash) since `before`."""
    return await db.fetch_all(
        requests_t.select()
        .where(
            requests_t.c.state == states.CALLING_A,
            requests_t.c.leg_a_sid.is_(None),
            requests_t.c.claimed_at <= before,
        )
        .limit(limit)
    )


async def count_due(db: Database, *, now: dt.datetime, limit: int) -> int:
    due = (
        sa.select(requests_t.c.id)
        .where(requests_t.c.state == states.QUEUED, requests_t.c.due_at <= now, requests_t.c.expires_at > now)
        .limit(limit)
    )
    return await db.fetch_val(sa.select(sa.func.count()).select_from(due.subquery()))


async def next_due_at(db: Database, *, now: dt.datetime) -> dt.datetime | None:
    return await db.fetch_val(
        sa.select(sa.func.min(requests_t.c.due_at)).where(
            requests_t.c.state == states.QUEUED, requests_t.c.expires_at > now
        )
    )


async def attach_leg_a(db: Database, *, request_id: int, sid: str, provider: str | None = None) -> bool:
    """Record leg A's sid once; whichever of the create response and the first
    status callback comes first wins, the other is a no-op.

    `provider`: the provider the call is at; only while the request is placed there
    (or names none yet), never a call of a provider it was failed over from.
    """
    if not is_provider_id(sid):
        return False
    taken = sa.select(requests_t.c.id).where(requests_t.c.leg_a_sid == sid).exists()
    at = [] if provider is None else [sa.or_(requests_t.c.provider.is_(None), requests_t.c.provider == provider)]
    got = await db.fetch_val(
        requests_t.update()
        .where(requests_t.c.id == request_id, requests_t.c.leg_a_sid.is_(None), ~taken, *at)
        .values(leg_a_sid=sid, updated_at=utcnow(), **({} if provider is None else {"provider": provider}))
        .returning(requests_t.c.id)
    )
    return got is not None


async def route_leg_a(db: Database, request, *, provider: str, attempts: int | None = None):
    """Name the provider a claimed leg A is about to be placed with, before its create call is sent;
    the row as it now is, or None if it was moved meanwhile. Not a state change (app/calls/machine.py)."""
    values = {"provider": provider} | ({} if attempts is None else {"attempts": attempts})
    return await db.fetch_one(
        requests_t.update()
        .where(requests_t.c.id == request["id"], requests_t.c.state == states.CALLING_A,
               requests_t.c.leg_a_sid.is_(None))
        .values(updated_at=utcnow(), **values).returning(*requests_t.c))


async def list_events(db: Database, *, request_id: int):
    return await db.fetch_all(events.select().where(events.c.request_id == request_id).order_by(events.c.id))


# Call legs -----------------------------------------------------------------


async def ensure_leg(db: Database, *, request_id: int, leg: str, sid: str, direction: str,
                     from_number: str | None, to_number: str | None, status: str, provider: str | None = None) -> None:
    query = (
        _insert_ignoring_duplicates(db, call_legs)
        .values(request_id=request_id, leg=leg, provider_sid=sid, direction=direction, from_number=from_number,
                to_number=to_number, status=status, started_at=utcnow(), provider=provider)
        .on_conflict_do_nothing(index_elements=["provider_sid"])
    )
    await db.execute(query)


async def get_leg(db: Database, *, sid: str):
    return await db.fetch_one(_LEG_BY_SID, {"sid": sid})


async def update_leg(db: Database, *, sid: str, sequence: int | None, **values) -> bool:
    """Apply a status callback unless a later one was applied already.

    Providers may deliver callbacks twice or out of order; SequenceNumber orders them.
    """
    query = call_legs.update().where(call_legs.c.provider_sid == sid)
    if sequence is not None:
        query = query.where(call_legs.c.last_sequence < sequence)
        values["last_sequence"] = sequence
    got = await db.fetch_val(query.values(**values).returning(call_legs.c.id))
    return got is not None


async def finish_leg_once(db: Database, *, sid: str, **values) -> bool:
    """Write the CDR fields of an ended leg exactly once (True the first time)."""
    got = await db.fetch_val(
        call_legs.update()
        .where(call_legs.c.provider_sid == sid, call_legs.c.ended_at.is_(None))
        .values(**values)
        .returning(call_legs.c.id)
    )
    return got is not None


async def list_legs(db: Database, *, request_id: int):
    return await db.fetch_all(call_legs.select().where(call_legs.c.request_id == request_id).order_by(call_legs.c.id))


async def finish_answer_once(db: Database, *, sid: str) -> bool:
    """Stamp a leg's answer time once (True the first time it is seen answered)."""
    got = await db.fetch_val(
        call_legs.update()
        .where(call_legs.c.provider_sid == sid, call_legs.c.answered_at.is_(None))
        .values(answered_at=utcnow())
        .returning(call_legs.c.id)
    )
    return got is not None
