"""`Prepared` statements: the driver runs them, and their rows read as SQLAlchemy's do.

On SQLite they run on a connection of the event loop's own thread that never waits for the
file's write lock: when another connection holds it, the statement waits on the database's
thread instead, and the loop goes on serving meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

import pytest
import sqlalchemy as sa

from app.data.db import Database, Prepared

probe = sa.Table(
    "prepared_probe", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("note", sa.String(20)),
    sa.Column("at", sa.DateTime),
    sa.Column("amount", sa.BigInteger),
)
INSERT = Prepared(probe.insert().values(note=sa.bindparam("note"), at=sa.bindparam("at"),
                                       amount=sa.bindparam("amount")).returning(probe.c.id))
BY_NOTE = Prepared(sa.select(probe.c.id, probe.c.note, probe.c.at, probe.c.amount)
                   .where(probe.c.note == sa.bindparam("note")))
RENAME = Prepared(probe.update().where(probe.c.note == sa.bindparam("old")).values(note=sa.bindparam("new")))


@pytest.fixture
async def db(settings):
    database = Database(settings.database_url, timeout=10)
    await database.connect()
    await database.execute(sa.text("DROP TABLE IF EXISTS prepared_probe"))
    await database.execute(sa.schema.CreateTable(probe))
    yield database
    await database.execute(sa.text("DROP TABLE IF EXISTS prepared_probe"))
    await database.disconnect()


async def test_a_prepared_row_reads_as_sqlalchemy_reads_it(db):
    at = dt.datetime(2026, 3, 29, 1, 30, 0)  # no microseconds: the text form SQLite stores must still compare
    new_id = await db.fetch_val(INSERT, {"note": "first", "at": at, "amount": 12_345_678_901})
    assert isinstance(new_id, int)
    fast = await db.fetch_one(BY_NOTE, {"note": "first"})
    slow = await db.fetch_one(sa.select(probe).where(probe.c.note == "first"))
    assert dict(fast) == dict(slow) == {"id": new_id, "note": "first", "at": at, "amount": 12_345_678_901}
    # A date written by SQLAlchemy is found by a prepared statement comparing dates, and the other way round.
    assert await db.fetch_val(sa.select(sa.func.count()).where(probe.c.at == at)) == 1
    assert await db.fetch_all(BY_NOTE, {"note": "nobody"}) == []
    assert await db.fetch_one(BY_NOTE, {"note": "nobody"}) is None
    assert await db.execute(RENAME, {"old": "first", "new": "second"}) == 1
    assert await db.execute(RENAME, {"old": "first", "new": "third"}) == 0


async def test_a_prepared_statement_inside_a_transaction_is_part_of_it(db):
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.fetch_val(INSERT, {"note": "rolled back", "at": None, "amount": 1})
            assert (await db.fetch_one(BY_NOTE, {"note": "rolled back"}))["amount"] == 1
            raise RuntimeError("abort")
    assert await db.fetch_one(BY_NOTE, {"note": "rolled back"}) is None


async def test_sqlite_waits_for_another_writer_off_the_event_loop(db, settings):
    if not db.is_sqlite:
        pytest.skip("the write lock of a file: SQLite only")
    other = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        write = asyncio.create_task(db.fetch_val(INSERT, {"note": "waited", "at": None, "amount": 2}))
        ticks = 0
        for _ in range(20):  # the loop keeps running while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not write.done()
        other.execute("COMMIT")
        assert isinstance(await asyncio.wait_for(write, 5), int)
    finally:
        other.close()
    assert (await db.fetch_one(BY_NOTE, {"note": "waited"}))["amount"] == 2
