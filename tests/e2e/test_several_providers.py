"""Several providers at once, end to end: two carriers on real sockets, the real Twilio adapter for each.

Provider `twilio` is a sandbox carrier reached at TWILIO_API_BASE (it also sends
the triggers); provider `sandbox` is the carrier embedded in the app, with a
token of its own. Each test counts the create-call requests each carrier took
and the calls each placed: a callback is placed once, by one of them.
"""

from __future__ import annotations

import datetime as dt

import pytest

from app.billing import call_records, provider_prices
from app.core import states, urls
from app.data import provider_routes
from app.data.db import utcnow
from app.providers.interface import ProviderCall
from tests.utils import scenario as sc
from tests.utils.live import live_platform

NY = "+12125550123"


@pytest.fixture
async def live(settings, engine):
    several = settings.with_(providers=("twilio", "sandbox"), sandbox_speed=100.0, sandbox_cps=50.0,
                             provider_max_attempts=2, provider_timeout_seconds=0.5, placing_grace_seconds=1)
    async with live_platform(several, engine) as live:
        live.embedded = live.app.state.carrier
        # Alice's callback leg answers and asks for NY; the second party answers and talks.
        for carrier in (live.carrier, live.embedded):
            carrier.phones.set(sc.ALICE_HOME, answer_after=1.0, keys=[NY[2:] + "#", None])
            carrier.phones.set(NY, answer_after=1.0, talk_seconds=20.0)
        yield live
        await live.embedded.wait_idle(timeout=5)


def placed(carrier, number: str = sc.ALICE_HOME):
    return [call for call in carrier.calls.values() if call.to == number and call.direction == "outbound-api"]


def creates(carrier) -> list:
    """The faults a carrier injected into create-call requests (each one a request it refused or stalled)."""
    return [fault for operation, fault in carrier.faults.injected if operation == "calls.create"]


async def finished(live, trigger_sid: str, timeout: float = 30.0):
    await live.finished(trigger_sid, timeout=timeout)
    await live.embedded.wait_idle(timeout=10)
    return live.request_for(trigger_sid)


async def test_a_provider_answering_5xx_and_429_is_failed_over_and_the_call_placed_once(live):
    live.carrier.faults.fail_next(1, status=503)
    live.carrier.faults.fail_next(1, status=429)  # the retry budget (2) spent at provider 1
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await finished(live, trigger.sid)

    assert (row["state"], row["provider"]) == (states.COMPLETED, "sandbox")
    assert creates(live.carrier) == [503, 429] and placed(live.carrier) == []
    (leg_a,) = placed(live.embedded)
    assert ("dial", NY) in leg_a.heard("dial")
    legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
    assert legs["a"]["provider_sid"] == leg_a.sid == row["leg_a_sid"]
    assert (legs["a"]["provider"], legs["b"]["provider"]) == ("sandbox", "sandbox")  # leg B: dialled by leg A's
    assert legs["b"]["status"] == "completed" and legs["b"]["duration_seconds"] > 0
    details = [e["detail"] or "" for e in live.events(row["id"])]
    assert any("twilio provider 429" in d and d.endswith("to sandbox") for d in details), details

    # The legs' records and prices are asked of the provider that placed them: provider 1 has never
    # heard of these calls and would answer 404.
    p = live.app.state.platform
    records = await call_records.lookup(p, [dict(leg) for leg in legs.values()], why="the test")
    assert all(isinstance(answer, ProviderCall) and answer.status == "completed" for _, answer in records)
    assert await provider_prices.collect(p, utcnow() + dt.timedelta(seconds=provider_prices.FIRST_CHECK_SECONDS + 1)) == 2
    assert all(leg["provider_price"] > 0 for leg in live.legs(row["id"]))


async def test_the_cheapest_route_is_taken_unless_its_provider_is_marked_down(live):
    p = live.app.state.platform
    await provider_routes.set_route(p.db, prefix="1", provider="sandbox", cost_per_minute=9_000)
    await provider_routes.set_route(p.db, prefix="1415", provider="twilio", cost_per_minute=5_000)
    await provider_routes.set_route(p.db, prefix="1415", provider="sandbox", cost_per_minute=7_000)
    first = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await finished(live, first.sid)
    assert (row["state"], row["provider"]) == (states.COMPLETED, "twilio")  # 1415: twilio is cheaper
    assert len(placed(live.carrier)) == 1 and placed(live.embedded) == []

    await provider_routes.set_down(p.db, provider="twilio", down=True, note="maintenance")
    second = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await finished(live, second.sid)
    assert (row["state"], row["provider"]) == (states.COMPLETED, "sandbox")
    assert len(placed(live.carrier)) == 1 and len(placed(live.embedded)) == 1  # no request to the one down
    assert creates(live.carrier) == []


async def test_a_timed_out_create_that_placed_its_call_is_adopted_not_failed_over(live):
    """The create call times out but the carrier placed the call: its status callbacks attach it
    within the grace, and nothing is sent to provider 2."""
    live.carrier.faults.stall_seconds, live.carrier.faults.timeout_creates = 2.0, True
    live.carrier.faults.stall_next(1)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await finished(live, trigger.sid)
    assert (row["state"], row["provider"]) == (states.COMPLETED, "twilio")
    assert creates(live.carrier) == ["stall"]
    assert len(placed(live.carrier)) == 1 and placed(live.embedded) == []


async def test_a_timed_out_create_is_failed_over_after_the_grace_and_a_late_call_is_ended(live):
    """The create call times out and no status callback comes within the grace: provider 1 placed
    nothing, and the call goes to provider 2. Should provider 1's call appear after all, it is
    not adopted (its URLs name provider 1) but ended: the subscriber's phone rings once."""
    live.carrier.faults.stall_seconds, live.carrier.faults.timeout_creates = 3.0, False
    live.carrier.faults.stall_next(1)
    live.embedded.phones.set(sc.ALICE_HOME, answer_after=1.0, keys=[NY[2:] + "#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await finished(live, trigger.sid)
    assert (row["state"], row["provider"]) == (states.COMPLETED, "sandbox")
    assert creates(live.carrier) == ["stall"] and placed(live.carrier) == []
    assert len(placed(live.embedded)) == 1
    trail = [(e["to_state"], e["detail"] or "") for e in live.events(row["id"])]
    assert any(state == states.QUEUED and "no status callback" in detail and detail.endswith("to sandbox")
               for state, detail in trail), trail

    # Provider 1's call shows up late, with the URLs it was given for this request; it would ring a while.
    live.carrier.phones.set(sc.ALICE_HOME, answer_after=60.0, keys=[NY[2:] + "#", None])
    base = live.app.state.platform.settings.public_base_url
    late = live.carrier.create_call(
        to=sc.ALICE_HOME, from_=row["leg_a_from"], url=urls.leg_step(base, row["id"], "answer", provider="twilio"),
        status_callback=urls.status_callback(base, row["id"], "a", provider="twilio"),
        status_callback_events=("initiated", "ringing", "answered", "completed"))
    await live.carrier.wait_idle(timeout=10)
    assert late.answer_time is None and late.end_time is not None  # ended while it rang: nobody picked it up
    after = live.request_for(trigger.sid)
    assert (after["state"], after["leg_a_sid"], after["provider"]) == (states.COMPLETED, row["leg_a_sid"], "sandbox")
    assert [leg["provider_sid"] for leg in live.legs(row["id"]) if leg["leg"] == "a"] == [row["leg_a_sid"]]
