"""Queries for API idempotency keys: the first answer given to a (token, key), replayed to its retries."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.data.db import Database, utcnow
from app.data.tables import api_idempotency


async def claim(db: Database, *, token_id: int, key: str, request_hash: str) -> int | None:
    """Take the key for this request (its row's id), or None when it was taken before.

    INSERT ... ON CONFLICT DO NOTHING: run inside the transaction that does the work, a concurrent
    twin waits on the unique (token_id, key) until the first commits, then finds it taken, so the
    work is done once. The answer is filled in by `answer` before that transaction commits.
    """
    dialect = postgresql if db.is_postgres else sqlite
    insert = (dialect.insert(api_idempotency)
              .values(token_id=token_id, key=key, request_hash=request_hash, status=0, response="",
                      created_at=utcnow())
              .on_conflict_do_nothing(index_elements=["token_id", "key"]))
    return await db.fetch_val(insert.returning(api_idempotency.c.id))


async def answer(db: Database, *, id: int, status: int, response: str) -> None:
    await db.execute(api_idempotency.update().where(api_idempotency.c.id == id)
                     .values(status=status, response=response))


async def recall(db: Database, *, token_id: int, key: str):
    """The stored (request_hash, status, response) of a key, or None."""
    return await db.fetch_one(
        sa.select(api_idempotency.c.request_hash, api_idempotency.c.status, api_idempotency.c.response)
        .where(api_idempotency.c.token_id == token_id, api_idempotency.c.key == key))
