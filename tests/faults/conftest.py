"""Fault tests: app processes killed, a failing provider, PostgreSQL restarted, two instances on one queue.

They run server processes against a database of their own (see tests/utils/databases.py).
"""

from __future__ import annotations

import pytest

from tests.utils.databases import database_url_for, isolated_postgres_url, postgres_or_skip, sqlite_copy

__all__ = ["isolated_postgres_url"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a fault or load test that takes several seconds (runs in CI)")


@pytest.fixture(params=["sqlite", "postgresql"])
def fault_db_url(request, tmp_path) -> str:
    """A migrated, empty database on each backend."""
    return database_url_for(request, tmp_path)


@pytest.fixture
def sqlite_fault_url(request, tmp_path) -> str:
    """For what does not depend on the backend: SQLite alone."""
    return sqlite_copy(request, tmp_path)


@pytest.fixture
def pg_fault_url(request) -> str:
    """PostgreSQL alone: several processes on one database, or a server restart. SQLite is one
    file behind one process and has no server to restart."""
    return postgres_or_skip(request, "needs PostgreSQL (several processes share one database server)")
