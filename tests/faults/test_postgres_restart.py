"""PostgreSQL restarted in the middle of the load: the app recovers, no accepted request is lost,
none is dialled twice. Triggers refused during the outage are re-sent, as the provider does.

The server restarted is a private one the test starts for itself (`private_pg`,
tests/utils/private_postgres.py), never the one other test sessions share.

The dispatcher is one long-lived task, and a restart sooner or later catches it inside a
transaction. Its connection must then be thrown away and the next pass get a fresh one (the
`databases` package the platform began on kept the dead connection bound to the task, and
nothing was dialled again). Both tests make sure the dispatcher is inside a transaction when its
connection dies, so that this is tested every time rather than now and then: it is blocked on a
row lock the test holds while releasing the hold of a request that ended (a transaction: the
request's hold and the account's together), and its backend is terminated as a restart
terminates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
import pytest
import sqlalchemy as sa

from app.core import states
from app.data.db import utcnow
from app.data.tables import accounts, callback_requests
from tests.faults.rig import DISPATCH_FAILED, Rig, check_exactly_once, dialling_again, final_status_lost

TRIGGERS = 100
HELD = "CAheldbythetest"  # the trigger id of the request whose row lock the test holds


class DispatcherNeverRecovered(AssertionError):
    """Requests accepted after the outage were never dialled."""


@contextlib.asynccontextmanager
async def dispatcher_in_a_transaction(rig: Rig):
    """Hold a row lock that the dispatcher's next release of a finished request's hold blocks on (inside
    its transaction); yields its backend's pid."""
    now = utcnow()
    with rig.engine.begin() as c:
        # A request that ended still holding a cent of an account's balance (the account holds it too, so
        # that its release leaves the account as it was).
        account = c.execute(sa.select(sa.func.min(accounts.c.id))).scalar_one()
        c.execute(accounts.update().where(accounts.c.id == account).values(reserved=accounts.c.reserved + 1))
        locked = c.execute(callback_requests.insert().values(
            trigger_kind="voice", trigger_id=HELD, state=states.FAILED, reason=states.CANCELED, account_id=account,
            reserved=1, due_at=now, expires_at=now, created_at=now, updated_at=now,
        ).returning(callback_requests.c.id)).scalar_one()
    holder = rig.engine.connect()
    try:
        holder.begin()
        holder.execute(sa.select(callback_requests.c.id).where(callback_requests.c.id == locked).with_for_update())
        waiting = sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                          "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE callback_requests%'")
        # The dispatcher releases such holds once a second: it is blocked within a second or two.
        deadline = time.monotonic() + 30
        pid = None
        while pid is None:
            assert time.monotonic() < deadline, "the dispatcher never tried to release the held request's hold"
            await asyncio.sleep(0.05)
            with rig.engine.connect() as c:
                pid = c.execute(waiting).scalar()
        yield pid
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            holder.rollback()
        with contextlib.suppress(sa.exc.DBAPIError):
            holder.close()


def terminate(rig: Rig, pid: int) -> None:
    """What a restart, a failover, a proxy or an idle timeout does to a backend."""
    with rig.engine.connect() as c:
        assert c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


class FailedPasses(logging.Handler):
    """Counts the dispatcher's failed passes, as logged by an app in this process."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count = 0
        self.last = ""

    def emit(self, record):
        if record.getMessage().startswith(DISPATCH_FAILED):
            self.count += 1
            self.last = repr(record.exc_info[1]) if record.exc_info else ""


async def test_the_dispatcher_survives_its_connection_dying_mid_transaction(pg_fault_url, tmp_path):
    failed = FailedPasses()
    dispatcher_log = logging.getLogger("app.calls.dispatcher")
    dispatcher_log.addHandler(failed)
    try:
        rig = Rig(database_url=pg_fault_url, workdir=tmp_path, subscribers=2, outcomes=("busy",))
        # The app in this process: what is under test is one task of it, not the process.
        async with rig, rig.serve_app() as url:
            async with dispatcher_in_a_transaction(rig) as pid:
                before = failed.count
                terminate(rig, pid)
            delivery = rig.new_delivery(0)
            assert await rig.trigger(delivery, url + "/twilio/voice") == 200  # webhooks are served again
            # A dispatcher that recovers dials within a couple of seconds (one failed pass, a
            # second's pause); one that does not fails every pass, and three of those say so.
            if not await dialling_again(rig, creates_before=0, failures=lambda: failed.count - before, timeout=30):
                raise DispatcherNeverRecovered(f"nothing dialled since; {failed.count - before} failed passes, "
                                               f"the last with {failed.last}")
    finally:
        dispatcher_log.removeHandler(failed)


async def healthy(app, timeout: float) -> None:
    """Wait until the app answers /healthz with 200 again (it checks the database)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5.0) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(app.url + "/healthz")).status_code == 200:
                    return
            assert time.monotonic() < deadline, f"the app is not healthy {timeout}s after the restart"
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_postgres_restart_mid_load_loses_nothing(private_pg, tmp_path):
    server = private_pg.server
    async with Rig(database_url=private_pg.url, workdir=tmp_path) as rig:
        app = await rig.start_app()
        rig.mark("app up")
        url = app.url + "/twilio/voice"
        deliveries = [rig.new_delivery(i) for i in range(TRIGGERS)]
        answered: list[tuple[float, int | str]] = []
        outage = asyncio.Event()

        async def provider():
            for i in range(0, TRIGGERS, 5):
                if i == TRIGGERS * 2 // 3:
                    await outage.wait()  # the last third during the outage and after it
                answers = await asyncio.gather(*(rig.trigger(d, url) for d in deliveries[i:i + 5]))
                answered.extend((time.monotonic(), a) for a in answers)
                await asyncio.sleep(0.2)

        sending = asyncio.create_task(provider())
        try:
            while sum(d.accepted for d in deliveries) < TRIGGERS // 3:
                assert not sending.done(), "the provider finished before a third of its triggers were accepted"
                await asyncio.sleep(0.05)
            async with dispatcher_in_a_transaction(rig) as pid:
                # The stop terminates every backend; the dispatcher's first, while it waits, so
                # that it is inside its transaction when its connection goes (a restart leaves
                # that to chance).
                terminate(rig, pid)
                t0 = time.monotonic()
                creates_before = len(rig.creates.times)
                await asyncio.to_thread(server.stop, "fast")
            rig.mark("stopped")
            # Down until the provider has had a trigger refused (a few tenths of a second).
            outage.set()
            deadline = time.monotonic() + 30
            while not any(a != 200 and at > t0 for at, a in answered):
                assert time.monotonic() < deadline, "no trigger came while the database was down"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(server.start)
            restart_took = time.monotonic() - t0
            rig.mark("started")
            # The app serves again without a restart of its own, and dials again.
            await healthy(app, timeout=30)
            log_since = app.log_offset()
            if not await dialling_again(rig, creates_before=creates_before, timeout=60, most_failures=5,
                                        failures=lambda: app.log_count(DISPATCH_FAILED, since=log_since)):
                raise DispatcherNeverRecovered(f"nothing dialled since the restart ({rig.timeline()}):\n"
                                               f"{app.log_tail(6)}")
            rig.mark("dialling again")
            await asyncio.wait_for(sending, timeout=120)
        finally:
            sending.cancel()
        rig.mark("sent")
        await rig.resend_unanswered(url, rounds=10)
        rows = await rig.settle(timeout=120, ended=lambda r: r["state"] in states.TERMINAL
                                or r["trigger_id"] == HELD or final_status_lost(rig, r["leg_a_sid"]))
        rows = [r for r in rows if r["trigger_id"] != HELD]
        rig.mark("settled")

        refused = [(d.call_sid, d.answers) for d in deliveries if not d.accepted]
        assert not refused, f"triggers never accepted: {refused[:5]}"
        # The webhooks came back: triggers were accepted after the last one refused during the outage.
        refusals = [at for at, a in answered if a != 200]
        assert refusals and any(a == 200 for at, a in answered if at > max(refusals)), answered
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
        print(f"\nserver down {restart_took:.1f}s; answers during the outage {during_outage}; "
              f"{sum(len(d.answers) > 1 for d in deliveries)} triggers re-sent; {outcomes}; left live by "
              f"callbacks refused during the outage: {len(stuck)}; {rig.timeline()}")
