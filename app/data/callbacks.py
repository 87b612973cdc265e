"""Queries for the outbox (callback requests), their events and their call legs.

The state column is written here only, by `create_request`, `transition` and
`claim_due`, and these are called only by app/calls/machine.py, which decides
which moves an event may make. `transition` is a conditional update on the
state the caller last saw, with its event row in the same transaction: two
webhooks racing on one request cannot both move it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import states
from app.core.ids import is_provider_id
from app.data.db import Database, Prepared, utcnow
from app.data.tables import accounts, call_legs, callback_requests, events, resellers

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
# When leg A was answered (or, unanswered, started), as the IVR steps that hold money need it: read with the
# request by a step, which saves it a read of the leg (app/calls/dialing.py, leg_a_elapsed).
_LEG_A_SINCE = (sa.select(sa.func.coalesce(call_legs.c.answered_at, call_legs.c.started_at))
                .where(call_legs.c.provider_sid == requests_t.c.leg_a_sid).limit(1)
                .scalar_subquery().label("leg_a_since"))
_BY_ID_WITH_LEG_A = Prepared(sa.select(*requests_t.c, _LEG_A_SINCE)
                             .where(requests_t.c.id == sa.bindparam("request_id", type_=sa.Integer)))
_ASSIGN = Prepared(requests_t.update().where(requests_t.c.id == sa.bindparam("request_id", type_=sa.Integer))
                   .values(account_id=sa.bindparam("account_id", type_=sa.Integer), needs_pin=False,
                           updated_at=sa.bindparam("now", type_=sa.DateTime))
                   .returning(*requests_t.c))
_LEG_BY_SID = Prepared(call_legs.select().where(call_legs.c.provider_sid == sa.bindparam("sid")))
_ACCOUNT_COLUMN = "account__"  # the prefix of the account's columns read with its request
_OWN = accounts.c.balance - accounts.c.reserved
_ROOM = resellers.c.credit_limit - resellers.c.used - resellers.c.reserved
_BY_ID_WITH_ACCOUNT = Prepared(
    sa.select(*requests_t.c, _LEG_A_SINCE, *(column.label(_ACCOUNT_COLUMN + column.key) for column in accounts.c),
              # What app/data/holds.py's `spendable` reads: the balance less its holds, within the reseller's credit.
              sa.case((_ROOM.is_(None), _OWN), (_OWN <= _ROOM, _OWN), else_=_ROOM).label(_ACCOUNT_COLUMN + "spendable"))
    .select_from(requests_t.outerjoin(accounts, accounts.c.id == requests_t.c.account_id)
                 .outerjoin(resellers, resellers.c.id == accounts.c.reseller_id))
    .where(requests_t.c.id == sa.bindparam("request_id", type_=sa.Integer)))


async def get_request(db: Database, *, request_id: int):
    return await db.fetch_one(_BY_ID, {"request_id": request_id})


async def get_request_with_leg_a(db: Database, *, request_id: int):
    """The request's row and, under "leg_a_since", when its leg A was answered (or started; None without
    one), read in one statement."""
    return await db.fetch_one(_BY_ID_WITH_LEG_A, {"request_id": request_id})


async def get_request_with_account(db: Database, *, request_id: int):
    """The request's row and, under "account", its account's (None without one) with what it may still
    spend ("spendable", as app/data/holds.py's `spendable` reads it), and leg A's "leg_a_since"
    (get_request_with_leg_a), read in one statement: every IVR step needs them."""
    row = await db.fetch_one(_BY_ID_WITH_ACCOUNT, {"request_id": request_id})
    if row is None:
        return None
    request, account = {}, {}
    for key, value in row.items():
        if key.startswith(_ACCOUNT_COLUMN):
            account[key[len(_ACCOUNT_COLUMN):]] = value
        else:
            request[key] = value
    request["account"] = account if account["id"] is not None else None
    return request


async def assign_account(db: Database, *, request_id: int, account_id: int):
    """The account a PIN named, its PIN no longer awaited; the row as it is now."""
    return await db.fetch_one(_ASSIGN, {"request_id": request_id, "account_id": account_id, "now": utcnow()})


_JOIN = Prepared(requests_t.update()
                 .where(requests_t.c.id == sa.bindparam("request_id", type_=sa.Integer),
                        requests_t.c.reserved == sa.bindparam("seen", type_=sa.BigInteger))
                 .values(account_id=sa.bindparam("account_id", type_=sa.Integer), needs_pin=False,
                         reserved=sa.bindparam("amount", type_=sa.BigInteger),
                         updated_at=sa.bindparam("now", type_=sa.DateTime))
                 .returning(*requests_t.c))


async def join_account(db: Database, *, request_id: int, account_id: int, seen: int, amount: int):
    """`assign_account` and the request's side of its hold (`reserved` from `seen` to `amount`) in one
    statement, inside the caller's transaction; the row as it is now, or None if the request no longer
    holds `seen` (the caller rolls back)."""
    return await db.fetch_one(_JOIN, {"request_id": request_id, "account_id": account_id, "seen": seen,
                                      "amount": amount, "now": utcnow()})


# A move's statements, prepared once per shape: the columns it sets besides the state, whether it waits for
# leg A's sid to be unset, whether it returns the whole row; on PostgreSQL, the move and its event row are one
# statement (a data-modifying WITH: both or neither), on SQLite two in a transaction, as cheap in-process.
_EVENT = Prepared(events.insert().values(
    request_id=sa.bindparam("request_id", type_=sa.Integer), at=sa.bindparam("now", type_=sa.DateTime),
    from_state=sa.bindparam("from_state", type_=sa.String), to_state=sa.bindparam("to_state", type_=sa.String),
    reason=sa.bindparam("reason", type_=sa.String), detail=sa.bindparam("detail", type_=sa.String)))
_MOVES: dict[tuple, Prepared] = {}


def _move_statement(columns: tuple[str, ...], unplaced: bool, whole_row: bool, postgres: bool) -> Prepared:
    key = (columns, unplaced, whole_row, postgres)
    prepared = _MOVES.get(key)
    if prepared is not None:
        return prepared
    c = requests_t.c
    update = (
        requests_t.update()
        .where(c.id == sa.bindparam("request_id", type_=sa.Integer),
               c.state == sa.bindparam("from_state", type_=sa.String),
               *([c.leg_a_sid.is_(None)] if unplaced else []))
        .values({"state": sa.bindparam("to_state", type_=sa.String), "reason": sa.bindparam("reason", type_=sa.String),
                 "updated_at": sa.bindparam("now", type_=sa.DateTime),
                 **{name: sa.bindparam(f"set_{name}", type_=c[name].type) for name in columns}})
        .returning(*(requests_t.c if whole_row else [c.id]))
    )
    if postgres:
        moved = update.cte("moved")
        logged = events.insert().from_select(
            ["request_id", "at", "from_state", "to_state", "reason", "detail"],
            sa.select(moved.c.id, sa.bindparam("now", type_=sa.DateTime), sa.bindparam("from_state", type_=sa.String),
                      sa.bindparam("to_state", type_=sa.String), sa.bindparam("reason", type_=sa.String),
                      sa.bindparam("detail", type_=sa.String))).cte("logged")
        prepared = Prepared(sa.select(moved).add_cte(logged))
    else:
        prepared = Prepared(update)
    if len(_MOVES) < 64:  # the shapes are the machine's few kinds of move; never more than that
        _MOVES[key] = prepared
    return prepared


async def _transition(db: Database, request, to_state: str, *, reason: str | None, detail: str | None,
                      unplaced: bool, whole_row: bool, values: dict):
    from_state = request["state"]
    if not states.can_move(from_state, to_state):
        return None
    now = utcnow()
    params = {"request_id": request["id"], "from_state": from_state, "to_state": to_state, "reason": reason,
              "now": now, "detail": (detail or "")[:255] or None, **{f"set_{k}": v for k, v in values.items()}}
    statement = _move_statement(tuple(sorted(values)), unplaced, whole_row, db.is_postgres)
    if db.is_postgres:
        row = await db.fetch_one(statement, params)
    else:
        # Inside a caller's transaction, that one makes the two one (an error rolls it back whole): no savepoint.
        async with contextlib.nullcontext() if db.in_transaction() else db.transaction():
            row = await db.fetch_one(statement, params)
            if row is not None:
                await db.execute(_EVENT, params)
    if row is not None:
        # A request's end at INFO, one line a callback; the moves on the way at DEBUG: five or six a callback,
        # each a JSON line costing more than the move, and the events table keeps them all anyway.
        log.log(logging.INFO if to_state in states.TERMINAL else logging.DEBUG, "request %s: %s -> %s%s",
                request["id"], from_state, to_state, f" ({reason})" if reason else "",
                extra={"callback_id": request["id"], "state": to_state, "reason": reason})
    return row


async def transition(
    db: Database, request, to_state: str, *, reason: str | None = None, detail: str | None = None,
    unplaced: bool = False, **values
) -> bool:
    """Move `request` (the row as last read) to `to_state`, with its event row; False if someone else moved
    it first.

    `unplaced`: only while no leg A sid is recorded (a status callback may attach one meanwhile).
    """
    return await _transition(db, request, to_state, reason=reason, detail=detail, unplaced=unplaced,
                             whole_row=False, values=values) is not None


async def transition_row(db: Database, request, to_state: str, *, reason: str | None = None,
                         detail: str | None = None, **values):
    """`transition`, returning the row as the move left it (None if it did not move): no read after it."""
    return await _transition(db, request, to_state, reason=reason, detail=detail, unplaced=False,
                             whole_row=True, values=values)


async def update_request(db: Database, *, request_id: int, **values):
    """Change a request's columns; the row as it is now."""
    return await db.fetch_one(requests_t.update().where(requests_t.c.id == request_id)
                              .values(updated_at=utcnow(), **values).returning(*requests_t.c))


def _increment_statement(column: str) -> Prepared:
    col = requests_t.c[column]
    return Prepared(requests_t.update().where(requests_t.c.id == sa.bindparam("request_id", type_=sa.Integer))
                    .values({col: col + 1}).returning(col))


# The counters of a session, each counted up by one statement prepared once.
_INCREMENTS = {column: _increment_statement(column)
               for column in ("calls_connected", "silent_prompts", "pin_failures", "bad_destinations")}


async def increment(db: Database, *, request_id: int, column: str) -> int:
    prepared = _INCREMENTS.get(column) or _increment_statement(column)
    return await db.fetch_val(prepared, {"request_id": request_id})


_NOW = sa.bindparam("now", type_=sa.DateTime)
_DUE = (sa.select(requests_t.c.id)
        .where(requests_t.c.state == states.QUEUED, requests_t.c.due_at <= _NOW, requests_t.c.expires_at > _NOW)
        .order_by(requests_t.c.due_at, requests_t.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer)))
# PostgreSQL: the due rows locked (skipping those another instance holds), then claimed with their events in
# one statement; SQLite: claimed by one statement (it takes the write lock first, so a rival waits instead of
# failing to upgrade a read lock), then each one's event.
_DUE_LOCKED = Prepared(_DUE.with_for_update(skip_locked=True))
_CLAIM_SQLITE = Prepared(requests_t.update()
                         .where(requests_t.c.id.in_(_DUE.scalar_subquery()), requests_t.c.state == states.QUEUED)
                         .values(state=states.CALLING_A, attempts=requests_t.c.attempts + 1, claimed_at=_NOW,
                                 updated_at=_NOW)
                         .returning(*requests_t.c))
_CLAIM_EVENT = Prepared(events.insert().values(
    request_id=sa.bindparam("request_id", type_=sa.Integer), at=_NOW, from_state=states.QUEUED,
    to_state=states.CALLING_A, detail=sa.bindparam("detail", type_=sa.String)))


_CLAIMED = (requests_t.update()
            .where(requests_t.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.Integer))),
                   requests_t.c.state == states.QUEUED)
            .values(state=states.CALLING_A, attempts=requests_t.c.attempts + 1, claimed_at=_NOW, updated_at=_NOW)
            .returning(*requests_t.c).cte("moved"))
_CLAIM_POSTGRES = Prepared(sa.select(_CLAIMED).add_cte(events.insert().from_select(
    ["request_id", "at", "from_state", "to_state", "detail"],
    sa.select(_CLAIMED.c.id, _NOW, sa.literal(states.QUEUED), sa.literal(states.CALLING_A),
              sa.literal("attempt ") + sa.cast(_CLAIMED.c.attempts, sa.String))).cte("logged")))


async def claim_due(db: Database, *, now: dt.datetime, limit: int):
    """Claim up to `limit` due requests for dialling: queued → calling_a.

    On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several app instances claim
    from one queue without waiting for or double-claiming each other's rows;
    SQLite serialises writers, which gives the same guarantee.
    """
    async with db.transaction():
        if _is_postgres(db):
            # Two statements, not `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE
            # SKIP LOCKED)`: PostgreSQL may rescan that subquery and claim more than n.
            ids = [row["id"] for row in await db.fetch_all(_DUE_LOCKED, {"now": now, "limit": limit})]
            if not ids:
                return []
            rows = await db.fetch_all(_CLAIM_POSTGRES, {"ids": ids, "now": now})
        else:
            rows = await db.fetch_all(_CLAIM_SQLITE, {"now": now, "limit": limit})
            for row in rows:
                await db.execute(_CLAIM_EVENT, {"request_id": row["id"], "now": now,
                                                "detail": f"attempt {row['attempts']}"})
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


def _attach_statement(at_provider: bool) -> Prepared:
    c = requests_t.c
    sid = sa.bindparam("sid", type_=sa.String)
    taken = sa.select(c.id).where(c.leg_a_sid == sid).exists()
    provider = sa.bindparam("provider", type_=sa.String)
    at = [sa.or_(c.provider.is_(None), c.provider == provider)] if at_provider else []
    return Prepared(
        requests_t.update()
        .where(c.id == sa.bindparam("request_id", type_=sa.Integer), c.leg_a_sid.is_(None), ~taken, *at)
        .values(leg_a_sid=sid, updated_at=sa.bindparam("now", type_=sa.DateTime),
                **({"provider": provider} if at_provider else {}))
        .returning(c.id))


def _route_statement(attempts: bool) -> Prepared:
    c = requests_t.c
    return Prepared(
        requests_t.update()
        .where(c.id == sa.bindparam("request_id", type_=sa.Integer), c.state == states.CALLING_A,
               c.leg_a_sid.is_(None))
        .values(updated_at=sa.bindparam("now", type_=sa.DateTime), provider=sa.bindparam("provider", type_=sa.String),
                **({"attempts": sa.bindparam("attempts", type_=sa.Integer)} if attempts else {}))
        .returning(*c))


# Every placed call's two writes before and after its create call, prepared once.
_ATTACH = {True: _attach_statement(True), False: _attach_statement(False)}
_ROUTE = {True: _route_statement(True), False: _route_statement(False)}


async def attach_leg_a(db: Database, *, request_id: int, sid: str, provider: str | None = None) -> bool:
    """Record leg A's sid once; whichever of the create response and the first
    status callback comes first wins, the other is a no-op.

    `provider`: the provider the call is at; only while the request is placed there
    (or names none yet), never a call of a provider it was failed over from.
    """
    if not is_provider_id(sid):
        return False
    got = await db.fetch_val(_ATTACH[provider is not None], {"request_id": request_id, "sid": sid,
                                                             "provider": provider, "now": utcnow()})
    return got is not None


async def route_leg_a(db: Database, request, *, provider: str, attempts: int | None = None):
    """Name the provider a claimed leg A is about to be placed with, before its create call is sent;
    the row as it now is, or None if it was moved meanwhile. Not a state change (app/calls/machine.py)."""
    return await db.fetch_one(_ROUTE[attempts is not None], {"request_id": request["id"], "provider": provider,
                                                             "attempts": attempts, "now": utcnow()})


async def list_events(db: Database, *, request_id: int):
    return await db.fetch_all(events.select().where(events.c.request_id == request_id).order_by(events.c.id))


# Call legs -----------------------------------------------------------------

_SID = sa.bindparam("sid", type_=sa.String)
_LEG_VALUES = {name: sa.bindparam(name, type_=call_legs.c[name].type)
               for name in ("request_id", "leg", "direction", "from_number", "to_number", "status", "provider",
                            "started_at")}


def _ensure_leg_statement(dialect) -> Prepared:
    return Prepared(dialect.insert(call_legs).values(provider_sid=_SID, **_LEG_VALUES)
                    .on_conflict_do_nothing(index_elements=["provider_sid"]))


def _leg_answered_statement(dialect) -> Prepared:
    """A leg's row written answered, or its answer time stamped if it had none: its id the first time only."""
    insert = dialect.insert(call_legs).values(provider_sid=_SID, answered_at=sa.bindparam("now", type_=sa.DateTime),
                                              **_LEG_VALUES)
    return Prepared(insert.on_conflict_do_update(
        index_elements=["provider_sid"], set_={"answered_at": insert.excluded.answered_at},
        where=call_legs.c.answered_at.is_(None),
    ).returning(call_legs.c.id))


def _second_leg_reported_statement(dialect) -> Prepared:
    """A leg B's row written, or its status moved on, by one status callback: inserted if it is new (its
    provider, and the number dialled when the report names none, from the request's row: no read of the
    request first, and nothing written without one), else updated unless a later callback was applied
    already. Returns the row's id when it changed."""
    r = requests_t.c
    called = sa.bindparam("to_number", type_=sa.String)
    insert = dialect.insert(call_legs).from_select(
        ["request_id", "leg", "provider_sid", "direction", "from_number", "to_number", "status", "provider",
         "last_sequence", "started_at"],
        sa.select(r.id, sa.literal("b"), _SID, sa.literal("outbound-dial"),
                  sa.bindparam("from_number", type_=sa.String),
                  sa.func.coalesce(sa.func.nullif(called, ""), r.leg_b_number),
                  sa.bindparam("status", type_=sa.String), r.provider,
                  sa.bindparam("sequence", type_=sa.Integer), sa.bindparam("started_at", type_=sa.DateTime))
        .where(r.id == sa.bindparam("request_id", type_=sa.Integer)))
    return Prepared(insert.on_conflict_do_update(
        index_elements=["provider_sid"],
        set_={"status": insert.excluded.status, "last_sequence": insert.excluded.last_sequence},
        where=call_legs.c.last_sequence < insert.excluded.last_sequence,
    ).returning(call_legs.c.id))


# The status callbacks' statements, prepared once per backend.
_ENSURE_LEG = {"postgresql": _ensure_leg_statement(postgresql), "sqlite": _ensure_leg_statement(sqlite)}
_LEG_ANSWERED = {"postgresql": _leg_answered_statement(postgresql), "sqlite": _leg_answered_statement(sqlite)}
_SECOND_LEG_REPORTED = {"postgresql": _second_leg_reported_statement(postgresql),
                        "sqlite": _second_leg_reported_statement(sqlite)}
_LEG_STATUS = Prepared(call_legs.update()
                       .where(call_legs.c.provider_sid == _SID,
                              call_legs.c.last_sequence < sa.bindparam("sequence", type_=sa.Integer))
                       .values(status=sa.bindparam("status", type_=sa.String),
                               last_sequence=sa.bindparam("sequence", type_=sa.Integer))
                       .returning(call_legs.c.id))
_OWN_LEG = call_legs.update().where(call_legs.c.provider_sid == _SID,
                                    call_legs.c.request_id == sa.bindparam("request_id", type_=sa.Integer),
                                    call_legs.c.leg == sa.bindparam("leg", type_=sa.String),
                                    call_legs.c.last_sequence < sa.bindparam("sequence", type_=sa.Integer))
_REPORTED = dict(status=sa.bindparam("status", type_=sa.String),
                 last_sequence=sa.bindparam("sequence", type_=sa.Integer))
_OWN_LEG_STATUS = Prepared(_OWN_LEG.values(**_REPORTED).returning(call_legs.c.id))
# The same, for a report that the leg was answered: its answer time stamped with it, the first time.
_OWN_LEG_ANSWERED = Prepared(_OWN_LEG.values(**_REPORTED, answered_at=sa.func.coalesce(
    call_legs.c.answered_at, sa.bindparam("now", type_=sa.DateTime))).returning(call_legs.c.id))
_ANSWER_ONCE = Prepared(call_legs.update()
                        .where(call_legs.c.provider_sid == _SID, call_legs.c.answered_at.is_(None))
                        .values(answered_at=sa.bindparam("now", type_=sa.DateTime))
                        .returning(call_legs.c.id))
_CDR_FIELDS = ("status", "ended_at", "duration_seconds", "billed_seconds", "rate_prefix", "price_per_minute", "cost",
               "price_check_at", "reseller_cost", "reseller_margin")
_FINISH_LEG = Prepared(call_legs.update()
                       .where(call_legs.c.provider_sid == _SID, call_legs.c.ended_at.is_(None))
                       .values({name: sa.bindparam(name, type_=call_legs.c[name].type) for name in _CDR_FIELDS})
                       .returning(call_legs.c.id))


def _backend(db: Database) -> str:
    return "postgresql" if db.is_postgres else "sqlite"


def _leg_values(*, request_id: int, leg: str, sid: str, direction: str, from_number: str | None,
                to_number: str | None, status: str, provider: str | None) -> dict:
    return {"request_id": request_id, "leg": leg, "sid": sid, "direction": direction, "from_number": from_number,
            "to_number": to_number, "status": status, "provider": provider, "started_at": utcnow()}


async def ensure_leg(db: Database, *, request_id: int, leg: str, sid: str, direction: str,
                     from_number: str | None, to_number: str | None, status: str, provider: str | None = None) -> None:
    await db.execute(_ENSURE_LEG[_backend(db)], _leg_values(
        request_id=request_id, leg=leg, sid=sid, direction=direction, from_number=from_number, to_number=to_number,
        status=status, provider=provider))


async def second_leg_reported(db: Database, *, request_id: int, sid: str, from_number: str | None,
                              to_number: str | None, status: str, sequence: int) -> bool:
    """`ensure_leg` and `update_leg` of the request's leg B in one statement, its provider and (when
    `to_number` is empty) number taken from the request's row. False if nothing changed: a report older than
    the last applied, or no such request."""
    got = await db.fetch_val(_SECOND_LEG_REPORTED[_backend(db)], {
        "request_id": request_id, "sid": sid, "from_number": from_number, "to_number": to_number or "",
        "status": status, "sequence": sequence, "started_at": utcnow()})
    return got is not None


async def leg_answered(db: Database, *, request_id: int, leg: str, sid: str, direction: str,
                       from_number: str | None, to_number: str | None, provider: str | None = None) -> bool:
    """`ensure_leg` (in progress) and `finish_answer_once` in one statement: True the first time the leg is
    seen answered."""
    got = await db.fetch_val(_LEG_ANSWERED[_backend(db)], _leg_values(
        request_id=request_id, leg=leg, sid=sid, direction=direction, from_number=from_number, to_number=to_number,
        status="in-progress", provider=provider) | {"now": utcnow()})
    return got is not None


async def get_leg(db: Database, *, sid: str):
    return await db.fetch_one(_LEG_BY_SID, {"sid": sid})


async def update_leg(db: Database, *, sid: str, sequence: int | None, **values) -> bool:
    """Apply a status callback unless a later one was applied already.

    Providers may deliver callbacks twice or out of order; SequenceNumber orders them.
    """
    if sequence is not None and set(values) == {"status"}:
        return await db.fetch_val(_LEG_STATUS, {"sid": sid, "sequence": sequence, "status": values["status"]}) \
            is not None
    query = call_legs.update().where(call_legs.c.provider_sid == sid)
    if sequence is not None:
        query = query.where(call_legs.c.last_sequence < sequence)
        values["last_sequence"] = sequence
    got = await db.fetch_val(query.values(**values).returning(call_legs.c.id))
    return got is not None


async def update_own_leg(db: Database, *, request_id: int, leg: str, sid: str, sequence: int, status: str) -> bool:
    """`update_leg` of a status, if the leg is known as this request's leg `leg`: False when it is not (or a
    later callback was applied already), and nothing changed."""
    return await db.fetch_val(_OWN_LEG_STATUS, {"sid": sid, "request_id": request_id, "leg": leg,
                                                "sequence": sequence, "status": status}) is not None


async def answer_own_leg(db: Database, *, request_id: int, leg: str, sid: str, sequence: int, status: str) -> bool:
    """`update_own_leg` and `finish_answer_once` in one statement, for a report that the leg was answered."""
    return await db.fetch_val(_OWN_LEG_ANSWERED, {"sid": sid, "request_id": request_id, "leg": leg,
                                                  "sequence": sequence, "status": status, "now": utcnow()}) is not None


async def finish_leg_once(db: Database, *, sid: str, **values) -> bool:
    """Write the CDR fields of an ended leg exactly once (True the first time)."""
    # Every field the CDR writes (a reseller's margins only for a reseller's account: NULL until then).
    if set(_CDR_FIELDS) - {"reseller_cost", "reseller_margin"} <= set(values) <= set(_CDR_FIELDS):
        got = await db.fetch_val(_FINISH_LEG, {name: values.get(name) for name in _CDR_FIELDS} | {"sid": sid})
        return got is not None
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
    return await db.fetch_val(_ANSWER_ONCE, {"sid": sid, "now": utcnow()}) is not None
