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
  pool, checked on checkout without a round trip (a connection a restart
  killed while idle is replaced, not handed out: `_closed_is_replaced`). Autocommit at the driver and no reset on return:
  `transaction()` says BEGIN and COMMIT/ROLLBACK itself, so a connection goes
  back to the pool outside any transaction, or is invalidated.
- SQLite: the `sqlite3` module on one connection per `Database`, used on the
  thread of its event loop. A statement costs its own tens of microseconds; a
  hand-off to a thread of its own and back (as this module once made, and
  SQLAlchemy's aiosqlite adapter makes three or four of) costs several times
  that. One connection, because SQLite has one writer at a time: the statements
  of a `Database` queue for it in order, and a transaction holds it until it
  ends. A process has one for its web handlers and, with DISPATCHER on, one for
  the dispatcher's event loop (app/calls/dispatch_thread.py): a `Database` is
  used from one event loop only. The write lock of another process, or of the
  process's other `Database`, is waited for between tries, never in SQLite's
  busy handler, which would block the loop (`_InlineLink`). A long statement
  does hold the loop: SQLite is for one machine's modest traffic, PostgreSQL
  for production.

The webhooks' own statements are `Prepared`: built once at import, compiled
once per backend, and run by the driver itself, on SQLite's connection or, on
PostgreSQL outside a transaction, an asyncpg pool of the `Database`'s own, its
statements prepared once per connection. A SQLAlchemy statement pays for its
execution machinery each time (building the statement, its cache key, the
execution context, the result): several times a SQLite statement's own cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import sqlite3
import time
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
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


class Prepared:
    """A statement built once (its values `sa.bindparam`s) whose SQL is compiled once per backend.

    `Database.fetch_one/fetch_all/fetch_val/execute` run it through the driver
    with the bound values converted as SQLAlchemy would (dates on SQLite are text),
    and read its columns with the column types' result processors, so a row reads
    the same as one SQLAlchemy returns.
    """

    __slots__ = ("statement", "_forms")

    def __init__(self, statement):
        self.statement = statement
        self._forms: dict[str, _Form] = {}

    def form(self, dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None:
            form = self._forms[dialect.name] = _Form(self.statement, dialect)
        return form


class _Form:
    """A Prepared statement for one backend: its SQL, and how each positional parameter is made from the
    values given (a value by name, or a literal the statement holds) and converted for the driver."""

    __slots__ = ("sql", "params", "columns", "readers")

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.params = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            convert = _fast_binder(bind.type, dialect) or bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.callable is not None:
                raise ValueError(f"{name}: a Prepared statement's values are given, not computed")
            # (name, a literal of the statement's own, is it one, its converter)
            self.params.append((bind.key, bind.value, not bind.required, convert))
        exported = list(getattr(statement, "exported_columns", ()) or ())
        self.columns = [getattr(c, "key", None) or getattr(c, "name", None) or f"_{i}" for i, c in enumerate(exported)]
        self.readers = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in exported]

    def args(self, values: Mapping | None) -> list:
        values = values or {}
        out = []
        for key, literal, is_literal, convert in self.params:
            value = literal if is_literal else values[key]
            out.append(value if convert is None or value is None else convert(value))
        return out

    def row(self, raw) -> dict:
        return {name: value if read is None or value is None else read(value)
                for name, value, read in zip(self.columns, raw, self.readers)}


def _sqlite_datetime(value):
    # The text SQLAlchemy's SQLite DATETIME stores ("2026-12-05 01:02:03.000004"), without its
    # dict-formatting: a naive datetime only, anything else as SQLAlchemy converts it.
    if type(value) is dt.datetime and value.tzinfo is None:
        return value.isoformat(" ", "microseconds")
    return _SQLITE_DATETIME(value)


_SQLITE_DATETIME = None


def _fast_binder(type_, dialect):
    """A quicker converter than SQLAlchemy's for the one type every statement binds: SQLite's dates."""
    global _SQLITE_DATETIME
    if dialect.name == "sqlite" and isinstance(type_, sa.DateTime):
        impl = type_.dialect_impl(dialect)
        if "_storage_format" not in vars(impl):  # SQLAlchemy's default text, which the above writes
            _SQLITE_DATETIME = _SQLITE_DATETIME or impl.bind_processor(dialect)
            return _sqlite_datetime
    return None


class _Link:
    """One open connection and the way statements reach it: `run(work)` calls
    `work(connection)` with a synchronous SQLAlchemy connection; `verb(sql)` says
    BEGIN, COMMIT and the like."""

    async def run(self, work: Callable[[sa.Connection], T]) -> T:
        raise NotImplementedError

    async def verb(self, sql: str) -> None:
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
        self._driver = None

    async def run(self, work):
        return await self.connection.run_sync(work)

    async def driver(self):
        """The asyncpg connection itself: what a transaction's `Prepared` statements, BEGIN and COMMIT run on,
        without SQLAlchemy's execution machinery (in autocommit it keeps no state of its own to disturb)."""
        if self._driver is None:
            self._driver = (await self.connection.get_raw_connection()).driver_connection
        return self._driver

    async def verb(self, sql: str) -> None:
        await (await self.driver()).execute(sql)

    @property
    def broken(self) -> bool:
        return self.connection.invalidated or self.connection.closed

    async def invalidate(self) -> None:
        await self.connection.invalidate()

    async def close(self) -> None:
        await self.connection.close()


class _InlineLink(_Link):
    """SQLite's connection, used on the event loop's own thread.

    A statement costs its own time only (tens of microseconds), where a hand-off to
    a thread and back cost several times that. It never waits in SQLite's busy
    handler, which sleeps and would block the loop: a statement that finds the
    file's write lock taken by another process fails at once, and is tried again
    after an asyncio sleep, the loop serving others meanwhile, for `timeout`
    seconds at most. Only a statement that changed nothing fails that way (a lone
    statement, or BEGIN IMMEDIATE: inside a transaction the lock is already ours).
    """

    def __init__(self, connection: sa.Connection, timeout: float):
        self.connection, self.timeout = connection, timeout

    async def run(self, work):
        waited = 0.0
        for attempt in itertools.count():
            try:
                return work(self.connection)
            except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
                if not _busy(getattr(error, "orig", None) or error) or waited >= self.timeout:
                    raise
            pause = BUSY_PAUSES[min(attempt, len(BUSY_PAUSES) - 1)]
            await asyncio.sleep(pause)
            waited += pause

    async def verb(self, sql: str) -> None:
        await self.run(_sql(sql))

    @property
    def broken(self) -> bool:
        return self.connection.invalidated or self.connection.closed

    async def invalidate(self) -> None:
        self.connection.invalidate()

    async def close(self) -> None:
        self.connection.close()


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
        # SQLite: the process's one connection, and the turn to use it (a transaction holds it throughout).
        self._link: _InlineLink | None = None
        self._turn: asyncio.Semaphore | None = None
        self._checkpointed = 0.0  # monotonic time of the last checkpoint of SQLite's log
        self._open: contextvars.ContextVar[_Open | None] = contextvars.ContextVar(f"db-{id(self)}", default=None)
        # PostgreSQL: the asyncpg pool `Prepared` statements run on outside a transaction.
        self._raw_pool = None

    async def connect(self) -> None:
        if self._engine is not None:
            return
        # Autocommit at the driver: a lone statement is its own transaction, and
        # `transaction()` says BEGIN itself (BEGIN IMMEDIATE on SQLite, below).
        if self.is_sqlite:
            # No busy timeout: a statement that finds the write lock taken fails at once, and
            # `_InlineLink` tries it again without blocking the loop. The connection is kept
            # here (one connection: no pool to keep it in); the log is checkpointed off the
            # loop's thread (`_checkpoint_soon`), never by a commit on it.
            self._engine = sa.create_engine(
                self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                connect_args={"timeout": 0, "check_same_thread": False})
            event.listen(self._engine, "connect", _sqlite_pragmas)
            event.listen(self._engine, "connect", _no_autocheckpoint)
            self._turn = asyncio.Semaphore(1)
        else:
            # No reset on return: under autocommit a rollback there would only cost a
            # round trip, and a connection that may still be inside a transaction is
            # invalidated by `_borrow` or `_finish`, never returned.
            self._engine = create_async_engine(
                async_url(self.url), isolation_level="AUTOCOMMIT", pool_size=self.pool_size,
                max_overflow=self.max_overflow, pool_timeout=self.timeout, pool_reset_on_return=None)
            event.listen(self._engine.sync_engine, "checkout", _closed_is_replaced)
            # Its statements are single autocommitted ones that leave no state on the connection,
            # so nothing is reset when it goes back (asyncpg's reset would cost a round trip each).
            self._raw_pool = await asyncpg.create_pool(
                _plain_url(self.url), min_size=1, max_size=self.pool_size, reset=_no_reset,
                command_timeout=self.timeout)

    async def disconnect(self) -> None:
        if self._engine is None:
            return
        link, self._link = self._link, None
        if link is not None:
            await _close_quietly(link)
        pool, self._raw_pool = self._raw_pool, None
        if pool is not None:
            await pool.close()
        if isinstance(self._engine, AsyncEngine):
            await self._engine.dispose()
        else:
            self._engine.dispose()
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
        """The process's one SQLite connection, once its turn comes; reopened if it broke."""
        if self._turn.locked():
            async with asyncio.timeout(self.timeout):
                await self._turn.acquire()
        else:
            await self._turn.acquire()  # free: taken without suspending
        try:
            if self._link is None:
                self._link = _InlineLink(self._engine.connect(), self.timeout)
            yield self._link
        finally:
            if self._link is not None and self._link.broken:
                link, self._link = self._link, None
                await _close_quietly(link)
            self._turn.release()
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        """Copy SQLite's log into the file at most once every CHECKPOINT_SECONDS, on a thread of the
        loop's executor with a connection of its own: a checkpoint is file I/O, and may take milliseconds."""
        now = time.monotonic()
        if now - self._checkpointed >= CHECKPOINT_SECONDS:
            self._checkpointed = now
            path = _sqlite_path(self.url)
            if path is not None:
                asyncio.get_running_loop().run_in_executor(None, _checkpoint, path)

    # --- statements -----------------------------------------------------------------

    def _current(self) -> _Open | None:
        # A task started inside a transaction inherits the context variable, but not
        # the right to use that connection: only the task that opened it may.
        current = self._open.get()
        if current is not None and current.task is asyncio.current_task():
            return current
        return None

    def in_transaction(self) -> bool:
        """Whether the calling task is inside a `transaction()` of this database."""
        return self._current() is not None

    async def _run(self, work: Callable[[sa.Connection], T]) -> T:
        current = self._current()
        if current is not None:
            return await current.link.run(work)
        link = self._link
        if link is not None and not self._turn.locked() and not link.broken:
            # SQLite's connection, free: the short way of `_sqlite()`, most statements' way.
            await self._turn.acquire()  # free: taken without suspending
            try:
                return await link.run(work)
            finally:
                self._turn.release()
                if link.broken:
                    self._link = None
                    await _close_quietly(link)
                self._checkpoint_soon()
        async with self._borrow() as link:
            return await link.run(work)

    async def _prepared(self, prepared: Prepared, values: Mapping | None, how: str):
        """Run a `Prepared` statement: `how` is rows, row, value or count."""
        if self._engine is None:
            raise RuntimeError("the database is not connected")
        if self._raw_pool is not None and self._current() is None:
            form = prepared.form(_ASYNCPG)
            # A timeout costs asyncpg a task of its own (wait_for); it only matters when none is idle.
            pool = self._raw_pool
            async with pool.acquire(timeout=None if pool.get_idle_size() else self.timeout) as connection:
                if how == "count":
                    return _rowcount(await connection.execute(form.sql, *form.args(values)))
                raw = await connection.fetch(form.sql, *form.args(values))
            return _shaped(form, raw, how)
        if self.is_sqlite:
            form = prepared.form(self._engine.dialect)

            def run(c: sa.Connection):
                cursor = c.connection.dbapi_connection.execute(form.sql, form.args(values))
                if how == "count":
                    return cursor.rowcount
                return _shaped(form, cursor.fetchall(), how)

            return await self._run(run)
        # PostgreSQL inside a transaction: on the transaction's own connection, by asyncpg itself.
        form = prepared.form(_ASYNCPG)
        connection = await self._current().link.driver()
        if how == "count":
            return _rowcount(await connection.execute(form.sql, *form.args(values)))
        return _shaped(form, await connection.fetch(form.sql, *form.args(values)), how)

    async def fetch_all(self, query, values: Mapping | None = None) -> list[Record]:
        if isinstance(query, Prepared):
            return await self._prepared(query, values, "rows")
        statement = _statement(query)
        return await self._run(lambda c: [Record(row) for row in c.execute(statement, values).all()])

    async def fetch_one(self, query, values: Mapping | None = None) -> Record | None:
        if isinstance(query, Prepared):
            return await self._prepared(query, values, "row")
        statement = _statement(query)

        def first(c: sa.Connection) -> Record | None:
            row = c.execute(statement, values).first()
            return None if row is None else Record(row)

        return await self._run(first)

    async def fetch_val(self, query, values: Mapping | None = None) -> Any:
        if isinstance(query, Prepared):
            return await self._prepared(query, values, "value")
        statement = _statement(query)

        def value(c: sa.Connection) -> Any:
            row = c.execute(statement, values).first()
            return None if row is None else row[0]

        return await self._run(value)

    async def execute(self, query, values: Mapping | None = None) -> Any:
        """Run a statement; for an INSERT, the new row's primary key (a `Prepared` one: the rows it changed)."""
        if isinstance(query, Prepared):
            return await self._prepared(query, values, "count")
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
            # A BEGIN that failed, or was cancelled while it waited for the lock, opened nothing: SQLite's is
            # tried on the loop's thread (the lock is waited for between tries), and asyncpg's `_borrow`
            # throws a cancelled connection away.
            await link.verb("BEGIN IMMEDIATE" if self.is_sqlite else "BEGIN")
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
            await self.execute(_ADVISORY_LOCK, {"key": key})

    @asynccontextmanager
    async def _savepoint(self, current: _Open) -> AsyncIterator[None]:
        current.depth += 1
        name = f"sp_{current.depth}"
        await current.link.verb(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await current.link.verb(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        else:
            await current.link.verb(f"RELEASE SAVEPOINT {name}")
        finally:
            current.depth -= 1


_ASYNCPG = postgresql_asyncpg.dialect()
_ADVISORY_LOCK = Prepared(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("key"), 0))))


def _closed_is_replaced(_dbapi_connection, record, _proxy) -> None:
    """Instead of a pre-ping (a round trip on every checkout): a pooled connection whose server end
    went away while it sat idle (a restart, a terminated backend, an idle timeout) has been seen to
    close by asyncpg, whose socket the event loop keeps reading; the pool replaces it, as SQLAlchemy
    does for a DisconnectionError raised here."""
    if record.driver_connection.is_closed():
        raise sa.exc.DisconnectionError("the server closed this pooled connection")


async def _no_reset(connection) -> None:
    return None


def _plain_url(url: str) -> str:
    """asyncpg's own DSN: postgresql://, whatever driver the URL names for SQLAlchemy."""
    return "postgresql://" + url.split("://", 1)[1]


def _rowcount(status: str) -> int:
    """The rows an asyncpg command changed, from its status ("UPDATE 3", "INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0


def _shaped(form: _Form, raw: list, how: str):
    if how == "rows":
        return [form.row(each) for each in raw]
    if not raw:
        return None
    return form.row(raw[0]) if how == "row" else form.row(raw[0])[form.columns[0]]


def _statement(query):
    return sa.text(query) if isinstance(query, str) else query


def _sql(text: str) -> Callable[[sa.Connection], None]:
    def run(connection: sa.Connection) -> None:
        if connection.dialect.name == "sqlite":
            connection.connection.dbapi_connection.execute(text)  # BEGIN, COMMIT: nothing for SQLAlchemy to do
        else:
            connection.exec_driver_sql(text)

    return run


async def _finish(link: _Link, verb: str, *, reraise: bool = False) -> None:
    try:
        await link.verb(verb)
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


CHECKPOINT_SECONDS = 1.0  # at most this often SQLite's log is copied into the database file
# Seconds between the tries of a SQLite statement that found the write lock taken by another process.
BUSY_PAUSES = (0, 0, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016)


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL; None for an in-memory database, which another connection would not see."""
    path = sa.engine.make_url(url).database
    return path if path and path != ":memory:" and not path.startswith("file:") else None


def _busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and (
        getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        or "locked" in str(error))


def _checkpoint(path: str) -> None:
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=5, isolation_level=None)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # the next one will do


def _no_autocheckpoint(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL (set once on the file by the migration) with NORMAL sync is durable across
    # process crashes; only an OS crash may drop the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_database(settings: Settings, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
    """A handle on the configured database; on PostgreSQL its pool holds `pool_size` connections, and
    lends up to `max_overflow` more at a peak, and its pool for prepared statements keeps up to `pool_size`
    (SQLite: one connection, whatever they say)."""
    return Database(settings.database_url, pool_size=pool_size, max_overflow=max_overflow)


def sync_url(settings: Settings) -> str:
    """The URL for synchronous tools (Alembic): psycopg 3 on PostgreSQL."""
    if settings.database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + settings.database_url[len("postgresql://") :]
    return settings.database_url


def sync_engine(settings: Settings) -> sa.Engine:
    return sa.create_engine(sync_url(settings))
