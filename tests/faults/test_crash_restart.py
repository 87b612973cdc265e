"""kill -9 of the app in the middle of 200 callbacks, then a restart: every accepted trigger is
placed exactly once, or failed with a reason; nothing is dialled twice, nothing is lost.

Sessions whose leg A ended while the app was down must end too: their final status callback
was refused, so the app learns of it by asking the provider (app/calls/lost_callbacks.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from app.core import states
from app.data.tables import callback_requests
from tests.faults.rig import DESTINATION, Rig, check_exactly_once, final_status_lost

TRIGGERS = 200
# How long the app has, once everything else has settled, to end the sessions whose end it
# missed while it was down: the rig's settings must let it find out within this.
RECONCILE_WAIT = 5.0


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def ended_for_the_app(rig: Rig, sid: str) -> bool:
    """Whether the request whose leg A is `sid` has ended, as the database says (True if none has it)."""
    with rig.engine.connect() as c:
        state = c.execute(sa.select(callback_requests.c.state).where(callback_requests.c.leg_a_sid == sid)).scalar()
    return state is None or state in states.TERMINAL


def live_leg_a(rig: Rig) -> list:
    return [c for c in rig.carrier.calls.values()
            if c.direction == "outbound-api" and not c.ended and c.status == "in-progress"]


class SessionsNeverSettled(AssertionError):
    """Requests whose leg A ended during the outage are still live after the restart."""


@pytest.mark.slow
async def test_kill_9_mid_load_then_restart_places_every_trigger_once(fault_db_url, tmp_path):
    async with Rig(database_url=fault_db_url, workdir=tmp_path) as rig:
        # Second parties who talk for 30 (virtual) seconds: sessions stay live long enough for
        # some to be live at the kill, at no cost to the app (a bridge makes no webhooks).
        rig.carrier.phones.set(DESTINATION, answer_after=1.0, talk_seconds=30.0)
        app = await rig.start_app()
        rig.mark("app up")
        url = app.url + "/twilio/voice"
        deliveries = [rig.new_delivery(i) for i in range(TRIGGERS)]

        async def provider():
            for i in range(0, TRIGGERS, 10):
                await asyncio.gather(*(rig.trigger(d, url) for d in deliveries[i:i + 10]))
                await asyncio.sleep(0.2)

        sending = asyncio.create_task(provider())
        try:
            # Mid-load: a third of the triggers answered, callbacks ringing and at the IVR.
            await wait_for(lambda: sum(d.accepted for d in deliveries) >= TRIGGERS // 3 and len(live_leg_a(rig)) >= 2,
                           timeout=90, what="the load to build up")
            rig.mark("load built")
            # Creates in flight at the kill: the carrier places them, the app may never hear back.
            faults = rig.carrier.faults
            faults.timeout_creates, faults.stall_seconds = True, 3.0
            drawn = len(faults.injected)
            faults.stall_next(3)
            await wait_for(lambda: len(faults.injected) > drawn and live_leg_a(rig), timeout=30,
                           what="a create in flight and a session live")
            live_at_kill = [c.sid for c in live_leg_a(rig)]
            accepted_at_kill = sum(d.accepted for d in deliveries)
            app.kill()
            faults.reset()
            # The outage: triggers and webhooks meanwhile are refused, and the sessions that were
            # live end at the IVR's next request, their final status callbacks refused too.
            await wait_for(lambda: any(final_status_lost(rig, sid) and not ended_for_the_app(rig, sid)
                                       for sid in live_at_kill), timeout=30,
                           what="a live session to end during the outage")
            rig.mark("killed")
            app.start()
            await app.wait_ready()
            rig.mark("restarted")
            await asyncio.wait_for(sending, timeout=120)
        finally:
            sending.cancel()
        rig.mark("sent")
        # The provider retries every trigger that got no answer, with the same CallSid.
        await rig.resend_unanswered(url)
        rig.mark("re-sent")
        rows = await rig.settle(timeout=120, ended=lambda r: r["state"] in states.TERMINAL
                                or final_status_lost(rig, r["leg_a_sid"]))
        rig.mark("settled")

        refused = [d for d in deliveries if not d.accepted]
        assert not refused, f"triggers never accepted: {[(d.call_sid, d.answers) for d in refused][:5]}"
        # What a trigger got instead of a 200 was the outage (refused or cut connections), never an error page.
        answers = {a for d in deliveries for a in d.answers}
        assert all(a == 200 or isinstance(a, str) for a in answers), answers
        triggers = [r["trigger_id"] for r in rows]
        assert len(triggers) == len(set(triggers)) == TRIGGERS, "one request per trigger, however often it came"
        assert set(triggers) == set(rig.deliveries), "every accepted trigger has its request"
        outcomes = check_exactly_once(rig, rows)
        assert all(r["reason"] in states.REASONS for r in rows if r["state"] == states.FAILED)
        assert not [r for r in rows if r["state"] == states.QUEUED], "queued requests left behind"
        pending = [r for r in rows if r["state"] == states.CALLING_A and r["leg_a_sid"] is None]
        assert not pending, f"creates never settled: {[r['id'] for r in pending]}"
        stuck = [r for r in rows if r["state"] not in states.TERMINAL]
        unexplained = [r["id"] for r in stuck if not final_status_lost(rig, r["leg_a_sid"])]
        assert not unexplained, f"requests that never ended: {unexplained}"
        print(f"\n[{fault_db_url.split(':')[0]}] {TRIGGERS} triggers, killed after {accepted_at_kill} with "
              f"{len(live_at_kill)} callbacks live, {sum(len(d.answers) > 1 for d in deliveries)} re-sent; "
              f"{outcomes}; left live by the lost callbacks: {len(stuck)}; {rig.timeline()}")
        # Every request ends, those whose end the app missed included: the app must learn it some other way.
        if stuck:
            rows = await rig.settle(timeout=RECONCILE_WAIT)
            stuck = [(r["id"], r["state"], r["reserved"]) for r in rows if r["state"] not in states.TERMINAL]
            if stuck:
                raise SessionsNeverSettled(f"{len(stuck)} requests still live (id, state, reserved): {stuck[:5]}")
