"""A provider failing a fifth of its create-call requests (500, 503, 429, timeouts): every
callback is placed after bounded retries or fails `provider_error`, nothing is dialled twice,
and the provider's calls per second are never exceeded."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

from app.core import states
from sandbox import max_in_window
from tests.faults.rig import (
    A_REASONS,
    B_REASONS,
    JITTER_WINDOW,
    Rig,
    check_exactly_once,
    max_per_second,
)

TRIGGERS = 100
CPS = 20
MAX_ATTEMPTS = 3
TIMEOUT = 1  # PROVIDER_TIMEOUT_SECONDS: a stalled create outlasts it


@pytest.mark.slow
async def test_a_provider_failing_20_percent_of_creates(fault_db_url, tmp_path):
    async with Rig(database_url=fault_db_url, workdir=tmp_path, carrier_cps=CPS) as rig:
        faults = rig.carrier.faults
        faults.reseed(20)
        faults.error_rate, faults.error_statuses = 0.15, (500, 503, 429)
        # The first two creates stall and place nothing: the app cannot know, must not redial,
        # and fails them provider_error after the grace.
        faults.stall_seconds, faults.timeout_creates = 2 * TIMEOUT, False
        faults.stall_next(2)
        app = await rig.start_app(PROVIDER_CPS=CPS, PROVIDER_TIMEOUT_SECONDS=TIMEOUT,
                                  PROVIDER_MAX_ATTEMPTS=MAX_ATTEMPTS)
        rig.mark("app up")
        url = app.url + "/twilio/voice"
        deliveries = [rig.new_delivery(i) for i in range(TRIGGERS)]
        for i in range(0, TRIGGERS, 20):
            await asyncio.gather(*(rig.trigger(d, url) for d in deliveries[i:i + 20]))
            if faults.pending == 0 and not faults.timeout_creates:
                # From then on stalled creates place the call anyway, as a provider that times out
                # after acting would: the app adopts the call from its status callbacks.
                faults.timeout_rate, faults.timeout_creates = 0.05, True
            await asyncio.sleep(0.25)
        assert all(d.answers == [200] for d in deliveries), "the triggers themselves never fail"
        rig.mark("sent")
        rows = await rig.settle(timeout=120)
        rig.mark("settled")

        assert len(rows) == TRIGGERS and {r["trigger_id"] for r in rows} == set(rig.deliveries)
        outcomes = check_exactly_once(rig, rows)
        unfinished = [(r["id"], r["state"]) for r in rows if r["state"] not in states.TERMINAL]
        assert not unfinished, f"requests that never ended: {unfinished}"
        allowed = A_REASONS | B_REASONS | {states.PROVIDER_ERROR, None}
        assert {r["reason"] for r in rows} <= allowed, outcomes
        history = rig.events_by_request()
        placed = rig.leg_a_calls()
        unanswered = [r["id"] for r in rows if r["reason"] == states.PROVIDER_ERROR
                      and any("not redialled" in (e["detail"] or "") for e in history[r["id"]])]
        assert len([i for i in unanswered if not placed.get(i)]) >= 2, "the two creates that placed nothing"

        # Bounded retries: never more create requests for one request than PROVIDER_MAX_ATTEMPTS.
        tries = {r["id"]: sum(e["to_state"] == states.CALLING_A for e in history[r["id"]]) for r in rows}
        assert max(tries.values()) <= MAX_ATTEMPTS and all(r["attempts"] <= MAX_ATTEMPTS for r in rows)
        retried = [i for i, n in tries.items() if n > 1]
        for r in rows:
            if r["reason"] == states.PROVIDER_ERROR:
                # Gave up after the last try, or after a create that got no answer: never another way.
                assert tries[r["id"]] == MAX_ATTEMPTS or r["id"] in unanswered, history[r["id"]]
        # No number rang twice for one request.
        per_number = collections.Counter((i, c.to) for i, calls in rig.leg_a_calls().items() for c in calls)
        assert max(per_number.values()) == 1

        injected = collections.Counter(str(fault) for _, fault in faults.injected)
        assert injected["500"] and injected["503"] and injected["429"] and injected["stall"], injected
        assert retried, "some requests were retried"
        # The calls the carrier started never exceed its CPS (it queues, in its virtual time).
        assert max_in_window(rig.carrier.call_starts, window=1.0) <= rig.carrier.cps
        # Nor do the create requests the app sent, in real time.
        assert max_per_second(rig.creates.times, window=JITTER_WINDOW) <= CPS
        print(f"\n[{fault_db_url.split(':')[0]}] faults {dict(injected)}; {len(retried)} requests retried; "
              f"{outcomes}; creates per second at most {max_per_second(rig.creates.times)}; {rig.timeline()}")


async def test_a_burst_after_an_idle_second_stays_within_the_cps(sqlite_fault_url, tmp_path):
    """The provider counts creates per second in any window, as the sandbox carrier does: slots
    saved up while idle would let a burst of CPS go out at once and CPS more within the second."""
    cps, burst = 10, 20
    rig = Rig(database_url=sqlite_fault_url, workdir=tmp_path, outcomes=("busy",))
    async with rig, rig.serve_app(PROVIDER_CPS=cps) as url:
        await asyncio.sleep(1.2)  # the dispatcher idles, for more than a second
        deliveries = [rig.new_delivery(i) for i in range(burst)]
        answers = await asyncio.gather(*(rig.trigger(d, url + "/twilio/voice") for d in deliveries))
        assert answers == [200] * burst
        deadline = time.monotonic() + 30
        while len(rig.creates.times) < burst and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await rig.carrier.wait_idle(timeout=30)
    assert len(rig.creates.times) == burst
    first_second = sum(t - rig.creates.times[0] < 1.0 for t in rig.creates.times)
    assert max_per_second(rig.creates.times, window=JITTER_WINDOW) <= cps, f"{first_second} in the first second"
