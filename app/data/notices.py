"""Queries for outcome notices: the request row is its own outbox (app/calls/notices.py sends)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.core import states
from app.data.db import Database
from app.data.tables import callback_requests as requests_t
from app.data.tables import sms_messages


async def claim_unsent(db: Database, *, now: dt.datetime, limit: int):
    """Mark up to `limit` ended requests with a number to notify as notified at `now`, and return them.

    One statement, conditional on `notified_at` still being empty: two instances never claim one notice.
    """
    return await db.fetch_all(
        requests_t.update()
        .where(requests_t.c.id.in_(
            sa.select(requests_t.c.id)
            .where(requests_t.c.notify_number.is_not(None), requests_t.c.notified_at.is_(None),
                   requests_t.c.state.in_(states.TERMINAL))
            .limit(limit)
            .scalar_subquery()
        ), requests_t.c.notified_at.is_(None))
        .values(notified_at=now)
        .returning(*requests_t.c)
    )


async def trigger_source(db: Database, *, request_id: int) -> str | None:
    """Where the text that made this request came in ("twilio", "gateway:<name>"), None if no text made it.

    Read from the logged text itself (linked to the request it created), not parsed back out of the
    request's trigger id: that is a key, stored as a digest when long, and a gateway's message ids may
    hold ":" (the generated ones do: "h:<hex>", "u:<hex>").
    """
    return await db.fetch_val(
        sa.select(sms_messages.c.source)
        .where(sms_messages.c.request_id == request_id, sms_messages.c.direction == "in")
        .order_by(sms_messages.c.id)
        .limit(1)
    )
