"""The dispatcher: provider errors, timeouts, expiry, restarts, and never dialling twice."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from app.data import accounts as accounts_module
from app.billing import pricing as billing
from app.data import callbacks
from app.fraud import limits
from app.calls import pacing
from app.core import states
from app.calls import dispatcher as dispatcher_module
from app.data.db import utcnow
from app.calls.dispatcher import Dispatcher
from app.data.tables import accounts
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.provider import TwilioRecorder


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        allow_many_calls(engine)
        yield platform


def allow_many_calls(engine):
    # These tests queue several callbacks for one account at once.
    with engine.begin() as c:
        c.execute(accounts.update().values(max_concurrent=50))


def new_request(p: PlatformUnderTest) -> sc.Session:
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    return s


async def make_due(p: PlatformUnderTest, request_id: int):
    await callbacks.update_request(p.platform.db, request_id=request_id, due_at=utcnow())


def test_5xx_and_429_are_retried_with_backoff_then_placed(p):
    s = new_request(p)
    provider = TwilioRecorder()
    with provider.cassette("calls_errors.yaml"):
        assert p.dispatch() == 1
        row = s.row
        assert row["state"] == states.QUEUED and row["attempts"] == 1
        assert row["due_at"] > utcnow()  # backoff, not an immediate redial
        assert p.dispatch() == 0
        p.run(make_due, p, s.request_id)
        p.dispatch()
        assert s.row["state"] == states.QUEUED and s.row["attempts"] == 2
        p.run(make_due, p, s.request_id)
        p.dispatch()
        assert provider.played == 3
    row = s.row
    assert row["state"] == states.CALLING_A and row["leg_a_sid"] == "CA" + f"{9:032x}"
    details = [e["detail"] for e in p.events(s.request_id) if e["to_state"] == states.QUEUED]
    assert "500" in details[0] and "20500" in details[0]
    assert "429" in details[1] and "20429" in details[1]


@pytest.mark.parametrize("balance, time_limit", [(5, 299), (1000, billing.LEG_A_MAX_SECONDS)],
                         ids=["five-minutes", "longest-allowed"])
def test_leg_a_is_created_with_the_time_limit_its_balance_covers(p, balance, time_limit):
    """TimeLimit: the longest leg A the account's balance pays for at the callback tariff (0.01/min here).

    The hold taken before dialling covers the IVR (3 minutes, 0.03); the rest of the
    balance may pay for more of leg A once a call is planned, never beyond it.
    """
    with p.engine.begin() as c:
        c.execute(accounts.update().where(accounts.c.login == "alice").values(balance=balance))
    s = new_request(p)
    recorder = TwilioRecorder()
    with recorder.cassette("calls_create.yaml"):
        assert p.dispatch() == 1
    (create,) = recorder.sent  # and it validated against Twilio's description of the request
    assert create["TimeLimit"] == [str(time_limit)] and create["Timeout"] == ["30"]
    assert s.row["reserved"] == 3
    # The balance pays for leg A to the limit, and for the second the carrier may round its end up to;
    # not for a second more.
    rate_a = billing.Rate(prefix="1", price_per_minute=10_000)
    assert billing.leg_cost(time_limit + 1, rate_a, "USD")[1] <= balance
    if time_limit < billing.LEG_A_MAX_SECONDS:
        assert billing.leg_cost(time_limit + 2, rate_a, "USD")[1] > balance


def test_a_leg_a_without_a_known_account_gets_the_longest_time_limit(p):
    s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
    s.trigger()
    recorder = TwilioRecorder()
    with recorder.cassette("calls_create.yaml"):
        assert p.dispatch() == 1
    (create,) = recorder.sent
    assert create["TimeLimit"] == [str(billing.LEG_A_MAX_SECONDS)] and s.row["reserved"] == 0


def test_retries_are_bounded_then_provider_error(settings, engine):
    with PlatformUnderTest(settings.with_(provider_max_attempts=2), engine) as p:
        sc.seed(p)
        s = new_request(p)
        with TwilioRecorder().cassette("calls_errors.yaml"):
            p.dispatch()
            p.run(make_due, p, s.request_id)
            p.dispatch()
        assert (s.row["state"], s.row["reason"], s.row["attempts"]) == (states.FAILED, states.PROVIDER_ERROR, 2)


def test_a_refused_request_fails_at_once(p):
    s = new_request(p)
    with TwilioRecorder().cassette("calls_invalid_number.yaml") as cassette:
        p.dispatch()
        assert cassette.play_count == 1
    row = s.row
    assert (row["state"], row["reason"]) == (states.FAILED, states.PROVIDER_ERROR)
    assert "21211" in p.events(s.request_id)[-1]["detail"]


class SilentProvider:
    """A TCP server that reads requests and never answers: a provider timing out."""

    def __init__(self):
        self.requests = 0

    async def handle(self, reader, writer):
        self.requests += 1
        await reader.read(65536)
        await asyncio.sleep(30)

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self):
        self.server.close()


def test_a_timed_out_create_is_not_redialled_and_fails_after_the_grace(settings, engine):
    silent = SilentProvider()
    port = asyncio.run(_free_port())
    configured = settings.with_(twilio_api_base=f"http://127.0.0.1:{port}", provider_timeout_seconds=0.3,
                                placing_grace_seconds=0)
    with PlatformUnderTest(configured, engine) as p:
        sc.seed(p)
        assert p.run(_start_on, silent, port)
        s = new_request(p)
        p.dispatch()
        row = s.row
        assert row["state"] == states.CALLING_A and row["leg_a_sid"] is None
        p.run(asyncio.sleep, 1.0)  # grace: 3 x the 0.3 s timeout
        p.app.state.dispatcher._housekeeping_at = 0
        p.dispatch()
        row = s.row
        assert (row["state"], row["reason"]) == (states.FAILED, states.PROVIDER_ERROR)
        assert silent.requests == 1
        p.run(silent.stop)


def test_a_timed_out_create_that_did_place_the_call_is_adopted(settings, engine):
    silent = SilentProvider()
    port = asyncio.run(_free_port())
    configured = settings.with_(twilio_api_base=f"http://127.0.0.1:{port}", provider_timeout_seconds=0.3)
    with PlatformUnderTest(configured, engine) as p:
        sc.seed(p)
        p.run(_start_on, silent, port)
        s = new_request(p)
        p.dispatch()
        sid = tw.call_sid()
        params = tw.status_params(CallSid=sid, CallStatus="initiated", From=sc.ANI_NUMBER, To=sc.ALICE_HOME,
                                  SequenceNumber=0)
        assert p.post(f"/twilio/status?request={s.request_id}&leg=a", params).status_code == 204
        assert s.row["leg_a_sid"] == sid
        assert s.step("answer")[0].name == "Gather"
        p.run(silent.stop)


async def _free_port() -> int:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


async def _start_on(silent: SilentProvider, port: int) -> bool:
    silent.server = await asyncio.start_server(silent.handle, "127.0.0.1", port)
    return True


def test_connection_refused_is_retried(settings, engine):
    port = asyncio.run(_free_port())
    with PlatformUnderTest(settings.with_(twilio_api_base=f"http://127.0.0.1:{port}"), engine) as p:
        sc.seed(p)
        s = new_request(p)
        p.dispatch()
        assert (s.row["state"], s.row["attempts"]) == (states.QUEUED, 1)


def test_a_request_not_placed_in_time_expires(p):
    s = new_request(p)
    p.run(_expire_now, p, s.request_id)
    with TwilioRecorder().cassette("calls_create.yaml") as cassette:
        assert p.dispatch() == 0
        assert cassette.play_count == 0
    assert (s.row["state"], s.row["reason"]) == (states.FAILED, states.EXPIRED)


async def _expire_now(p: PlatformUnderTest, request_id: int):
    past = utcnow() - dt.timedelta(seconds=1)
    await callbacks.update_request(p.platform.db, request_id=request_id, expires_at=past, due_at=past)


def test_requests_pending_at_shutdown_are_dialled_after_restart(settings, engine):
    with PlatformUnderTest(settings, engine) as first:
        sc.seed(first)
        s = new_request(first)
    assert s.row["state"] == states.QUEUED
    with PlatformUnderTest(settings, engine) as second, TwilioRecorder().cassette("calls_create.yaml") as cassette:
        assert second.dispatch() == 1
        assert cassette.play_count == 1
    assert s.row["state"] == states.CALLING_A and s.row["leg_a_sid"]


def test_two_dispatchers_racing_dial_each_request_once(settings, engine):
    with PlatformUnderTest(settings.with_(provider_cps=10_000), engine) as p:
        sc.seed(p)
        allow_many_calls(engine)
        for _ in range(5):
            new_request(p)
        rivals = [Dispatcher(p.platform) for _ in range(3)]

        async def race():
            counts = await asyncio.gather(*(rival.tick() for rival in rivals))
            await asyncio.gather(*(rival.drain() for rival in rivals))
            return sum(counts)

        with TwilioRecorder().cassette("calls_create.yaml") as cassette:
            assert p.run(race) == 5
            assert cassette.play_count == 5
        sids = [row["leg_a_sid"] for row in p.requests()]
        assert len(set(sids)) == 5 and all(sids)


def test_the_dispatcher_paces_calls_to_the_provider_cps(settings, engine):
    with PlatformUnderTest(settings.with_(provider_cps=2), engine) as p:
        sc.seed(p)
        allow_many_calls(engine)
        for _ in range(5):
            new_request(p)
        with TwilioRecorder().cassette("calls_create.yaml"):
            assert p.dispatch() == 1  # one slot now, the next half a second later
            assert p.dispatch() == 0
            p.run(asyncio.sleep, 0.55)
            assert p.dispatch() == 1


def test_the_limit_holds_for_every_dispatcher_together(settings, engine):
    """Several workers or instances share the provider's calls per second through the database."""
    with PlatformUnderTest(settings.with_(provider_cps=2), engine) as p:
        sc.seed(p)
        allow_many_calls(engine)
        for _ in range(5):
            new_request(p)
        rivals = [Dispatcher(p.platform) for _ in range(4)]

        async def race():
            counts = await asyncio.gather(*(rival.tick() for rival in rivals))
            await asyncio.gather(*(rival.drain() for rival in rivals))
            return sum(counts)

        with TwilioRecorder().cassette("calls_create.yaml") as cassette:
            assert p.run(race) == 1
            assert cassette.play_count == 1
        # The rivals that lost the slot put what they claimed back, attempts not counted.
        assert sorted((r["state"], r["attempts"]) for r in p.requests()) == (
            [(states.CALLING_A, 1)] + [(states.QUEUED, 0)] * 4)


def test_a_call_that_wakes_too_late_for_its_slot_gets_a_new_one_instead_of_being_sent(p):
    """Sending it late would bunch it up with the calls of the next slots and exceed the CPS."""
    s = new_request(p)
    dispatcher = p.app.state.dispatcher

    async def claim_and_wake_late():
        [request] = await callbacks.claim_due(p.platform.db, now=utcnow(), limit=1)
        assert await dispatcher._held(request) is request
        await dispatcher._place(request, pacing.now_us() - 2 * pacing.LATE_US, misses=0)

    with TwilioRecorder().cassette("calls_create.yaml") as cassette:
        p.run(claim_and_wake_late)
        assert cassette.play_count == 0
        # Still claimed and held, waiting for the next pass, which sends it at a new slot.
        assert (s.row["state"], s.row["leg_a_sid"]) == (states.CALLING_A, None) and s.row["reserved"] > 0
        assert p.dispatch() == 1
        assert cassette.play_count == 1
    row = s.row
    assert row["state"] == states.CALLING_A and row["attempts"] == 1 and row["leg_a_sid"]


def test_settle_gives_a_call_that_woke_late_new_slots_until_it_is_sent(p):
    """What the tests' dispatch pass relies on when the machine is loaded: no call is left behind."""
    s = new_request(p)
    dispatcher = p.app.state.dispatcher

    async def wake_late_then_settle():
        [request] = await callbacks.claim_due(p.platform.db, now=utcnow(), limit=1)
        assert await dispatcher._held(request) is request
        await dispatcher._place(request, pacing.now_us() - 2 * pacing.LATE_US, misses=0)
        assert cassette.play_count == 0 and dispatcher._late
        await dispatcher.settle()
        assert dispatcher._late == [] and not dispatcher.in_flight

    with TwilioRecorder().cassette("calls_create.yaml") as cassette:
        p.run(wake_late_then_settle)
        assert cassette.play_count == 1
    row = s.row
    assert row["state"] == states.CALLING_A and row["attempts"] == 1 and row["leg_a_sid"]


def test_a_call_that_misses_slot_after_slot_is_sent_at_its_last_one_however_late(p):
    """An event loop that busy must not hold the call back for ever."""
    s = new_request(p)
    dispatcher = p.app.state.dispatcher
    late = pacing.now_us() - 2 * pacing.LATE_US

    async def miss_every_slot():
        [request] = await callbacks.claim_due(p.platform.db, now=utcnow(), limit=1)
        for misses in range(dispatcher_module.MAX_SLOTS):
            await dispatcher._place(request, late, misses=misses)
            sent = cassette.play_count
            assert sent == (1 if misses == dispatcher_module.MAX_SLOTS - 1 else 0)
            assert dispatcher._late == ([] if sent else [(request, misses + 1)])
            dispatcher._late.clear()

    with TwilioRecorder().cassette("calls_create.yaml") as cassette:
        p.run(miss_every_slot)
    row = s.row
    assert row["state"] == states.CALLING_A and row["attempts"] == 1 and row["leg_a_sid"]


def test_calls_waiting_for_a_new_slot_at_shutdown_go_back_to_the_queue(settings, engine):
    with PlatformUnderTest(settings, engine) as first:
        sc.seed(first)
        s = new_request(first)
        dispatcher = first.app.state.dispatcher

        async def wake_late():
            [request] = await callbacks.claim_due(first.platform.db, now=utcnow(), limit=1)
            await dispatcher._place(request, pacing.now_us() - 2 * pacing.LATE_US, misses=0)

        first.run(wake_late)
        assert s.row["state"] == states.CALLING_A
    assert (s.row["state"], s.row["attempts"]) == (states.QUEUED, 0)


def test_a_pass_that_fails_keeps_the_calls_waiting_for_a_new_slot(p, monkeypatch):
    s = new_request(p)
    dispatcher = p.app.state.dispatcher

    async def wake_late():
        [request] = await callbacks.claim_due(p.platform.db, now=utcnow(), limit=1)
        await pacing.ensure(p.platform.db)
        await dispatcher._place(request, pacing.now_us() - 2 * pacing.LATE_US, misses=0)

    async def unreachable(*args, **kwargs):
        raise ConnectionError("database unreachable")

    with TwilioRecorder().cassette("calls_create.yaml") as cassette:
        p.run(wake_late)
        with monkeypatch.context() as m:
            m.setattr(pacing, "take_slots", unreachable)
            with pytest.raises(ConnectionError):
                p.dispatch()
        assert [request["id"] for request, _ in dispatcher._late] == [s.request_id]
        assert p.dispatch() == 1
        assert cassette.play_count == 1
    assert s.row["state"] == states.CALLING_A and s.row["leg_a_sid"]


def _alice_reserved(engine) -> int:
    with engine.connect() as c:
        return c.execute(sa.select(accounts.c.reserved).where(accounts.c.login == "alice")).scalar_one()


@pytest.mark.parametrize("left", ["claimed-never-sent", "requeued-then-expired"])
def test_a_request_its_dispatcher_left_behind_ends_with_a_reason_and_gives_its_hold_back(settings, engine, left):
    """Claimed and held by a dispatcher that died before sending it, or back in the queue with its hold
    until it expired: either way it ends, with a reason, and the account gets its balance and slot back."""
    with PlatformUnderTest(settings, engine) as first:
        sc.seed(first)
        s = new_request(first)

        async def claim_and_hold():
            [request] = await callbacks.claim_due(first.platform.db, now=utcnow(), limit=1)
            assert await first.app.state.dispatcher._held(request) is request
            if left == "requeued-then-expired":
                await dispatcher_module.requeue(first.platform, request, "no provider slot free")
                past = utcnow() - dt.timedelta(seconds=1)
                await callbacks.update_request(first.platform.db, request_id=request["id"], expires_at=past,
                                               due_at=past)

        first.run(claim_and_hold)  # and the process dies here
    assert s.row["reserved"] == 3 and _alice_reserved(engine) == 3
    expected = {"claimed-never-sent": (states.CALLING_A, states.PROVIDER_ERROR),
                "requeued-then-expired": (states.QUEUED, states.EXPIRED)}[left]
    assert s.row["state"] == expected[0]

    restarted = settings.with_(placing_grace_seconds=0, provider_timeout_seconds=0.05)
    with PlatformUnderTest(restarted, engine) as second, TwilioRecorder().cassette("calls_create.yaml") as cassette:
        second.run(asyncio.sleep, 0.2)  # past the grace for an unanswered create
        second.dispatch()
        assert cassette.play_count == 0  # never dialled now: it may have been placed, or it is too late
        row = s.row
        assert (row["state"], row["reason"], row["reserved"]) == (states.FAILED, expected[1], 0)
        assert _alice_reserved(engine) == 0
        alice = second.run(accounts_module.get_account_by_login, second.platform.db, login="alice")
        assert not second.run(limits.account_over_concurrency, second.platform.db, account=alice)
