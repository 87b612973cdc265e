"""Sessions whose final status callbacks were lost settle from the provider's call record.

The platform and the sandbox carrier run as real servers (tests/utils/live.py).
A callback is "lost" by clearing the carrier call's StatusCallback before the
call ends: the provider then ends the call and tells nobody, as when the app
was down or its database unreachable at that moment.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
import sqlalchemy as sa

from app.data import accounts as accounts_module
from app.billing import pricing as billing
from app.data import callbacks
from app.fraud import limits
from app.calls import lost_callbacks
from app.core import states
from app.providers import twilio as provider_module
from app.billing.pricing import Rate, leg_cost
from app.data.db import utcnow
from app.providers.twilio import ProviderError, ProviderTimeout
from app.data.tables import accounts, call_legs
from tests.utils import scenario as sc
from tests.utils.live import EVERY_DIALECT, Live, live_platform

NY = "+12125550123"


@pytest.fixture
async def live(settings, engine, dialect):
    async with live_platform(settings, engine, dialect=dialect) as live:
        yield live


async def wait_for_state(live: Live, trigger_sid: str, state: str, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        row = live.request_for(trigger_sid)
        if row is not None and row["state"] == state:
            return row
        await asyncio.sleep(0.01)
    raise AssertionError(f"request of {trigger_sid} never reached {state}: {live.request_for(trigger_sid)}")


def reserved(live: Live, login: str) -> int:
    with live.engine.connect() as c:
        return c.execute(sa.select(accounts.c.reserved).where(accounts.c.login == login)).scalar_one()


def carrier_legs(live: Live):
    """The callback leg and the second party's leg at the carrier."""
    (leg_a,) = live.calls_to(sc.ALICE_HOME)
    (leg_b,) = [call for call in live.carrier.calls.values() if call.direction == "outbound-dial"]
    return leg_a, leg_b


async def connected_session(live: Live, *, next_call: str | None = None):
    """Alice's callback, bridged to NY, both talking until the test ends one of them."""
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", next_call], talk_seconds=None)
    live.carrier.phones.set(NY, talk_seconds=None)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await wait_for_state(live, trigger.sid, states.CONNECTED)
    while len(live.legs(row["id"])) < 2:  # leg B's row: its answered callback or the Dial action
        await asyncio.sleep(0.01)
    return trigger, row


async def deliver_late(live: Live, call, url: str) -> int:
    """The lost final status callback after all, signed as the provider signs it."""
    params = call.progress_params(call.status, live.carrier.clock.now())
    async with httpx.AsyncClient() as client:
        response = await client.post(url, data=params, headers=live.signed(url, params))
    return response.status_code


@EVERY_DIALECT
async def test_a_session_whose_leg_a_ended_unheard_settles_after_a_restart(live):
    trigger, row = await connected_session(live)
    leg_a, leg_b = carrier_legs(live)
    urls = {"a": leg_a.status_callback, "b": leg_b.status_callback}
    leg_a.status_callback = leg_b.status_callback = None  # the app is down: these callbacks are lost
    live.carrier.end(leg_a)  # the subscriber hangs up
    await live.carrier.wait_idle(timeout=10)
    await asyncio.sleep(0.1)

    stuck = live.request_for(trigger.sid)
    assert stuck["state"] in states.LIVE and stuck["reserved"] > 0 and reserved(live, "alice") == stuck["reserved"]
    assert [leg["ended_at"] for leg in live.legs(row["id"])] == [None, None]
    balance = live.balance("alice")

    # The app starts again: its first housekeeping pass asks the provider about the open legs.
    settled = await lost_callbacks.LostCallbacks(live.app.state.platform).run(utcnow())
    assert settled == 2
    done = live.request_for(trigger.sid)
    assert (done["state"], done["reason"], done["reserved"], done["calls_connected"]) == (states.COMPLETED, None, 0, 1)
    assert reserved(live, "alice") == 0
    legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
    assert (legs["a"]["status"], legs["a"]["duration_seconds"]) == ("completed", leg_a.duration)
    assert (legs["b"]["status"], legs["b"]["duration_seconds"]) == ("completed", leg_b.duration)
    assert legs["a"]["cost"] > 0 and legs["b"]["cost"] > 0
    assert balance - live.balance("alice") == legs["a"]["cost"] + legs["b"]["cost"]
    # The provider had rated the calls already: their cost was stored with the CDRs.
    assert (legs["a"]["provider_price_unit"], legs["a"]["price_check_at"]) == ("USD", None)
    assert legs["a"]["provider_price"] > 0 and legs["b"]["provider_price"] > 0
    assert live.events(row["id"])[-1]["detail"] == "leg A ended"

    # The real callbacks arrive after all: nothing changes.
    events, after = len(live.events(row["id"])), live.balance("alice")
    assert await deliver_late(live, leg_b, urls["b"]) == 204
    assert await deliver_late(live, leg_a, urls["a"]) == 204
    assert (len(live.events(row["id"])), live.balance("alice"), reserved(live, "alice")) == (events, after, 0)
    assert [dict(leg) for leg in live.legs(row["id"])] == [dict(legs["a"]), dict(legs["b"])]
    # And a second pass finds nothing open.
    assert await lost_callbacks.LostCallbacks(live.app.state.platform).run(utcnow()) == 0


async def test_a_quiet_open_leg_is_asked_about_once_quiet_long_enough(live):
    """Running all along (no restart): a lost callback is noticed once its request has been quiet a while."""
    trigger, row = await connected_session(live, next_call="9")  # after the call: "9", no other call
    leg_a, leg_b = carrier_legs(live)
    leg_a.status_callback = None  # only leg A's final callback will be lost
    live.carrier.end(leg_b)  # the second party hangs up; the IVR ends the session and hangs up leg A
    await live.carrier.wait_idle(timeout=10)
    await asyncio.sleep(0.1)
    over = live.request_for(trigger.sid)
    # Over for the app, but leg A's end (and CDR) never came: its hold is kept for it.
    assert over["state"] == states.COMPLETED and over["reserved"] > 0
    assert {leg["leg"]: leg["ended_at"] is None for leg in live.legs(row["id"])} == {"a": True, "b": False}

    platform, now = live.app.state.platform, utcnow()

    async def check(at: dt.datetime):
        return await lost_callbacks.check_open_legs(
            platform, at, quiet_before=at - dt.timedelta(seconds=lost_callbacks.QUIET_SECONDS),
            checked_before=at - dt.timedelta(seconds=lost_callbacks.RECHECK_SECONDS))

    assert await check(now) == (0, 0)  # quiet for less than QUIET_SECONDS: not yet
    assert await check(now + dt.timedelta(seconds=lost_callbacks.QUIET_SECONDS + 1)) == (1, 1)
    settled = live.request_for(trigger.sid)
    assert (settled["state"], settled["reserved"]) == (states.COMPLETED, 0) and reserved(live, "alice") == 0
    legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
    assert legs["a"]["ended_at"] is not None and legs["a"]["duration_seconds"] == leg_a.duration


async def test_a_live_leg_is_left_alone_and_asked_again_only_after_a_while(live, monkeypatch):
    trigger, row = await connected_session(live)
    platform = live.app.state.platform
    asked = []
    fetch = platform.provider.fetch_call

    async def counting(sid):
        asked.append(sid)
        return await fetch(sid)

    monkeypatch.setattr(platform.provider, "fetch_call", counting)
    later = utcnow() + dt.timedelta(seconds=lost_callbacks.QUIET_SECONDS + 1)
    recheck = dt.timedelta(seconds=lost_callbacks.RECHECK_SECONDS)
    assert await lost_callbacks.check_open_legs(platform, later, quiet_before=later, checked_before=later - recheck) \
        == (1, 0)
    assert len(asked) == 2  # both legs, still up at the provider: nothing changes
    assert live.request_for(trigger.sid)["state"] == states.CONNECTED
    soon = later + dt.timedelta(seconds=10)
    assert await lost_callbacks.check_open_legs(platform, soon, quiet_before=soon, checked_before=soon - recheck) \
        == (0, 0)
    assert len(asked) == 2  # asked again only after RECHECK_SECONDS
    for call in carrier_legs(live):
        live.carrier.end(call)


async def unanswered_callback_unheard(live: Live):
    """Alice's callback rings out unanswered and its final status callback is lost: the request stays calling_a."""
    await live.db.execute(accounts.update().where(accounts.c.login == "alice").values(retry_attempts=0))
    live.carrier.phones.set(sc.ALICE_HOME, answer="no-answer")
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    while not live.calls_to(sc.ALICE_HOME):
        await asyncio.sleep(0.005)
    (leg_a,) = live.calls_to(sc.ALICE_HOME)
    url, leg_a.status_callback = leg_a.status_callback, None
    await live.carrier.wait_idle(timeout=20)
    ringing = await wait_for_state(live, trigger.sid, states.CALLING_A)
    assert ringing["leg_a_sid"] == leg_a.sid and ringing["reserved"] > 0  # the IVR hold taken before dialling
    return trigger, leg_a, url


def failed_as_unanswered(live: Live, trigger_sid: str) -> None:
    failed = live.request_for(trigger_sid)
    assert (failed["state"], failed["reason"], failed["reserved"]) == (states.FAILED, states.A_NO_ANSWER, 0)
    (leg,) = live.legs(failed["id"])
    assert (leg["status"], leg["cost"]) == ("no-answer", 0)
    assert reserved(live, "alice") == 0


@pytest.mark.parametrize("row_written", [True, False], ids=["leg-row", "sid-without-leg-row"])
async def test_a_callback_leg_whose_no_answer_was_lost_fails_as_it_would_have(settings, engine, row_written):
    async with live_platform(settings, engine, speed=10) as live:  # 30 s of ringing: 3 real seconds
        trigger, leg_a, _ = await unanswered_callback_unheard(live)
        if not row_written:  # the process died between recording the sid and writing the leg's row
            await live.db.execute(call_legs.delete().where(call_legs.c.provider_sid == leg_a.sid))
        assert await lost_callbacks.LostCallbacks(live.app.state.platform).run(utcnow()) == 1
        failed_as_unanswered(live, trigger.sid)
        assert live.legs(live.request_for(trigger.sid)["id"])[0]["provider_price"] == 0  # never connected: free


@pytest.mark.parametrize("recovery", ["callback-repeated", "housekeeping"])
async def test_a_request_left_live_after_its_leg_a_cdr_is_moved_on(settings, engine, recovery):
    """The process died between writing leg A's CDR and moving the request: the provider saw the callback fail."""
    async with live_platform(settings, engine, speed=10) as live:
        trigger, leg_a, url = await unanswered_callback_unheard(live)
        await callbacks.update_leg(live.db, sid=leg_a.sid, sequence=2, status="no-answer")
        assert await callbacks.finish_leg_once(live.db, sid=leg_a.sid, status="no-answer", ended_at=utcnow(),
                                               duration_seconds=0, billed_seconds=0, cost=0)
        assert live.request_for(trigger.sid)["state"] == states.CALLING_A
        if recovery == "callback-repeated":  # a provider that retries a failed callback
            assert await deliver_late(live, leg_a, url) == 204
        else:
            assert await lost_callbacks.LostCallbacks(live.app.state.platform).run(utcnow()) == 1
        failed_as_unanswered(live, trigger.sid)
        events = len(live.events(live.request_for(trigger.sid)["id"]))
        assert await deliver_late(live, leg_a, url) == 204  # and once more: nothing changes
        assert len(live.events(live.request_for(trigger.sid)["id"])) == events


async def test_housekeeping_sweeps_after_a_start_or_a_pause_and_otherwise_waits_for_quiet(live, monkeypatch):
    seen = []

    async def check_open_legs(p, now, *, quiet_before, checked_before, limit=lost_callbacks.BATCH):
        seen.append((now - quiet_before, now - checked_before))
        return 0, 0

    monkeypatch.setattr(lost_callbacks, "check_open_legs", check_open_legs)
    lost = lost_callbacks.LostCallbacks(live.app.state.platform)
    start = lost.started_at
    quiet = dt.timedelta(seconds=lost_callbacks.QUIET_SECONDS)
    recheck = dt.timedelta(seconds=lost_callbacks.RECHECK_SECONDS)

    async def run(after: float) -> list:
        seen.clear()
        await lost.run(start + dt.timedelta(seconds=after))
        return list(seen)

    def sweep(after: float) -> tuple:  # everything quiet since `after` seconds before the pass
        return dt.timedelta(seconds=after), dt.timedelta(seconds=after)

    # The first pass: everything quiet since before the start, then what has been quiet for long.
    assert await run(1) == [sweep(1), (quiet, recheck)]
    assert await run(2) == []  # a second later: the quiet check waits its turn
    assert await run(1 + lost_callbacks.QUIET_PASS_SECONDS) == [(quiet, recheck)]
    # Housekeeping paused (the database was unreachable): everything quiet before now, at once.
    resumed = 1 + lost_callbacks.QUIET_PASS_SECONDS + lost_callbacks.GAP_SECONDS + 1
    assert await run(resumed) == [sweep(0), (quiet, recheck)]
    assert lost.sweep_before is None  # it found less than a batch: done


# Sessions whose end the provider cannot tell: settled from what is known, never held for ever.


async def in_ivr(live: Live):
    """Alice's callback, answered and waiting in the IVR for her to type a number (0.03 of IVR time held)."""
    live.carrier.phones.set(sc.ALICE_HOME, interactive=True)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await wait_for_state(live, trigger.sid, states.A_ANSWERED)
    while live.legs(row["id"])[0]["answered_at"] is None:
        await asyncio.sleep(0.01)
    return trigger, row


async def over_concurrency(live: Live) -> bool:
    alice = await accounts_module.get_account_by_login(live.db, login="alice")
    return await limits.account_over_concurrency(live.db, account=alice)


def settled_without_a_call(live: Live, trigger_sid: str, row, *, detail: str):
    """Failed with a reason, its leg A billed from what was known, the hold released."""
    done = live.request_for(trigger_sid)
    assert (done["state"], done["reason"], done["reserved"]) == (states.FAILED, states.PROVIDER_ERROR, 0)
    assert reserved(live, "alice") == 0
    (leg,) = live.legs(row["id"])
    assert leg["ended_at"] is not None and leg["status"] == "completed" and leg["duration_seconds"] >= 1
    assert leg["cost"] == leg_cost(leg["duration_seconds"], Rate("1", 10_000), "USD")[1] > 0
    assert live.balance("alice") == 1000 - leg["cost"]
    assert detail in live.events(row["id"])[-1]["detail"]


@EVERY_DIALECT
async def test_a_session_whose_leg_the_provider_does_not_know_is_settled(settings, engine, dialect):
    """The carrier forgot the call (it restarted): a 404 for ever. Settled from what is known, at once."""
    async with live_platform(settings, engine, speed=2, dialect=dialect) as live:
        await live.db.execute(accounts.update().where(accounts.c.login == "alice").values(max_concurrent=1))
        trigger, row = await in_ivr(live)
        (leg_a,) = live.calls_to(sc.ALICE_HOME)
        leg_a.status_callback = None
        live.carrier.end(leg_a)
        await live.carrier.wait_idle(timeout=10)
        del live.carrier.calls[leg_a.sid]  # the carrier no longer knows it
        stuck = live.request_for(trigger.sid)
        assert (stuck["state"], stuck["reserved"], reserved(live, "alice")) == (states.A_ANSWERED, 3, 3)
        assert await over_concurrency(live)  # alice's one call at a time is taken

        platform = live.app.state.platform
        with pytest.raises(ProviderError) as lookup:
            await platform.provider.fetch_call(leg_a.sid)
        assert lookup.value.status == 404
        assert await lost_callbacks.LostCallbacks(platform).run(utcnow()) == 1
        settled_without_a_call(live, trigger.sid, row, detail="does not know the call")
        assert not await over_concurrency(live)
        assert await lost_callbacks.LostCallbacks(platform).run(utcnow()) == 0  # nothing open is left


@pytest.mark.parametrize("provider_says", ["5xx", "still-up"])
async def test_a_session_older_than_any_call_may_last_is_settled(live, monkeypatch, provider_says):
    """The provider keeps failing (or calls the legs up past their TimeLimit): settled once overdue."""
    trigger, row = await connected_session(live)
    platform = live.app.state.platform
    if provider_says == "5xx":
        async def failing(sid):
            raise ProviderError("internal error", code=20500, status=500, retryable=True)

        monkeypatch.setattr(platform.provider, "fetch_call", failing)

    async def check(at: dt.datetime):
        return await lost_callbacks.check_open_legs(
            platform, at, quiet_before=at - dt.timedelta(seconds=lost_callbacks.QUIET_SECONDS),
            checked_before=at - dt.timedelta(seconds=lost_callbacks.RECHECK_SECONDS))

    quiet = utcnow() + dt.timedelta(seconds=lost_callbacks.QUIET_SECONDS + 1)
    assert await check(quiet) == (1, 0)  # not overdue yet: asked, and left for a later pass
    assert live.request_for(trigger.sid)["state"] == states.CONNECTED
    overdue = utcnow() + dt.timedelta(seconds=lost_callbacks.longest_leg_seconds(platform) + 1)
    assert lost_callbacks.longest_leg_seconds(platform) > billing.LEG_A_MAX_SECONDS
    assert await check(overdue) == (1, 2)
    done = live.request_for(trigger.sid)
    assert (done["state"], done["reason"], done["reserved"], done["calls_connected"]) == \
        (states.COMPLETED, None, 0, 1)
    assert reserved(live, "alice") == 0
    legs = live.legs(row["id"])
    assert all(leg["ended_at"] is not None and leg["cost"] > 0 for leg in legs)
    assert live.balance("alice") == 1000 - sum(leg["cost"] for leg in legs)
    detail = live.events(row["id"])[-1]["detail"]
    if provider_says == "5xx":
        assert "the provider answered 500" in detail
    else:  # told to end the calls, the provider's final callbacks may come first: either settles it
        assert "still in-progress" in detail or detail == "leg A ended"
    if provider_says == "still-up":
        await live.carrier.wait_idle(timeout=10)  # told to end them, the carrier did
    else:
        for call in carrier_legs(live):
            live.carrier.end(call)
        await live.carrier.wait_idle(timeout=10)
    await asyncio.sleep(0.1)
    # Their real final callbacks came after all: nothing changes.
    assert (live.request_for(trigger.sid)["state"], live.balance("alice"), reserved(live, "alice")) == \
        (states.COMPLETED, 1000 - sum(leg["cost"] for leg in legs), 0)


async def test_a_callback_in_its_ivr_when_platform_and_carrier_restart_is_settled(settings, engine):
    """`make run` stopped mid-IVR, started again: the new embedded carrier forgot the call."""
    async with live_platform(settings, engine, speed=2) as before:
        trigger, row = await in_ivr(before)
    stuck = before.request_for(trigger.sid)
    assert (stuck["state"], stuck["reserved"], reserved(before, "alice")) == (states.A_ANSWERED, 3, 3)

    async with live_platform(settings, engine, seed_data=False) as after:
        # Housekeeping's first pass after the start asks the new carrier, which answers 404.
        await wait_for_state(after, trigger.sid, states.FAILED, timeout=20)
        for _ in range(500):  # the hold is released right after the move
            if after.request_for(trigger.sid)["reserved"] == 0:
                break
            await asyncio.sleep(0.01)
        settled_without_a_call(after, trigger.sid, row, detail="does not know the call")


def test_only_the_providers_own_not_found_counts_as_a_forgotten_call():
    assert provider_module.is_not_found(ProviderError("not found", code=20404, status=404, retryable=False))
    # A 404 from a wrong API base or a proxy says nothing about the call; nor does any other error.
    assert not provider_module.is_not_found(ProviderError("Not Found", code=None, status=404, retryable=False))
    assert not provider_module.is_not_found(ProviderError("boom", code=20500, status=500, retryable=True))
    assert not provider_module.is_not_found(ProviderTimeout("no answer"))
