"""Databases for the benchmark: migrated, seeded, and (for the IVR step) filled with answered callbacks.

SQLite: one migrated and seeded template file, copied for each phase.
PostgreSQL: the database named by BENCH_DATABASE_URL is emptied (its `public`
schema dropped and recreated), migrated and seeded again for each phase, so
never point it at a database whose data you want to keep.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path

import sqlalchemy as sa

from app.data import accounts, rates, service_numbers
from app.core import security
from app.data.db import make_database, sync_engine, utcnow
from app.data.migrations import upgrade
from app.core.settings import Settings
from app.data.tables import accounts as accounts_t
from app.data.tables import call_legs, callback_requests
from bench import scenario as sc


def settings(url: str) -> Settings:
    return Settings(database_url=url, secret_key=sc.SECRET_KEY)


async def seed(url: str) -> None:
    """The benchmark's subscribers, access number and rates, through the data layer."""
    db = make_database(settings(url))
    await db.connect()
    try:
        first = await accounts.create_account(db, secret_key=sc.SECRET_KEY, login=sc.account_login(0),
                                              password="bench-password", pin=sc.account_pin(0), balance=sc.BALANCE)
        # The others share the first one's password hash: argon2 takes ~0.3 s an account.
        password_hash = await db.fetch_val(sa.select(accounts_t.c.password_hash).where(accounts_t.c.id == first))
        for index in range(1, sc.ACCOUNTS):
            await db.execute(accounts_t.insert().values(
                login=sc.account_login(index), password_hash=password_hash,
                pin_hash=security.pin_digest(sc.SECRET_KEY, sc.account_pin(index)), balance=sc.BALANCE,
                currency="USD", country="US", language="en", created_at=utcnow()))
        # Many callbacks of one account run at once here; retries are immediate (as in tests/utils/live.py).
        await db.execute(accounts_t.update().values(max_concurrent=1_000_000, retry_delay_seconds=0))
        await service_numbers.add_number(db, number=sc.PIN_NUMBER, mode="pin")
        await rates.set_rate(db, prefix="1", price_per_minute=10_000)
        await rates.set_rate(db, prefix="44", price_per_minute=50_000, increment=(30, 6))
    finally:
        await db.disconnect()


def _reset_postgres(url: str) -> None:
    engine = sync_engine(settings(url))
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


class Databases:
    """Hands out a fresh, seeded database per phase."""

    def __init__(self, backend: str, work_dir: Path, postgres_url: str | None = None):
        self.backend = backend
        self.work_dir = work_dir
        self.postgres_url = postgres_url
        self._template: Path | None = None
        self._count = 0

    def fresh(self) -> str:
        self._count += 1
        if self.backend == "postgresql":
            _reset_postgres(self.postgres_url)
            upgrade(settings(self.postgres_url))
            asyncio.run(seed(self.postgres_url))
            return self.postgres_url
        if self._template is None:
            self._template = self.work_dir / "template.db"
            url = f"sqlite:///{self._template}"
            upgrade(settings(url))
            asyncio.run(seed(url))
            engine = sync_engine(settings(url))
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
        path = self.work_dir / f"phase{self._count}.db"
        shutil.copy(self._template, path)
        return f"sqlite:///{path}"


def answered_callbacks(url: str, count: int, base_url: str, first_caller: int = 500_000) -> list[list]:
    """`count` callbacks whose leg A has just been answered and asked for a PIN.

    Written as the dispatcher and the first status callbacks would leave them:
    the request `a_answered` with its leg A sid, and leg A's call_legs row.
    Returns [id, leg A sid, leg A number, the PIN its caller types] for each.
    """
    now = utcnow()
    engine = sync_engine(settings(url))
    rows, legs, out = [], [], []
    for n in range(first_caller, first_caller + count):
        sid = sc.call_sid()
        number = sc.caller(n)
        rows.append(dict(
            trigger_kind="voice", trigger_id=sc.call_sid(), service_number=sc.PIN_NUMBER, mode="pin",
            caller_id=number, needs_pin=True, leg_a_number=number, leg_a_from=sc.PIN_NUMBER, state="a_answered",
            base_url=base_url, due_at=now, expires_at=now + dt.timedelta(seconds=600), attempts=1,
            claimed_at=now, leg_a_sid=sid, created_at=now, updated_at=now,
        ))
    with engine.begin() as connection:
        connection.execute(callback_requests.insert(), rows)
        ids = connection.execute(
            sa.select(callback_requests.c.id, callback_requests.c.leg_a_sid)
            .where(callback_requests.c.state == "a_answered").order_by(callback_requests.c.id)
        ).all()
        by_sid = {row["leg_a_sid"]: row for row in rows}
        for request_id, sid in ids:
            row = by_sid[sid]
            legs.append(dict(request_id=request_id, leg="a", provider_sid=sid, direction="outbound-api",
                             from_number=sc.PIN_NUMBER, to_number=row["leg_a_number"], status="in-progress",
                             last_sequence=2, started_at=now, answered_at=now))
            out.append([request_id, sid, row["leg_a_number"],
                        sc.account_pin(sc.caller_account(row["leg_a_number"]))])
        connection.execute(call_legs.insert(), legs)
    engine.dispose()
    return out
