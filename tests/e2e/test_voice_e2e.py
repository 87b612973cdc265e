"""Every voice flow, end to end: the platform on a real server, the sandbox carrier calling it."""

from __future__ import annotations

import uuid

import httpx
import pytest
from twilio.twiml.voice_response import VoiceResponse

from app.calls import ivr
from app.core import states
from app.billing.pricing import Rate, leg_cost
from sandbox import max_in_window
from tests.utils import scenario as sc
from app.data.tables import accounts as accounts_t
from tests.utils.live import EVERY_DIALECT, live_platform

UK = sc.UK_DESTINATION
NY = "+12125550123"


@pytest.fixture
async def live(settings, engine, dialect):
    async with live_platform(settings, engine, dialect=dialect) as live:
        yield live


def said(call) -> str:
    return " ".join(entry[1] for entry in call.heard("say"))


def gathers(call):
    return [entry for entry in call.heard("gather")]


@EVERY_DIALECT
async def test_pin_mode_end_to_end(live):
    live.carrier.phones.set(sc.STRANGER, keys=[sc.ALICE_PIN + "#", "011442071234567#", None])
    live.carrier.phones.set(UK, answer_after=2, talk_seconds=125)
    trigger = await live.ring(sc.STRANGER, sc.PIN_NUMBER)
    assert trigger.rejected == "busy" and trigger.heard("reject") == [("reject", "busy")]
    assert trigger.price is None or trigger.duration == 0  # a rejected trigger is not billed

    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.COMPLETED, None)
    leg_a = live.calls_to(sc.STRANGER)[-1]  # the session's callback leg (a retry under load comes first)
    assert leg_a.from_ == sc.PIN_NUMBER
    prompts = gathers(leg_a)
    assert "PIN" in " ".join(prompts[0][1]) and prompts[0][2] == sc.ALICE_PIN
    assert "number you wish to call" in " ".join(prompts[1][1])
    assert ("dial", UK) in leg_a.heard("dial")
    assert "Connecting your call" in said(leg_a)
    (leg_b,) = [live.carrier.calls[sid] for sid in leg_a.children]
    assert leg_b.to == UK and leg_b.direction == "outbound-dial"

    legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
    assert legs["b"]["status"] == "completed" and 123 <= legs["b"]["duration_seconds"] <= 130
    assert legs["a"]["cost"] > 0 and legs["b"]["cost"] > 0
    assert live.balance("alice") == 1000 - legs["a"]["cost"] - legs["b"]["cost"]
    trail = [e["to_state"] for e in live.events(row["id"])]
    assert trail == ["calling_a", "a_answered", "calling_b", "connected", "a_answered", "completed"]
    if live.dialect == "signalwire":  # the provider's own ids, stored as given
        assert row["trigger_id"] == trigger.sid and str(uuid.UUID(row["leg_a_sid"])) == row["leg_a_sid"]
        assert {leg["provider_sid"] for leg in live.legs(row["id"])} == {leg_a.sid, leg_b.sid}


@EVERY_DIALECT
async def test_ani_mode_calls_the_default_number(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED
    assert live.calls_to(sc.ALICE_MOBILE) == [] and len(live.calls_to(sc.ALICE_HOME)) == 1
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]  # the session's callback leg (a retry under load comes first)
    assert "PIN" not in " ".join(" ".join(g[1]) for g in gathers(leg_a))
    assert ("dial", NY) in leg_a.heard("dial")


@EVERY_DIALECT
async def test_ani_then_pin_asks_a_stranger_for_the_pin(live):
    live.carrier.phones.set(sc.STRANGER, keys=[sc.BOB_PIN + "#", "2125550123#", None])
    trigger = await live.ring(sc.STRANGER, sc.ANI_THEN_PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED and row["account_id"] is not None
    assert live.balance("bob") < 500


@EVERY_DIALECT
async def test_ani_and_pin_needs_the_accounts_own_pin(live):
    live.carrier.phones.set(sc.ALICE_MOBILE, keys=[sc.BOB_PIN + "#", sc.ALICE_PIN + "#", "2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_AND_PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED and row["pin_failures"] == 1
    leg_a = live.calls_to(sc.ALICE_MOBILE)[-1]  # the session's callback leg (a retry under load comes first)
    assert "not valid" in said(leg_a)


@EVERY_DIALECT
async def test_did_mode_with_a_blocked_caller_id(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring("anonymous", sc.ALICE_DID)
    assert trigger.rejected == "busy"
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED and len(live.calls_to(sc.ALICE_HOME)) == 1


async def test_unknown_and_anonymous_callers_get_no_callback(live):
    for caller, number in [(sc.STRANGER, sc.ANI_NUMBER), ("anonymous", sc.PIN_NUMBER)]:
        trigger = await live.ring(caller, number)
        row = await live.finished(trigger.sid)
        assert (row["state"], row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert [c for c in live.carrier.calls.values() if c.direction == "outbound-api"] == []


@pytest.mark.parametrize("answer, reason", [("busy", states.A_BUSY), ("no-answer", states.A_NO_ANSWER),
                                            ("fail", states.A_FAILED)])
async def test_leg_a_that_does_not_answer_is_retried_then_fails(live, answer, reason):
    live.carrier.phones.set(sc.ALICE_HOME, answer=answer, answer_after=1)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, reason)
    assert len(live.calls_to(sc.ALICE_HOME)) == 2  # alice's policy: one retry
    assert all(leg["cost"] == 0 for leg in live.legs(row["id"]))


@EVERY_DIALECT
async def test_voicemail_on_leg_a_is_never_bridged(live):
    live.carrier.phones.set(sc.STRANGER, answer="voicemail")
    trigger = await live.ring(sc.STRANGER, sc.PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.A_NO_ANSWER)
    leg_a = live.calls_to(sc.STRANGER)[-1]  # the session's callback leg (a retry under load comes first)
    assert leg_a.heard("dial") == [] and len(gathers(leg_a)) == 3


@pytest.mark.parametrize("answer, reason, prompt", [("busy", states.B_BUSY, "busy"),
                                                    ("no-answer", states.B_NO_ANSWER, "no answer"),
                                                    ("fail", states.B_FAILED, "could not be completed")])
async def test_leg_b_that_does_not_answer_is_announced_and_leg_a_is_billed(live, answer, reason, prompt):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    live.carrier.phones.set(NY, answer=answer, answer_after=2)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, reason)
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]  # the session's callback leg (a retry under load comes first)
    assert prompt in said(leg_a)
    legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
    assert legs["a"]["cost"] > 0 and legs["b"]["cost"] == 0


async def test_three_wrong_pins_end_the_call(live):
    live.carrier.phones.set(sc.STRANGER, keys=["111111#", "222222#", "333333#"])
    trigger = await live.ring(sc.STRANGER, sc.PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    leg_a = live.calls_to(sc.STRANGER)[-1]  # the session's callback leg (a retry under load comes first)
    assert "Too many incorrect PINs" in said(leg_a) and ("hangup",) in leg_a.heard("hangup")


@EVERY_DIALECT
async def test_several_calls_in_one_session_and_star_ends_leg_b(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", "1", "011442071234567#", None], star_after=20)
    live.carrier.phones.set(NY, talk_seconds=None)
    live.carrier.phones.set(UK, talk_seconds=None)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED and row["calls_connected"] == 2
    leg_a = live.calls_to(sc.ALICE_HOME)[-1]  # the session's callback leg (a retry under load comes first)
    assert [e[1] for e in leg_a.heard("dial")] == [NY, UK]
    b_legs = [leg for leg in live.legs(row["id"]) if leg["leg"] == "b"]
    assert len(b_legs) == 2 and all(15 <= leg["duration_seconds"] <= 25 for leg in b_legs)


async def test_a_45_minute_call_under_the_fast_clock(settings, engine):
    async with live_platform(settings, engine, speed=2000) as live:
        live.carrier.phones.set(sc.ALICE_HOME, keys=["011442071234567#", None])
        live.carrier.phones.set(UK, talk_seconds=45 * 60)
        trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
        row = await live.finished(trigger.sid, timeout=30)
        assert row["state"] == states.COMPLETED
        legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
        assert abs(legs["b"]["duration_seconds"] - 2700) <= 30
        assert legs["a"]["duration_seconds"] >= legs["b"]["duration_seconds"]  # leg A spans the IVR too
        # 45 minutes at 0.05/min in 30/6 increments (about 2.25), leg A at 0.01/min in 60/60.
        assert 225 <= legs["b"]["cost"] <= 228
        for leg, rate in (("a", Rate("1", 10_000)), ("b", Rate("44", 50_000, 30, 6))):
            assert legs[leg]["cost"] == leg_cost(legs[leg]["duration_seconds"], rate, "USD")[1]
        # Every leg the session had is billed, a retried callback leg included.
        assert live.balance("alice") == 1000 - sum(leg["cost"] for leg in live.legs(row["id"]))


@EVERY_DIALECT
async def test_provider_errors_are_retried_and_nothing_is_dialled_twice(live):
    live.carrier.faults.fail_next(2, 500)
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid, timeout=30)
    assert row["state"] == states.COMPLETED and row["attempts"] == 3
    assert len(live.calls_to(sc.ALICE_HOME)) == 1
    retries = [e for e in live.events(row["id"]) if e["to_state"] == states.QUEUED]
    assert len(retries) == 2 and all("500" in e["detail"] for e in retries)


async def test_provider_that_keeps_failing_ends_with_provider_error(settings, engine):
    async with live_platform(settings.with_(provider_max_attempts=2), engine) as live:
        live.carrier.faults.fail_next(5, 429)
        trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
        row = await live.finished(trigger.sid, timeout=30)
        assert (row["state"], row["reason"]) == (states.FAILED, states.PROVIDER_ERROR)
        assert live.calls_to(sc.ALICE_HOME) == []


async def test_calls_are_paced_to_the_providers_cps(settings, engine):
    async with live_platform(settings, engine, cps=2) as live:
        for _ in range(6):
            live.carrier.phones.set(sc.ALICE_HOME, answer="busy")
        triggers = [await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER) for _ in range(4)]
        for trigger in triggers:
            await live.finished(trigger.sid, timeout=30)
        assert max_in_window(live.carrier.call_starts, window=1.0) <= 2


async def test_metrics_count_what_a_call_did(live):
    from prometheus_client.parser import text_string_to_metric_families

    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    await live.finished(trigger.sid)
    async with httpx.AsyncClient() as client:
        response = await client.get(live.platform_url + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert samples[("callback_webhook_requests_total", (("route", "/twilio/voice"), ("status", "200")))] == 1
    steps = samples[("callback_webhook_requests_total", (("route", "/legs/{request_id:int}/{step}"), ("status", "200")))]
    assert steps >= 4  # answer, destination, dialed, next
    assert samples[("callback_webhook_requests_total", (("route", "/twilio/status"), ("status", "204")))] >= 6
    assert samples[("callback_requests", (("reason", ""), ("state", "completed")))] == 1
    assert samples[("callback_dispatch_lag_seconds_count", ())] == 1
    assert samples[("callback_webhook_duration_seconds_count", (("route", "/twilio/voice"),))] == 1
    assert samples[("callback_queue_depth", ())] == 0


async def test_the_carrier_ends_leg_a_at_the_time_limit_its_balance_covers(settings, engine, monkeypatch):
    """Leg A is created with the TimeLimit alice's balance pays for; the carrier holds it to that.

    The app loses track of the session (its IVR keeps leg A waiting in silence, as
    one that crashed would leave it): the carrier ends leg A at its limit, and the
    callback leg never costs more than the balance could pay.
    """
    # 299 virtual seconds in 5 real ones: slow enough that the carrier's timer is not late by a whole second.
    async with live_platform(settings, engine, speed=60) as live:
        await live.db.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(balance=5))
        stuck = VoiceResponse()
        stuck.pause(length=3600)
        answer = ivr.STEPS["answer"]

        async def answer_then_wait(p, request, params):
            await answer(p, request, params)  # the session starts as usual...
            return str(stuck)  # ...and then the app never says another word

        monkeypatch.setitem(ivr.STEPS, "answer", answer_then_wait)
        live.carrier.phones.set(sc.ALICE_HOME, talk_seconds=None)  # alice would stay on the line for ever
        trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
        row = await live.finished(trigger.sid, timeout=60)
        (leg_a,) = live.calls_to(sc.ALICE_HOME)
        assert leg_a.time_limit == 299  # 0.05 at 0.01/min: five minutes, less the second a carrier may round up
        assert ("time-limit", 299) in leg_a.transcript and leg_a.status == "completed"
        assert 299 <= leg_a.duration <= 300
        # The leg ended at the carrier, so the request settled from its final status callback.
        assert (row["state"], row["reason"], row["reserved"]) == (states.FAILED, states.CANCELED, 0)
        (leg,) = live.legs(row["id"])
        assert leg["duration_seconds"] == leg_a.duration
        assert leg["cost"] == leg_cost(leg_a.duration, Rate("1", 10_000), "USD")[1]
        assert live.balance("alice") == 5 - leg["cost"] >= 0  # never more than the balance
