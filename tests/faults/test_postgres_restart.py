"""PostgreSQL restarted in the middle of the load: the app recovers, no accepted request is lost,
none is dialled twice. Triggers refused during the outage are re-sent, as the provider does.

The dispatcher is one long-lived task. When its connection dies inside a transaction (a restart
catches it there sooner or later), `databases` never gives that task a working connection again
(Transaction.rollback raises on the dead connection before the connection's use count is
decremented, so the task keeps the dead connection) and nothing is dialled any more. Both tests
here make sure the dispatcher is inside a transaction when its connection dies, so that this
happens every time rather than now and then: it is blocked on a row lock the test holds while
expiring a request, and its backend is terminated as a restart terminates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from app import states
from app.db import utcnow
from app.tables import callback_requests
from tests.faults.rig import Rig, check_exactly_once, final_status_lost

TRIGGERS = 100
CONF = Path("/etc/postgresql")
STUCK = (
    "a dispatcher whose database connection dies inside a transaction never dials again: databases' "
    "Transaction.rollback raises on the dead connection before Connection.__aexit__ decrements its use "
    "count, so the dispatcher task (app.dispatcher.Dispatcher.run, one task for ever) keeps the dead "
    "connection and every pass fails ('connection has been released back to the pool'); accepted "
    "requests stay queued until they expire"
)


class DispatcherNeverRecovered(AssertionError):
    """Requests accepted after the outage were never dialled."""


def cluster() -> list[str] | None:
    """`pg_ctlcluster VERSION main` for the local cluster, when this test may restart it."""
    if not os.environ.get("TEST_DATABASE_URL"):
        return None
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0 or not CONF.is_dir():
        return None
    versions = sorted(p.name for p in CONF.iterdir() if (p / "main").is_dir())
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"] if versions else None


async def run(*argv: str) -> int:
    process = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return await asyncio.wait_for(process.wait(), timeout=60)


async def pg_ready() -> bool:
    return await run("pg_isready", "-h", "127.0.0.1", "-q") == 0


async def ensure_running(command: list[str]) -> None:
    for _ in range(60):
        if await pg_ready():
            return
        await run(*command, "start")
        await asyncio.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


@contextlib.asynccontextmanager
async def dispatcher_in_a_transaction(rig: Rig):
    """Hold a row lock that the dispatcher's next expiry blocks on; yields its backend's pid."""
    now = utcnow()
    with rig.engine.begin() as c:
        locked = c.execute(callback_requests.insert().values(
            trigger_kind="voice", trigger_id="CAheldbythetest", state=states.QUEUED, due_at=now + dt.timedelta(hours=1),
            expires_at=now + dt.timedelta(seconds=0.5), created_at=now, updated_at=now,
        ).returning(callback_requests.c.id)).scalar_one()
    holder = rig.engine.connect()
    try:
        holder.begin()
        holder.execute(sa.select(callback_requests.c.id).where(callback_requests.c.id == locked).with_for_update())
        waiting = sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                          "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE callback_requests%'")
        deadline = time.monotonic() + 15
        pid = None
        while pid is None:
            assert time.monotonic() < deadline, "the dispatcher never tried to expire the held request"
            await asyncio.sleep(0.05)
            with rig.engine.connect() as c:
                pid = c.execute(waiting).scalar()
        yield pid
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            holder.rollback()
        with contextlib.suppress(sa.exc.DBAPIError):
            holder.close()


@pytest.mark.xfail(strict=True, reason=STUCK)
async def test_the_dispatcher_survives_its_connection_dying_mid_transaction(pg_fault_url, tmp_path):
    async with Rig(database_url=pg_fault_url, workdir=tmp_path, subscribers=2, outcomes=("busy",)) as rig:
        app = await rig.start_app()
        async with dispatcher_in_a_transaction(rig) as pid:
            with rig.engine.connect() as c:  # what a failover, a proxy or an idle timeout does to a connection
                assert c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        delivery = rig.new_delivery(0)
        assert await rig.trigger(delivery, app.url + "/twilio/voice") == 200  # webhooks are served again
        deadline = time.monotonic() + 5
        while not rig.creates.times and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert rig.creates.times, f"nothing dialled since:\n{app.log_tail(6)}"


@pytest.mark.slow
@pytest.mark.skipif(cluster() is None, reason="needs TEST_DATABASE_URL, a local pg_ctlcluster cluster and root")
@pytest.mark.xfail(strict=True, raises=DispatcherNeverRecovered, reason=STUCK)
async def test_postgres_restart_mid_load_loses_nothing(pg_fault_url, tmp_path):
    command = cluster()
    started = time.monotonic()
    restart_took = None
    try:
        async with Rig(database_url=pg_fault_url, workdir=tmp_path) as rig:
            app = await rig.start_app()
            url = app.url + "/twilio/voice"
            deliveries = [rig.new_delivery(i) for i in range(TRIGGERS)]
            answered: list[tuple[float, int | str]] = []

            async def provider():
                for i in range(0, TRIGGERS, 5):
                    answers = await asyncio.gather(*(rig.trigger(d, url) for d in deliveries[i:i + 5]))
                    answered.extend((time.monotonic(), a) for a in answers)
                    await asyncio.sleep(0.3)

            sending = asyncio.create_task(provider())
            try:
                while sum(d.accepted for d in deliveries) < TRIGGERS // 3:
                    await asyncio.sleep(0.05)
                async with dispatcher_in_a_transaction(rig) as pid:
                    # The restart terminates every backend; the dispatcher's first, while it waits,
                    # so that it is inside its transaction when its connection goes (a restart
                    # leaves that to chance).
                    with rig.engine.connect() as c:
                        assert c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
                    t0 = time.monotonic()
                    restart = await asyncio.create_subprocess_exec(*command, "restart", "-m", "fast",
                                                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    _, err = await asyncio.wait_for(restart.communicate(), timeout=60)
                    assert restart.returncode == 0, err.decode()
                restart_took = time.monotonic() - t0
                await asyncio.wait_for(sending, timeout=120)
            finally:
                sending.cancel()
            await ensure_running(command)
            # The app serves again without a restart of its own.
            async with httpx.AsyncClient() as client:
                for _ in range(100):
                    if (await client.get(app.url + "/healthz")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                assert (await client.get(app.url + "/healthz")).status_code == 200
            await rig.resend_unanswered(url, rounds=10)
            rows = await rig.settle(timeout=10, ended=lambda r: r["state"] in states.TERMINAL
                                    or r["trigger_id"] == "CAheldbythetest" or final_status_lost(rig, r["leg_a_sid"]))
            rows = [r for r in rows if r["trigger_id"] != "CAheldbythetest"]

            refused = [(d.call_sid, d.answers) for d in deliveries if not d.accepted]
            assert not refused, f"triggers never accepted: {refused[:5]}"
            # The webhooks came back: triggers were accepted after the last one refused during the outage.
            refusals = [at for at, a in answered if a != 200]
            assert any(a == 200 for at, a in answered if at > max(refusals, default=t0)), answered
            during_outage = sorted({str(a) for at, a in answered if a != 200})
            triggers = [r["trigger_id"] for r in rows]
            assert len(triggers) == len(set(triggers)) == TRIGGERS and set(triggers) == set(rig.deliveries)
            outcomes = check_exactly_once(rig, rows)
            assert app.proc.poll() is None, "the app died with its database"
            lost = [r["id"] for r in rows if r["state"] == states.QUEUED or r["reason"] == states.EXPIRED
                    or (r["state"] == states.CALLING_A and r["leg_a_sid"] is None)]
            if lost:
                raise DispatcherNeverRecovered(f"{len(lost)} accepted requests never dialled: {outcomes}")
            stuck = [r["id"] for r in rows if r["state"] not in states.TERMINAL]
            print(f"\nrestart took {restart_took:.1f}s; answers during the outage "
                  f"{during_outage}; {sum(len(d.answers) > 1 for d in deliveries)} "
                  f"triggers re-sent; {outcomes}; left live by callbacks refused during the outage: {len(stuck)}; "
                  f"{time.monotonic() - started:.1f}s")
    finally:
        await ensure_running(command)
