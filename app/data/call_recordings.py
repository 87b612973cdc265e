"""Recordings of second-party calls: stored from the provider's recording status callbacks, listed per
account, and removed after the retention period. The audio itself stays at the provider.

(Operator-recorded prompts are another subject: app/data/recordings.py.)
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.data.db import Database, utcnow
from app.data.tables import call_recordings

STATUSES = ("in-progress", "completed", "absent", "failed")
FINAL = ("completed", "absent", "failed")


async def record(db: Database, *, sid: str, account_id: int, request_id: int, call_sid: str, destination: str | None,
                 status: str, duration: int | None, channels: int | None, url: str | None) -> None:
    """Insert or update the recording named `sid`; one statement, so the provider's retries (and a retry
    racing the first post) leave one row. A final status is never taken back by a late "in-progress"."""
    now = utcnow()
    changes = dict(status=status, updated_at=now)
    changes.update({name: value for name, value in (("duration", duration), ("channels", channels), ("url", url))
                    if value is not None})
    dialect = postgresql if db.is_postgres else sqlite
    insert = dialect.insert(call_recordings).values(
        sid=sid, account_id=account_id, request_id=request_id, call_sid=call_sid, destination=destination,
        status=status, duration=duration, channels=channels, url=url, created_at=now, updated_at=now)
    await db.execute(insert.on_conflict_do_update(
        index_elements=["sid"], set_=changes,
        # The row stays the request's it was first stored for; only its progress moves on.
        where=sa.and_(call_recordings.c.request_id == request_id,
                      call_recordings.c.status.not_in(FINAL) if status == "in-progress" else sa.true())))


async def list_for_account(db: Database, *, account_id: int, limit: int = 100):
    return await db.fetch_all(call_recordings.select().where(call_recordings.c.account_id == account_id)
                              .order_by(call_recordings.c.id.desc()).limit(limit))


async def list_for_request(db: Database, *, account_id: int, request_id: int):
    return await db.fetch_all(call_recordings.select().where(call_recordings.c.account_id == account_id,
                                                             call_recordings.c.request_id == request_id)
                              .order_by(call_recordings.c.id))


async def get_for_account(db: Database, *, account_id: int, recording_id: int):
    """The recording if it is this account's; None for another account's, as for one that does not exist."""
    return await db.fetch_one(call_recordings.select().where(call_recordings.c.id == recording_id,
                                                             call_recordings.c.account_id == account_id))


async def get_by_sid(db: Database, *, sid: str):
    return await db.fetch_one(call_recordings.select().where(call_recordings.c.sid == sid))


async def older_than(db: Database, *, before: dt.datetime, limit: int = 50):
    """Recordings made before `before`, oldest first: the retention period's batch."""
    return await db.fetch_all(call_recordings.select().where(call_recordings.c.created_at < before)
                              .order_by(call_recordings.c.created_at, call_recordings.c.id).limit(limit))


async def remove(db: Database, *, recording_id: int) -> bool:
    rows = await db.fetch_all(call_recordings.delete().where(call_recordings.c.id == recording_id)
                              .returning(call_recordings.c.id))
    return bool(rows)
