"""The database handle and the clock every query agrees on.

`Database` gives the app five calls (`fetch_one`, `fetch_all`, `fetch_val`,
`execute`, `transaction`) over SQLAlchemy Core statements. It lends one
connection per statement; a statement outside a transaction autocommits on its
own, so it costs one round trip, and `transaction()` pins one connection to the
calling task until it commits or rolls back. A connection that fails to commit
or roll back, or whose task is cancelled mid-statement, is invalidated, so the
next statement gets a fresh one.

How a statement reaches its connection is the one difference between the
backends, and it is most of the cost of a statement:

- PostgreSQL: asyncpg through SQLAlchemy's asyncio engine and its connection
  pool, pre-pinged on checkout (a connection a restart killed while idle is
  replaced, not handed out). Autocommit at the driver and no reset on return:
  `transaction()` says BEGIN and COMMIT/ROLLBACK itself, so a connection goes
  back to the pool outside any transaction, or is invalidated.
- SQLite: the `sqlite3` module on one connection per `Database`, used only from
  one thread of its own, one hand-off per statement (SQLAlchemy's aiosqlite
  adapter makes three or four per statement, and its pool a rollback per use).
  One connection, because SQLite has one writer at a time: the statements of
  a `Database` queue for it in order instead of polling the file's lock. A
  process has one for its web handlers and, with DISPATCHER on, one for the
  dispatcher's event loop (app/calls/dispatch_thread.py): a `Database` is
  used from one event loop only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.settings import Settings

T = TypeVar("T")


def utcnow() -> dt.datetime:
    # Naive UTC: SQLite has no time zones, and both backends must compare alike.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def storable(text: str | None, limit: int) -> str:
    """Text as both backends can store it: PostgreSQL refuses NUL characters outright."""
    return (text or "").replace("\x00", "")[:limit]


def async_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
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


class _Link:
    """One open connection and the way statements reach it: `run(work)` calls
    `work(connection)` with a synchronous SQLAlchemy connection."""

    async def run(self, work: Callable[[sa.Connection], T]) -> T:
        raise NotImplementedError

    @property
    def broken(self) -> bool:
        raise NotImplementedError

    async def invalidate(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _AsyncLink(_Link):
    def __init__(self, connection: AsyncConnection):
        self.connection = connection

    async def run(self, work):
        return await self.connection.run_sync(work)

    @property
    def broken(self) -> bool:
        return self.connection.invalidated or self.connection.closed

    async def invalidate(self) -> None:
        await self.connection.invalidate()

    async def close(self) -> None:
        await self.connection.close()


class _ThreadLink(_Link):
    def __init__(self, connection: sa.Connection, thread: concurrent.futures.Executor):
        self.connection, self.thread = connection, thread

    async def run(self, work):
        return await asyncio.get_running_loop().run_in_executor(self.thread, work, self.connection)

    @property
    def broken(self) -> bool:
        return self.connection.invalidated or self.connection.closed

    async def invalidate(self) -> None:
        await self.run(lambda connection: connection.invalidate())

    async def close(self) -> None:
        await self.run(lambda connection: connection.close())


class _Open:
    """The transaction the current task is in: its connection and how deep it is nested."""

    def __init__(self, task: asyncio.Task | None, link: _Link):
        self.task = task
        self.link = link
        self.depth = 0


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, max_overflow: int = 10, timeout: float = 15.0):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        self.pool_size, self.max_overflow = pool_size, max_overflow
        self.size = 1 if self.is_sqlite else pool_size + max_overflow
        self.timeout = timeout
        self._engine: AsyncEngine | sa.Engine | None = None
        # SQLite: the process's one connection, its thread, and the turn to use it.
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._link: _ThreadLink | None = None
        self._turn: asyncio.Semaphore | None = None
        self._open: contextvars.ContextVar[_Open | None] = contextvars.ContextVar(f"db-{id(self)}", default=None)

    async def connect(self) -> None:
        if self._engine is not None:
            return
        # Autocommit at the driver: a lone statement is its own transaction, and
        # `transaction()` says BEGIN itself (BEGIN IMMEDIATE on SQLite, below).
        if self.is_sqlite:
            # Writers of other processes wait for each other instead of failing with
            # "database is locked"; the connection is used from its thread only, and
            # kept here (one connection: no pool to keep it in).
            self._engine = sa.create_engine(
                self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                connect_args={"timeout": self.timeout, "check_same_thread": False})
            event.listen(self._engine, "connect", _sqlite_pragmas)
            self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite")
            self._turn = asyncio.Semaphore(1)
        else:
            # No reset on return: under autocommit a rollback there would only cost a
            # round trip, and a connection that may still be inside a transaction is
            # invalidated by `_borrow` or `_finish`, never returned.
            self._engine = create_async_engine(
                async_url(self.url), isolation_level="AUTOCOMMIT", pool_size=self.pool_size,
                max_overflow=self.max_overflow, pool_timeout=self.timeout, pool_pre_ping=True,
                pool_reset_on_return=None)

    async def disconnect(self) -> None:
        if self._engine is None:
            return
        link, self._link = self._link, None
        if link is not None:
            await _close_quietly(link)
        if isinstance(self._engine, AsyncEngine):
            await self._engine.dispose()
        else:
            self._engine.dispose()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        self._engine = None
        self._turn = None

    @asynccontextmanager
    async def _borrow(self) -> AsyncIterator[_Link]:
        if self._engine is None:
            raise RuntimeError("the database is not connected")
        if isinstance(self._engine, AsyncEngine):
            async with self._pooled(self._engine) as link:
                yield link
        else:
            async with self._sqlite() as link:
                yield link

    @asynccontextmanager
    async def _pooled(self, engine: AsyncEngine) -> AsyncIterator[_Link]:
        """A connection from the pool (waiting at most `timeout` for one), given back after use."""
        link = _AsyncLink(await engine.connect())
        keep = True
        try:
            yield link
        except asyncio.CancelledError:
            # asyncpg cannot tell where a cancelled statement left its connection.
            keep = False
            raise
        finally:
            await _close_quietly(link, invalidate=not keep)

    @asynccontextmanager
    async def _sqlite(self) -> AsyncIterator[_Link]:
        """The process's one SQLite connection, once its turn comes; reopened if it broke.
        A cancelled task leaves it fine: the thread finishes the statement."""
        async with asyncio.timeout(self.timeout):
            await self._turn.acquire()
        try:
            if self._link is None:
                connection = await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.connect)
                self._link = _ThreadLink(connection, self._thread)
            yield self._link
        finally:
            if self._link is not None and self._link.broken:
                link, self._link = self._link, None
                await _close_quietly(link)
            self._turn.release()

    # --- statements -----------------------------------------------------------------

    def _current(self) -> _Open | None:
        # A task started inside a transaction inherits the context variable, but not
        # the right to use that connection: only the task that opened it may.
        current = self._open.get()
        if current is not None and current.task is asyncio.current_task():
            return current
        return None

    async def _run(self, work: Callable[[sa.Connection], T]) -> T:
        current = self._current()
        if current is not None:
            return await current.link.run(work)
        async with self._borrow() as link:
            return await link.run(work)

    async def fetch_all(self, query, values: Mapping | None = None) -> list[Record]:
        statement = _statement(query)
        return await self._run(lambda c: [Record(row) for row in c.execute(statement, values).all()])

    async def fetch_one(self, query, values: Mapping | None = None) -> Record | None:
        statement = _statement(query)

        def first(c: sa.Connection) -> Record | None:
            row = c.execute(statement, values).first()
            return None if row is None else Record(row)

        return await self._run(first)

    async def fetch_val(self, query, values: Mapping | None = None) -> Any:
        statement = _statement(query)

        def value(c: sa.Connection) -> Any:
            row = c.execute(statement, values).first()
            return None if row is None else row[0]

        return await self._run(value)

    async def execute(self, query, values: Mapping | None = None) -> Any:
        """Run a statement; for an INSERT, the new row's primary key."""
        statement = _statement(query)

        def run(c: sa.Connection) -> Any:
            result = c.execute(statement, values)
            if result.context.isinsert and result.inserted_primary_key:
                return result.inserted_primary_key[0]
            return result.rowcount

        return await self._run(run)

    async def execute_many(self, query, values: list[Mapping]) -> None:
        if values:
            statement = _statement(query)
            await self._run(lambda c: c.execute(statement, values))

    # --- transactions ---------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        current = self._current()
        if current is not None:
            async with self._savepoint(current):
                yield
            return
        async with self._borrow() as link:
            # Take SQLite's write lock up front: a deferred transaction that reads and then
            # writes can deadlock against another writer, and busy waiting cannot save it.
            try:
                await link.run(_sql("BEGIN IMMEDIATE" if self.is_sqlite else "BEGIN"))
            except BaseException:
                # Cancelled (or failed) while BEGIN waited for the write lock. SQLite's thread
                # still runs the BEGIN to its end, and the connection (the process's only one)
                # would go back to the pool inside a transaction nobody owns: every later
                # BEGIN would fail. Queue its end on that thread, right behind the BEGIN.
                # (asyncpg: `_borrow` throws a cancelled connection away, and a failed BEGIN
                # opened nothing.)
                if isinstance(link, _ThreadLink):
                    def end_orphan(connection: sa.Connection) -> None:
                        try:
                            if connection.connection.dbapi_connection.in_transaction:
                                connection.exec_driver_sql("ROLLBACK")
                        except Exception:
                            connection.invalidate()  # state unknown: `_borrow` throws it away

                    ended = asyncio.get_running_loop().run_in_executor(link.thread, end_orphan, link.connection)
                    await asyncio.shield(ended)
                raise
            opened = _Open(asyncio.current_task(), link)
            token = self._open.set(opened)
            try:
                yield
            except BaseException:
                await _finish(link, "ROLLBACK")
                raise
            else:
                await _finish(link, "COMMIT", reraise=True)
            finally:
                self._open.reset(token)

    async def lock(self, *keys: str) -> None:
        """Hold `keys` until the current transaction ends, so that a count and the insert it
        allows cannot interleave with another transaction's (caps that hold under races).

        PostgreSQL: transaction-level advisory locks, taken in sorted order so that two
        transactions locking overlapping keys cannot deadlock. SQLite: nothing to take,
        `transaction()` already holds the database's one write lock (BEGIN IMMEDIATE).
        """
        if self._current() is None:
            raise RuntimeError("lock() is for use inside transaction()")
        if not self.is_postgres:
            return
        for key in sorted(set(keys)):
            await self.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))

    @asynccontextmanager
    async def _savepoint(self, current: _Open) -> AsyncIterator[None]:
        current.depth += 1
        name = f"sp_{current.depth}"
        await current.link.run(_sql(f"SAVEPOINT {name}"))
        try:
            yield
        except BaseException:
            await current.link.run(_sql(f"ROLLBACK TO SAVEPOINT {name}"))
            raise
        else:
            await current.link.run(_sql(f"RELEASE SAVEPOINT {name}"))
        finally:
            current.depth -= 1


def _statement(query):
    return sa.text(query) if isinstance(query, str) else query


def _sql(text: str) -> Callable[[sa.Connection], None]:
    def run(connection: sa.Connection) -> None:
        connection.exec_driver_sql(text)

    return run


async def _finish(link: _Link, verb: str, *, reraise: bool = False) -> None:
    try:
        await link.run(_sql(verb))
    except BaseException:
        # The connection is in an unknown state (dead, or mid-transaction): never lend
        # it again, where the next user would inherit the open transaction.
        await _close_quietly(link, invalidate=True)
        if reraise:
            raise


async def _close_quietly(link: _Link, *, invalidate: bool = False) -> None:
    try:
        if invalidate:
            await link.invalidate()
        else:
            await link.close()
    except Exception:
        pass  # it is being thrown away because it is broken


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL (set once on the file by the migration) with NORMAL sync is durable across
    # process crashes; only an OS crash may drop the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_database(settings: Settings, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
    """A handle on the configured database; on PostgreSQL its pool holds `pool_size` connections,
    and lends up to `max_overflow` more at a peak (SQLite: one connection, whatever they say)."""
    return Database(settings.database_url, pool_size=pool_size, max_overflow=max_overflow)


def sync_url(settings: Settings) -> str:
    """The URL for synchronous tools (Alembic): psycopg 3 on PostgreSQL."""
    if settings.database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + settings.database_url[len("postgresql://") :]
    return settings.database_url


def sync_engine(settings: Settings) -> sa.Engine:
    return sa.create_engine(sync_url(settings))
