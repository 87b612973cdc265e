"""`Database.transaction()` under cancellation: a task cancelled while it waits for a lock leaves nothing open."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
import sqlalchemy as sa

from app.data.db import Database

PROBE = "CREATE TABLE IF NOT EXISTS tx_probe (id INTEGER PRIMARY KEY, note VARCHAR(20))"


async def _in_transaction(db: Database) -> bool:
    """Whether the connection the database would lend next is inside a transaction."""
    if db.is_sqlite:
        return await db._run(lambda c: c.connection.dbapi_connection.in_transaction)
    return False


async def _wait_until_waiting(task: asyncio.Task, seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)
    assert not task.done(), "the transaction did not wait for the lock"


async def test_cancelled_while_begin_waits_for_sqlite_write_lock(settings):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("BEGIN waits for a lock only on SQLite (BEGIN IMMEDIATE)")
    path = settings.database_url.removeprefix("sqlite:///")
    db = Database(settings.database_url, timeout=10)
    await db.connect()
    try:
        await db.execute(PROBE)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock

        async def write():
            async with db.transaction():
                await db.execute(sa.text("INSERT INTO tx_probe (note) VALUES ('cancelled')"))

        task = asyncio.create_task(write())
        await _wait_until_waiting(task)
        task.cancel()
        await asyncio.sleep(0.1)
        other.execute("COMMIT")  # the lock is free: the abandoned BEGIN now succeeds on the connection's thread
        other.close()
        with pytest.raises(asyncio.CancelledError):
            await task

        async with asyncio.timeout(5):
            async with db.transaction():
                await db.execute(sa.text("INSERT INTO tx_probe (note) VALUES ('next')"))
        assert not await _in_transaction(db)
        check = sqlite3.connect(path)
        try:
            assert check.execute("SELECT note FROM tx_probe").fetchall() == [("next",)]
            check.execute("BEGIN IMMEDIATE")  # nobody holds the write lock any more
            check.execute("ROLLBACK")
        finally:
            check.close()
    finally:
        await db.disconnect()


async def test_cancelled_while_a_statement_waits_for_a_row_lock(settings, engine):
    """The same cancellation inside the transaction, on either backend: rolled back, connection not reused dirty."""
    db = Database(settings.database_url, timeout=10)
    await db.connect()
    try:
        await db.execute(PROBE)
        await db.execute(sa.text("INSERT INTO tx_probe (id, note) VALUES (1, 'first')"))
        if db.is_sqlite:
            # SQLite's lock is the write lock BEGIN takes: the other test covers it.
            pytest.skip("row locks are PostgreSQL's")
        holder = engine.connect()
        holder.execute(sa.text("SELECT id FROM tx_probe WHERE id = 1 FOR UPDATE"))

        async def write():
            async with db.transaction():
                await db.execute(sa.text("INSERT INTO tx_probe (id, note) VALUES (2, 'cancelled')"))
                await db.execute(sa.text("UPDATE tx_probe SET note = 'cancelled' WHERE id = 1"))

        task = asyncio.create_task(write())
        await _wait_until_waiting(task)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        holder.rollback()
        holder.close()

        async with asyncio.timeout(5):
            async with db.transaction():
                await db.execute(sa.text("UPDATE tx_probe SET note = 'next' WHERE id = 1"))
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT id, note FROM tx_probe ORDER BY id")).all() == [(1, "next")]
            # Nothing of ours is left inside a transaction on the server.
            deadline = time.monotonic() + 5
            while True:
                left = c.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).scalar_one()
                if left == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert left == 0
    finally:
        await db.disconnect()
        # The probe is not part of the schema: the migration tests compare the database with it.
        with engine.begin() as c:
            c.execute(sa.text("DROP TABLE IF EXISTS tx_probe"))
