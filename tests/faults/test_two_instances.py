"""Two app instances on one PostgreSQL, behind one load balancer, dispatching one queue:
no request is dialled twice (claims take row locks with SKIP LOCKED), and together they
keep to the provider's calls per second."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core import states
from tests.faults.rig import JITTER_WINDOW, Rig, check_exactly_once, max_per_second

TRIGGERS = 120
CPS = 20


async def creates_sent(client: httpx.AsyncClient, url: str) -> int:
    """How many create-call requests this instance sent (its dispatch-lag histogram's count)."""
    text = (await client.get(url + "/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "callback_dispatch_lag_seconds_count":
                return int(sample.value)
    return 0


@pytest.mark.slow
async def test_two_instances_on_one_queue_dial_each_request_once(pg_fault_url, tmp_path):
    # Short sessions: what is under test is who dials, not the IVR.
    async with Rig(database_url=pg_fault_url, workdir=tmp_path, speed=50.0, outcomes=("busy", "no-answer")) as rig:
        # Both behind one public URL: the provider signs for it, either instance answers any webhook.
        rig.public_url = public = await rig.start_balancer()
        # Every request becomes due a second after its trigger, so both dispatchers wake for the same rows.
        settings = {"PUBLIC_BASE_URL": public, "DISPATCH_DELAY_SECONDS": 1, "PROVIDER_CPS": CPS}
        first, second = await asyncio.gather(rig.start_app("first", **settings), rig.start_app("second", **settings))
        rig.mark("apps up")
        deliveries = [rig.new_delivery(i) for i in range(TRIGGERS)]
        for i in range(0, TRIGGERS, 30):
            await asyncio.gather(*(rig.trigger(d, rig.trigger_url()) for d in deliveries[i:i + 30]))
            await asyncio.sleep(0.3)
        assert all(d.answers == [200] for d in deliveries)
        rig.mark("sent")
        rows = await rig.settle(timeout=120)
        rig.mark("settled")

        assert len(rows) == TRIGGERS and {r["trigger_id"] for r in rows} == set(rig.deliveries)
        outcomes = check_exactly_once(rig, rows)
        assert all(r["state"] in states.TERMINAL for r in rows), outcomes
        placed = rig.leg_a_calls()
        assert sorted(placed) == sorted(r["id"] for r in rows), "every request dialled"
        assert all(len(calls) == 1 for calls in placed.values())
        async with httpx.AsyncClient() as client:
            sent = [await creates_sent(client, app.url) for app in (first, second)]
        assert sum(sent) == len(rig.creates.times) == TRIGGERS, sent
        assert min(sent) > 0, f"one instance dispatched everything: {sent}"
        # The provider's CPS is one limit for the account, not one per instance.
        assert max_per_second(rig.creates.times, window=JITTER_WINDOW) <= CPS
        print(f"\n{TRIGGERS} requests, creates per instance {sent}, {outcomes}; {rig.timeline()}")
