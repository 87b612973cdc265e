"""The database handle and the clock every query agrees on.

`Database` puts SQLAlchemy's asyncio engine behind the five calls the app makes
(`fetch_one`, `fetch_all`, `fetch_val`, `execute`, `transaction`). Connections
are pooled and kept open; a statement outside a transaction autocommits on its
own, so it costs one round trip, and `transaction()` pins one connection to the
calling task until it commits or rolls back. A connection that dies inside a
transaction is thrown away rather than handed back to the pool, so the next
statement gets a fresh one.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.settings import Settings


def utcnow() -> dt.datetime:
    # Naive UTC: SQLite has no time zones, and both backends must compare alike.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def storable(text: str | None, limit: int) -> str:
    """Text as both backends can store it: PostgreSQL refuses NUL characters outright."""
    return (text or "").replace("\x00", "")[:limit]


def async_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Record(Mapping):
    """A result row read by column name (`row["state"]`) or, for a bare select, by position."""

    __slots__ = ("_row",)

    def __init__(self, row: sa.Row):
        self._row = row

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._row[key]
        return self._row._mapping[key]

    def __iter__(self):
        return iter(self._row._mapping)

    def __len__(self) -> int:
        return len(self._row)

    def __repr__(self) -> str:
        return f"Record({dict(self._row._mapping)!r})"


class _Open:
    """The transaction the current task is in: its connection and how deep it is nested."""

    def __init__(self, task: asyncio.Task | None, connection: AsyncConnection):
        self.task = task
        self.connection = connection
        self.depth = 0


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, timeout: float = 15.0):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        self._options: dict[str, Any] = dict(
            # Autocommit at the driver: a lone statement is its own transaction, and
            # `transaction()` says BEGIN itself (BEGIN IMMEDIATE on SQLite, below).
            isolation_level="AUTOCOMMIT", pool_size=pool_size, max_overflow=max_overflow, pool_timeout=timeout,
        )
        if self.is_sqlite:
            # Writers wait for each other instead of failing with "database is locked".
            self._options["connect_args"] = {"timeout": timeout}
        self._engine: AsyncEngine | None = None
        self._open: contextvars.ContextVar[_Open | None] = contextvars.ContextVar(f"db-{id(self)}", default=None)

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the database is not connected")
        return self._engine

    async def connect(self) -> None:
        if self._engine is not None:
            return
        self._engine = create_async_engine(async_url(self.url), **self._options)
        if self.is_sqlite:
            event.listen(self._engine.sync_engine, "connect", _sqlite_pragmas)

    async def disconnect(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    # --- statements -----------------------------------------------------------------

    def _current(self) -> _Open | None:
        # A task started inside a transaction inherits the context variable, but not
        # the right to use that connection: only the task that opened it may.
        current = self._open.get()
        if current is not None and current.task is asyncio.current_task():
            return current
        return None

    async def _run(self, query, values: Mapping | None = None) -> sa.CursorResult:
        statement = sa.text(query) if isinstance(query, str) else query
        current = self._current()
        if current is not None:
            return await current.connection.execute(statement, values)
        async with self.engine.connect() as connection:
            return await connection.execute(statement, values)

    async def fetch_all(self, query, values: Mapping | None = None) -> list[Record]:
        return [Record(row) for row in (await self._run(query, values)).all()]

    async def fetch_one(self, query, values: Mapping | None = None) -> Record | None:
        row = (await self._run(query, values)).first()
        return None if row is None else Record(row)

    async def fetch_val(self, query, values: Mapping | None = None) -> Any:
        row = (await self._run(query, values)).first()
        return None if row is None else row[0]

    async def execute(self, query, values: Mapping | None = None) -> Any:
        """Run a statement; for an INSERT, the new row's primary key."""
        result = await self._run(query, values)
        if result.context.isinsert and result.inserted_primary_key:
            return result.inserted_primary_key[0]
        return result.rowcount

    async def execute_many(self, query, values: list[Mapping]) -> None:
        if values:
            await self._run(query, values)

    # --- transactions ---------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        current = self._current()
        if current is not None:
            async with self._savepoint(current):
                yield
            return
        async with self.engine.connect() as connection:
            # Take SQLite's write lock up front: a deferred transaction that reads and then
            # writes can deadlock against another writer, and busy waiting cannot save it.
            await connection.exec_driver_sql("BEGIN IMMEDIATE" if self.is_sqlite else "BEGIN")
            opened = _Open(asyncio.current_task(), connection)
            token = self._open.set(opened)
            try:
                yield
            except BaseException:
                await _finish(connection, "ROLLBACK")
                raise
            else:
                await _finish(connection, "COMMIT", reraise=True)
            finally:
                self._open.reset(token)

    @asynccontextmanager
    async def _savepoint(self, current: _Open) -> AsyncIterator[None]:
        current.depth += 1
        name = f"sp_{current.depth}"
        await current.connection.exec_driver_sql(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await current.connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        else:
            await current.connection.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        finally:
            current.depth -= 1


async def _finish(connection: AsyncConnection, verb: str, *, reraise: bool = False) -> None:
    try:
        await connection.exec_driver_sql(verb)
    except BaseException:
        # The connection is in an unknown state (dead, or mid-transaction): never hand
        # it back to the pool, where the next user would inherit the open transaction.
        await connection.invalidate()
        if reraise:
            raise


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL (set once on the file by the migration) with NORMAL sync is durable across
    # process crashes; only an OS crash may drop the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_database(settings: Settings) -> Database:
    if settings.is_sqlite:
        # One file, one writer at a time: a single connection per process, so that the
        # process's statements queue for it in order instead of polling SQLite's lock.
        return Database(settings.database_url, pool_size=1, max_overflow=0)
    return Database(settings.database_url)


def sync_url(settings: Settings) -> str:
    """The URL for synchronous tools (Alembic): psycopg 3 on PostgreSQL."""
    if settings.database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + settings.database_url[len("postgresql://") :]
    return settings.database_url


def sync_engine(settings: Settings) -> sa.Engine:
    return sa.create_engine(sync_url(settings))
