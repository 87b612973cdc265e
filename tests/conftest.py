"""Shared fixtures: a migrated database per test on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import pytest

from app.data.db import sync_engine
from app.data.migrations import upgrade
from app.core.settings import Settings, normalize_database_url
from app.data.tables import metadata
from tests.utils import signalwire as sw
from tests.utils import telnyx as tx
from tests.utils import twilio as tw

BACKENDS = ["sqlite", "postgresql"]

SECRET_KEY = "test-secret-key"


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch):
    """Argon2 at its cheapest: real hashes, without a tenth of a second per account created."""
    from argon2 import PasswordHasher

    from app.core import security

    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(security, "_hasher", quick)
    monkeypatch.setattr(security, "_DUMMY_HASH", quick.hash("not a real password"))


@pytest.fixture(autouse=True)
def forget_cached_operator_data():
    """Each test starts from its database, not from what an earlier test's app remembered:
    on PostgreSQL every test uses one database URL."""
    from app.core import timed_cache

    timed_cache.clear_all()
    yield
    timed_cache.clear_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(Settings(database_url=f"sqlite:///{path}"))
    return path


# Tests whose verdict is a time taken by the wall clock (pacing to a provider's calls per second, a
# dispatcher on time while the loop is blocked, faults and restarts with deadlines): `make test` runs
# them alone after the rest, never beside other tests on the same cores.
SERIAL = (
    "tests/faults/",
    "tests/sandbox/test_load.py",
    "tests/calls/test_dispatch_thread.py",
    "tests/calls/test_dispatcher.py::test_the_dispatcher_paces_calls_to_the_provider_cps",
    "tests/calls/test_dispatcher.py::test_the_limit_holds_for_every_dispatcher_together",
    "tests/e2e/test_voice_e2e.py::test_calls_are_paced_to_the_providers_cps",
    # The carrier's clock runs 60 times faster than real time: a timer late by 100 ms on a loaded machine
    # is six seconds of the call.
    "tests/e2e/test_voice_e2e.py::test_the_carrier_ends_leg_a_at_the_time_limit_its_balance_covers",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(SERIAL):
            item.add_marker(pytest.mark.serial)


def _worker_database(url: str) -> str:
    """Under pytest-xdist, a database of the worker's own beside TEST_DATABASE_URL's (`test_gw0`, created
    when missing): each session empties its database first, so two must never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    import sqlalchemy as sa

    base = sa.engine.make_url(url)
    name = f"{base.database}_{worker}"
    server = sa.create_engine(base.set(drivername="postgresql+psycopg", database="postgres"),
                              isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        if not connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first():
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw:
        return None
    url = _worker_database(normalize_database_url(raw))
    engine = sync_engine(Settings(database_url=url))
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    upgrade(Settings(database_url=url))
    return url


def _truncate_postgres(url: str) -> None:
    engine = sync_engine(Settings(database_url=url))
    names = ", ".join(table.name for table in metadata.sorted_tables if table.name != "instance_settings")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        if url is None:
            pytest.skip("PostgreSQL: TEST_DATABASE_URL is not set (.ci/run sets it)")
        _truncate_postgres(url)
        return url
    path = tmp_path / "callback.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(
        database_url=database_url,
        twilio_account_sid=tw.ACCOUNT_SID,
        twilio_auth_token=tw.AUTH_TOKEN,
        twilio_api_base="https://api.twilio.com",
        # Required with real credentials: the provider signs, and is given, URLs on it.
        public_base_url="http://testserver",
        # The TestClient's host, and loopback for the tests that serve the app on a real socket.
        allowed_hosts=("testserver", "localhost", "127.0.0.1"),
        secret_key=SECRET_KEY,
        dispatch_delay_seconds=0,
        dispatcher_enabled=False,
        provider_cps=10_000,
        provider_timeout_seconds=2,
    )


@pytest.fixture
def engine(settings):
    engine = sync_engine(settings)
    yield engine
    engine.dispose()


# Every test's log output is written as production writes it (JSON, through the
# secret-scrubbing filter) and checked: no line may carry a PIN, password,
# API token, gateway secret or auth token.
KNOWN_SECRETS = {SECRET_KEY, tw.AUTH_TOKEN, sw.API_TOKEN, sw.SIGNING_KEY, tx.API_KEY, "482193", "735102",
                 "alice-password", "bob-password", "pass-word", "alice-demo-password", "a-long-password"}


class _SecretWatch(logging.Handler):
    def __init__(self):
        from pythonjsonlogger.json import JsonFormatter

        from app.core.logs import RedactSecrets

        super().__init__(level=logging.INFO)
        self.addFilter(RedactSecrets())
        self.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def no_secrets_in_logs(request):
    watch = _SecretWatch()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(watch)
    root.setLevel(logging.INFO)
    logging.getLogger("twilio").setLevel(logging.WARNING)
    logging.getLogger("vcr").setLevel(logging.WARNING)  # it logs whole cassettes
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        root.setLevel(previous)
    leaked = [line for line in watch.lines
              if any(secret in line for secret in KNOWN_SECRETS) or re.search(r"cbp_[A-Za-z0-9_-]{20,}", line)]
    assert not leaked, f"secrets in log lines: {leaked[:3]}"


@pytest.fixture
def lockout_clock(monkeypatch):
    """The clock app/fraud/lockouts.py reads failures by, moved by the test (tests/utils/clock.py)."""
    from app.fraud import lockouts
    from tests.utils.clock import LockoutClock

    clock = LockoutClock()
    monkeypatch.setattr(lockouts, "utcnow", clock)
    return clock


@pytest.fixture
def dialect(request, database_url) -> str:
    """The provider the sandbox carrier stands in for (tests/utils/live.py): Twilio unless a test asks for
    each with `EVERY_DIALECT`. The extra dialect runs on SQLite only: what differs is the protocol at the
    edge, not the database."""
    name = getattr(request, "param", "twilio")
    if name != "twilio" and not database_url.startswith("sqlite"):
        pytest.skip("the SignalWire dialect runs on SQLite; the database does not see the protocol")
    return name
