"""Databases of their own for tests that run dispatchers (fault, replay and fuzz tests).

These tests run dispatchers (in-process or as server processes) that claim any due request
in their database. On the database the rest of the suite shares, a dispatcher of another test
session would dial their rows and they ours, and a TRUNCATE between two of their tests would
pull rows from under ours. So on PostgreSQL they get a database of their own, named after
TEST_DATABASE_URL's and this process, created and migrated once per session and dropped after
it; on SQLite, a copy of the migrated template.

The fault tests go further where they can: a PostgreSQL server of the session's own
(`private_postgres_url`, tests/utils/private_postgres.py), which no other session shares, and
which does not sync to disk (their load runs twice as fast as on a shared, durable server).
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.data.db import sync_engine
from app.data.migrations import upgrade
from app.core.settings import Settings, normalize_database_url
from app.data.tables import metadata
from tests.utils import private_postgres

_lock = threading.Lock()
_shared = {"url": None, "users": 0}


def _admin(url: str) -> sa.Engine:
    target = make_url("postgresql+psycopg://" + url.split("://", 1)[1]).set(database="postgres")
    return sa.create_engine(target, isolation_level="AUTOCOMMIT")


def _create(base: str) -> str:
    name = f"{make_url(base).database or 'test'}_isolated_{os.getpid()}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    admin = _admin(base)
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.DBAPIError as exc:
        pytest.fail(f"cannot create the isolated test database {name}: {exc}")
    finally:
        admin.dispose()
    upgrade(Settings(database_url=url))
    return url


def _drop(url: str) -> None:
    name = make_url(url).database
    admin = _admin(url)
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except sa.exc.DBAPIError:
        pass  # the server is gone already: nothing left to drop
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def isolated_postgres_url():
    """The session's own PostgreSQL database, or None without TEST_DATABASE_URL."""
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        yield None
        return
    with _lock:
        if _shared["url"] is None:
            _shared["url"] = _create(normalize_database_url(raw))
        _shared["users"] += 1
    try:
        yield _shared["url"]
    finally:
        with _lock:
            _shared["users"] -= 1
            if _shared["users"] == 0:
                _drop(_shared["url"])
                _shared["url"] = None


@pytest.fixture(scope="session")
def private_postgres_url():
    """A migrated database on a PostgreSQL server of the session's own, or None: without
    TEST_DATABASE_URL (PostgreSQL runs are off), or where no private server can be had."""
    if not os.environ.get("TEST_DATABASE_URL") or private_postgres.unavailable() is not None:
        yield None
        return
    with private_postgres.private_postgres() as server:
        url = server.create_database("tests")
        upgrade(Settings(database_url=url))
        yield url


def truncate(url: str) -> None:
    engine = sync_engine(Settings(database_url=url))
    names = ", ".join(t.name for t in metadata.sorted_tables if t.name != "instance_settings")
    with engine.begin() as c:
        c.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


def postgres_or_skip(request, why: str = "PostgreSQL") -> str:
    url = request.getfixturevalue("isolated_postgres_url")
    if url is None:
        pytest.skip(f"{why}: TEST_DATABASE_URL is not set (.ci/run sets it)")
    truncate(url)
    return url


def private_postgres_or_skip(request, why: str = "PostgreSQL") -> str:
    """An emptied database on the session's private PostgreSQL server, else on TEST_DATABASE_URL's."""
    url = request.getfixturevalue("private_postgres_url")
    if url is None:
        return postgres_or_skip(request, why)
    truncate(url)
    return url


def sqlite_copy(request, tmp_path) -> str:
    path = tmp_path / "isolated.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


def database_url_for(request, tmp_path) -> str:
    """For a fixture parametrized over ["sqlite", "postgresql"]."""
    return postgres_or_skip(request) if request.param == "postgresql" else sqlite_copy(request, tmp_path)
