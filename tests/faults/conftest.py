"""Fault tests: app processes killed, a failing provider, PostgreSQL restarted, two instances on one queue.

They run server processes against a database of their own (see tests/utils/databases.py): on
PostgreSQL, on a server of the session's own where one can be started (tests/utils/private_postgres.py),
else in a database of their own on TEST_DATABASE_URL's server. The test that restarts PostgreSQL
restarts a private server of its own, never one that anything else uses.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest

from app.data.migrations import upgrade
from app.core.settings import Settings
from tests.utils import private_postgres
from tests.utils.databases import (
    isolated_postgres_url,
    private_postgres_or_skip,
    private_postgres_url,
    sqlite_copy,
)

__all__ = ["isolated_postgres_url", "private_postgres_url"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a fault or load test that takes several seconds (runs in CI)")


@pytest.fixture(params=["sqlite", "postgresql"])
def fault_db_url(request, tmp_path) -> str:
    """A migrated, empty database on each backend."""
    return private_postgres_or_skip(request) if request.param == "postgresql" else sqlite_copy(request, tmp_path)


@pytest.fixture
def sqlite_fault_url(request, tmp_path) -> str:
    """For what does not depend on the backend: SQLite alone."""
    return sqlite_copy(request, tmp_path)


@pytest.fixture
def pg_fault_url(request) -> str:
    """PostgreSQL alone: several processes on one database. SQLite is one file behind one process."""
    return private_postgres_or_skip(request, "needs PostgreSQL (several processes share one database server)")


class PrivateDatabase(NamedTuple):
    server: private_postgres.PrivatePostgres
    url: str


@pytest.fixture
def private_pg():
    """A migrated database on a PostgreSQL server of the test's own, which it may restart or kill.

    Runs with the other PostgreSQL variants (when TEST_DATABASE_URL is set), though it does not use
    that server; stopped and removed afterwards, whatever the test did to it."""
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("PostgreSQL: TEST_DATABASE_URL is not set (.ci/run sets it)")
    reason = private_postgres.unavailable()
    if reason is not None:
        pytest.skip(f"needs a private PostgreSQL server to restart: {reason}")
    with private_postgres.private_postgres() as server:
        url = server.create_database("faults")
        upgrade(Settings(database_url=url))
        yield PrivateDatabase(server, url)

