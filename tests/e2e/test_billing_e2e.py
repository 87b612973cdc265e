"""Money end to end on the sandbox: announcements, time limits, policy, limits, and fifty calls at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from app.data import rates
from app.core import states
from app.data.tables import accounts, call_legs, callback_requests
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.live import EVERY_DIALECT, live_platform

NY = "+12125550123"
PREMIUM = "+449098790000"


@pytest.fixture
async def live(settings, engine, dialect):
    async with live_platform(settings, engine, dialect=dialect) as live:
        yield live


def said(call) -> str:
    return " ".join(entry[1] for entry in call.heard("say"))


async def set_balance(live, login: str, balance: int, **values):
    await live.db.execute(accounts.update().where(accounts.c.login == login).values(balance=balance, **values))


@EVERY_DIALECT
async def test_balance_and_minutes_are_announced_and_the_call_is_cut_at_its_limit(live):
    await set_balance(live, "alice", 20)  # 0.20: at 0.01 + 0.01 a minute, a few minutes
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    live.carrier.phones.set(NY, talk_seconds=None)  # would talk forever
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid, timeout=30)
    (leg_a,) = live.calls_to(sc.ALICE_HOME)
    (dial,) = [e for e in leg_a.heard() if e[0] == "dial"]
    announcement = said(leg_a)
    assert "Your balance is 0.20 USD." in announcement
    limit_minutes = int(announcement.split("up to ")[1].split(" minutes")[0])
    b = {leg["leg"]: leg for leg in live.legs(row["id"])}["b"]
    assert b["duration_seconds"] <= limit_minutes * 60 + 60
    assert any(entry[0] == "time-limit" for entry in leg_a.heard())
    final = live.balance("alice")
    assert final >= 0
    assert 20 - final == sum(leg["cost"] for leg in live.legs(row["id"]))


async def test_a_premium_destination_is_refused(live):
    await rates.set_rate(live.db, prefix="44909", price_per_minute=1_500_000)
    live.carrier.phones.set(sc.ALICE_HOME, keys=["00449098790000#", None, None, None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    await live.finished(trigger.sid, timeout=30)
    (leg_a,) = live.calls_to(sc.ALICE_HOME)
    assert "Calls to that number are not available" in said(leg_a)
    assert leg_a.heard("dial") == [] and live.calls_to(PREMIUM) == []


async def test_a_requester_over_the_limit_is_refused_then_cools_down(settings, engine):
    async with live_platform(settings.with_(trigger_limit=2, trigger_window_seconds=2), engine) as live:
        live.carrier.phones.set(sc.ALICE_HOME, answer="busy")
        await live.db.execute(accounts.update().values(retry_attempts=0, max_concurrent=10))
        sids = [(await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)).sid for _ in range(3)]
        rows = [await live.finished(sid, timeout=30) for sid in sids]
        assert [row["reason"] for row in rows] == [states.A_BUSY, states.A_BUSY, states.RATE_LIMITED]
        await asyncio.sleep(2.1)  # the window has passed: the cool-down is over
        again = await live.finished((await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)).sid, timeout=30)
        assert again["reason"] == states.A_BUSY


async def test_ten_wrong_pins_lock_the_caller_out(live, lockout_clock):
    live.carrier.phones.set(sc.STRANGER, keys=["111111#", "222222#", "333333#"])
    await live.db.execute(sa.text("UPDATE accounts SET max_concurrent = 10"))
    # The clock stands still within a call, so after the first call's three failures the
    # backoff lets one PIN a call be checked: ten failures take eight calls.
    for _ in range(12):
        row = await live.finished((await live.ring(sc.STRANGER, sc.PIN_NUMBER)).sid, timeout=30)
        if row["reason"] == states.AUTH_FAILED and not live.legs(row["id"]):
            break
        lockout_clock.wait_out_backoff()
    locked = await live.finished((await live.ring(sc.STRANGER, sc.PIN_NUMBER)).sid)
    assert (locked["state"], locked["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert live.legs(locked["id"]) == []  # not even called back


async def test_repeated_status_callbacks_are_billed_once(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    balance = live.balance("alice")
    b = {leg["leg"]: leg for leg in live.legs(row["id"])}["b"]
    url = f"{live.platform_url}/twilio/status?request={row['id']}&leg=b"
    async with httpx.AsyncClient() as client:
        for sequence in (3, 3, 9):
            params = tw.status_params(CallSid=b["provider_sid"], CallStatus="completed", From=sc.ANI_NUMBER, To=NY,
                                      SequenceNumber=sequence, CallDuration=600)
            response = await client.post(url, data=params, headers={"X-Twilio-Signature": tw.sign(url, params)})
            assert response.status_code == 204
    assert live.balance("alice") == balance
    assert {leg["leg"]: leg for leg in live.legs(row["id"])}["b"]["duration_seconds"] == b["duration_seconds"]


async def test_fifty_concurrent_callbacks_never_overspend(settings, engine):
    """Fifty subscribers' worth of callbacks on one account with two dollars: every cent in a CDR.

    Each callback leg holds 3 cents of IVR time before it is dialled (150 cents for the fifty,
    held within a second), so the fifty compete for the 50 cents left to talk with."""
    if settings.is_sqlite:
        pytest.skip("the concurrency proof is for PostgreSQL: SQLite runs one writer at a time")
    # Speed 10, not faster: the platform times leg A by the wall clock, the carrier bills
    # virtual seconds; a faster clock would make the IVR look longer than it was.
    async with live_platform(settings, engine, speed=10, cps=100) as live:
        # The second party talks until the time limit cuts it off; two minutes at most, so that
        # a call which finds the balance freed by others still ends within the test's wait.
        await live.db.execute(accounts.update().where(accounts.c.login == "alice")
                              .values(balance=200, max_concurrent=100, retry_attempts=0, max_call_seconds=120))
        live.carrier.phones.set(NY, talk_seconds=None)
        callers = [f"+1415555{n:04d}" for n in range(50)]
        alice_id = await live.db.fetch_val(sa.select(accounts.c.id).where(accounts.c.login == "alice"))
        for number in callers:
            await live.db.execute(sa.text("INSERT INTO anis (account_id, number, verified, created_at) "
                                          "VALUES (:a, :n, true, CURRENT_TIMESTAMP)").bindparams(a=alice_id, n=number))
            live.carrier.phones.set(number, keys=["2125550123#", None])
        await live.db.execute(accounts.update().where(accounts.c.login == "alice").values(default_number=None))
        triggers = await asyncio.gather(*(live.carrier.ring(from_=number, to=sc.ANI_NUMBER) for number in callers))
        for trigger in triggers:
            await live.finished(trigger.sid, timeout=60)
        with engine.connect() as c:
            final = c.execute(sa.select(accounts.c.balance, accounts.c.reserved)
                              .where(accounts.c.login == "alice")).one()
            spent = c.execute(sa.select(sa.func.coalesce(sa.func.sum(call_legs.c.cost), 0))).scalar()
            states_seen = c.execute(sa.select(callback_requests.c.state, sa.func.count())
                                    .group_by(callback_requests.c.state)).all()
        assert final.balance >= 0 and final.reserved == 0
        assert 200 - final.balance == spent
        assert sum(count for _, count in states_seen) == 50
        assert dict(states_seen).get(states.COMPLETED, 0) >= 1
