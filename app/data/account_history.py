"""One account's callback requests and their legs (CDRs), as the portal and the API show them.

Every query takes the account id and filters by it: a subscriber (or a token)
never reaches another account's rows, and asking for one reads as "not found".
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from app.core import money, states
from app.data.db import Database
from app.data.tables import call_legs
from app.data.tables import callback_requests as requests_t

# Ids are 32-bit on both backends; a larger one in a URL is simply not found.
MAX_ID = 2**31 - 1
FINAL_LEG_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


async def get_request(db: Database, *, account_id: int, request_id: int):
    if not valid_id(request_id):
        return None
    return await db.fetch_one(
        requests_t.select().where(requests_t.c.id == request_id, requests_t.c.account_id == account_id)
    )


async def list_requests(db: Database, *, account_id: int, before_id: int | None = None, after_id: int | None = None,
                        limit: int = 20):
    """Newest first. Keyset pages: `before_id` (older than the last row seen) or `after_id` (newer than the first)."""
    query = requests_t.select().where(requests_t.c.account_id == account_id)
    if before_id is not None:
        query = query.where(requests_t.c.id < before_id)
    if after_id is not None:
        # The page just above `after_id`: the oldest `limit` of the newer rows, shown newest first.
        rows = await db.fetch_all(query.where(requests_t.c.id > after_id).order_by(requests_t.c.id).limit(limit))
        return list(reversed(rows))
    return await db.fetch_all(query.order_by(requests_t.c.id.desc()).limit(limit))


async def list_scheduled(db: Database, *, account_id: int, limit: int = 100):
    """The account's scheduled callbacks still waiting to be placed, soonest first."""
    return await db.fetch_all(
        requests_t.select()
        .where(requests_t.c.account_id == account_id, requests_t.c.state == states.QUEUED,
               requests_t.c.scheduled_at.is_not(None))
        .order_by(requests_t.c.scheduled_at, requests_t.c.id).limit(limit))


async def has_older(db: Database, *, account_id: int, than_id: int) -> bool:
    return await db.fetch_val(sa.select(requests_t.c.id).where(
        requests_t.c.account_id == account_id, requests_t.c.id < than_id).limit(1)) is not None


async def has_newer(db: Database, *, account_id: int, than_id: int) -> bool:
    return await db.fetch_val(sa.select(requests_t.c.id).where(
        requests_t.c.account_id == account_id, requests_t.c.id > than_id).limit(1)) is not None


async def latest_request(db: Database, *, account_id: int):
    rows = await list_requests(db, account_id=account_id, limit=1)
    return rows[0] if rows else None


async def legs_of(db: Database, *, account_id: int, request_ids: list[int]) -> dict[int, list]:
    """The legs of some of the account's requests, by request id, oldest leg first."""
    found: dict[int, list] = {request_id: [] for request_id in request_ids}
    if not request_ids:
        return found
    query = (
        sa.select(call_legs)
        .select_from(call_legs.join(requests_t, requests_t.c.id == call_legs.c.request_id))
        .where(requests_t.c.account_id == account_id, call_legs.c.request_id.in_(request_ids))
        .order_by(call_legs.c.id)
    )
    for leg in await db.fetch_all(query):
        found[leg["request_id"]].append(leg)
    return found


async def with_legs(db: Database, *, account_id: int, rows) -> list[tuple]:
    legs = await legs_of(db, account_id=account_id, request_ids=[row["id"] for row in rows])
    return [(row, legs[row["id"]]) for row in rows]


# Views ---------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC, microsecond=0).isoformat().replace("+00:00", "Z")


def leg_phase(request_state: str, leg) -> str:
    """What a leg is doing, in the words the portal shows: waiting, ringing, answered, connected, ended."""
    if leg is None:
        return "not called" if request_state in states.TERMINAL else "waiting"
    if leg["ended_at"] is not None or leg["status"] in FINAL_LEG_STATUSES:
        return "ended"
    if leg["status"] == "in-progress":
        return "connected" if request_state == states.CONNECTED else "answered"
    return "ringing"


def phases(row, legs) -> dict[str, str]:
    """The phase of the latest leg A and the latest leg B (a session may make several calls)."""
    latest = {}
    for leg in legs:
        latest[leg["leg"]] = leg
    return {kind: leg_phase(row["state"], latest.get(kind)) for kind in ("a", "b")}


def _amount(minor: int | None, currency: str) -> str | None:
    return None if minor is None else money.format_amount(minor, currency)


def leg_view(leg, currency: str) -> dict:
    return {
        "leg": leg["leg"],
        "number": leg["to_number"],
        "status": leg["status"],
        "started_at": iso(leg["started_at"]),
        "answered_at": iso(leg["answered_at"]),
        "ended_at": iso(leg["ended_at"]),
        "duration_seconds": leg["duration_seconds"],
        "billed_seconds": leg["billed_seconds"],
        "price_per_minute": money.format_price(leg["price_per_minute"]) if leg["price_per_minute"] is not None else None,
        "cost": _amount(leg["cost"], currency),
        "cost_minor": leg["cost"],
        "provider": leg["provider"],
    }


def callback_view(row, legs, currency: str) -> dict:
    """A request with its legs and what it cost: the API's Callback object and the portal's live status."""
    cost = sum(leg["cost"] or 0 for leg in legs)
    leg_phases = phases(row, legs)
    return {
        "id": row["id"],
        "state": row["state"],
        "reason": row["reason"],
        "from": row["leg_a_number"],
        "to": row["leg_b_number"],
        "trigger": row["trigger_kind"],
        "scheduled_at": iso(row["scheduled_at"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "terminal": row["state"] in states.TERMINAL,
        "leg_a": leg_phases["a"],
        "leg_b": leg_phases["b"],
        "legs": [leg_view(leg, currency) for leg in legs],
        "cost": money.format_amount(cost, currency),
        "cost_minor": cost,
        "currency": currency,
        "provider": row["provider"],
    }


def settled(row, legs) -> bool:
    """Over, and every leg's CDR written: nothing about this request will change again."""
    return row["state"] in states.TERMINAL and all(leg["ended_at"] is not None for leg in legs)
