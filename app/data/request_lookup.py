"""Finding a callback request by what triggered it."""

from __future__ import annotations

from app.data.db import Database
from app.data.tables import callback_requests


async def by_trigger(db: Database, *, kind: str, trigger_id: str):
    """The request a trigger (`kind`: voice, sms, web, api; its id, e.g. the CallSid) created, or None."""
    return await db.fetch_one(callback_requests.select().where(
        callback_requests.c.trigger_kind == kind, callback_requests.c.trigger_id == trigger_id))
