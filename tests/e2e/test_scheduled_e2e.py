"""Scheduled callbacks end to end on the sandbox carrier: asked for by the API, a text and the portal, kept
in the queue past its time to live, placed when the dispatcher's clock reaches their time.

The dispatcher's clock is moved forward (tests/utils/clock.py) rather than slept through; the
carrier, the webhooks and the rest of the platform keep the real time.
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from app.calls import dispatcher as dispatching
from app.core import schedule, states
from app.data import accounts
from app.data.db import utcnow
from tests.utils import scenario as sc
from tests.utils.clock import DispatchClock
from tests.utils.live import live_platform

NY = "+12125550123"


@pytest.fixture
async def live(settings, engine):
    async with live_platform(settings, engine) as live:
        yield live


async def api_client(live, login: str) -> httpx.AsyncClient:
    account = await accounts.get_account_by_login(live.db, login=login)
    token = await accounts.create_token(live.db, account_id=account["id"])
    return httpx.AsyncClient(base_url=live.platform_url + "/api/v1", headers={"Authorization": f"Bearer {token}"})


def in_paris(when: dt.datetime) -> str:
    """Naive UTC -> RFC 3339 with Paris's offset, as an integrator in Paris would send it."""
    return schedule.utc_to_local(when, "Europe/Paris").isoformat()


async def not_dialled_yet(live, number: str) -> None:
    # A pass on the dispatcher's own loop: its database handle and provider clients are bound to it.
    assert await live.app.state.dispatch_thread.call(live.app.state.dispatcher.dial_due) == 0
    assert live.calls_to(number) == []


async def test_an_api_callback_waits_past_its_ttl_then_is_placed_at_its_time(live):
    clock = DispatchClock(live.app.state.dispatcher)
    live.carrier.phones.set(sc.ALICE_HOME, keys=["1", None])
    at = (utcnow() + dt.timedelta(hours=5)).replace(microsecond=0)
    async with await api_client(live, "alice") as api:
        created = await api.post("/callbacks", json={"to": "2125550123", "at": in_paris(at)},
                                 headers={"Idempotency-Key": "dentist"})
        assert created.status_code == 201, created.text
        callback = created.json()
        assert (callback["state"], callback["scheduled_at"]) == ("queued", schedule.rfc3339(at))
        listed = (await api.get("/callbacks", params={"scheduled": "true"})).json()["data"]
        assert [c["id"] for c in listed] == [callback["id"]]

        # Hours before its time: not dialled, and the housekeeping does not expire it, however long
        # the queue's time to live is from now: that counts from its time.
        await not_dialled_yet(live, sc.ALICE_HOME)
        ttl = live.app.state.platform.settings.request_ttl_seconds
        await dispatching.expire_and_settle(live.app.state.platform, utcnow() + dt.timedelta(seconds=ttl + 60))
        row = [r for r in live.requests() if r["id"] == callback["id"]][0]
        assert row["state"] == states.QUEUED and row["expires_at"] == at + dt.timedelta(seconds=ttl)

        clock.advance(dt.timedelta(hours=5, seconds=1))
        alice = await accounts.get_account_by_login(live.db, login="alice")
        row = await live.finished(f"{alice['id']}:dentist")
        assert row["state"] == states.COMPLETED
        (leg_a,) = live.calls_to(sc.ALICE_HOME)
        assert ("dial", NY) in leg_a.heard("dial")
        assert (await api.get("/callbacks", params={"scheduled": "true"})).json()["data"] == []


async def test_the_balance_is_checked_again_when_it_is_placed(live):
    clock = DispatchClock(live.app.state.dispatcher)
    at = utcnow() + dt.timedelta(days=2)
    async with await api_client(live, "alice") as api:
        created = await api.post("/callbacks", json={"to": NY, "at": schedule.rfc3339(at)},
                                 headers={"Idempotency-Key": "later"})
        assert created.status_code == 201, created.text
    alice = await accounts.get_account_by_login(live.db, login="alice")
    await accounts.update_account(live.db, account_id=alice["id"], balance=0)  # spent elsewhere meanwhile
    clock.advance(dt.timedelta(days=2, seconds=1))
    row = await live.finished(f"{alice['id']}:later")
    assert (row["state"], row["reason"]) == (states.FAILED, states.INSUFFICIENT_FUNDS)
    assert live.calls_to(sc.ALICE_HOME) == []


async def test_a_text_schedules_on_the_accounts_clock_and_is_placed_then(live):
    clock = DispatchClock(live.app.state.dispatcher)
    alice = await accounts.get_account_by_login(live.db, login="alice")
    await accounts.update_account(live.db, account_id=alice["id"], time_zone="America/New_York")
    # Three hours from now on alice's clock, rounded to the minute: today or, near midnight, tomorrow.
    local = schedule.utc_to_local(utcnow() + dt.timedelta(hours=3), "America/New_York")
    expected = schedule.next_at(local.hour, local.minute, "America/New_York", utcnow())
    live.carrier.phones.set(sc.ALICE_MOBILE, keys=["1", None])
    message = await live.carrier.text(sc.ALICE_MOBILE, sc.PIN_NUMBER, f"call 2125550123 at {local:%H:%M}")
    (reply,) = message.replies
    assert reply.body == (f"Callback scheduled for {schedule.utc_to_local(expected, 'America/New_York'):%Y-%m-%d %H:%M}"
                          f" (America/New_York): we will call {sc.ALICE_MOBILE}, then connect {NY}.")
    (row,) = [r for r in live.requests() if r["trigger_id"] == f"twilio:{message.sid}"]
    assert row["scheduled_at"] == expected and row["due_at"] == expected
    await not_dialled_yet(live, sc.ALICE_MOBILE)

    clock.advance(expected - utcnow() + dt.timedelta(seconds=1))
    row = await live.finished(f"twilio:{message.sid}")
    assert row["state"] == states.COMPLETED
    assert ("dial", NY) in live.calls_to(sc.ALICE_MOBILE)[0].heard("dial")


async def test_a_text_with_a_bad_time_is_answered_and_queues_nothing(live):
    for body, answer in [("CALL 2125550123 AT 25:00", "That time cannot be used"),
                         ("CALL 2125550123 AT", "That time cannot be used")]:
        message = await live.carrier.text(sc.ALICE_MOBILE, sc.PIN_NUMBER, body)
        assert message.replies[0].body.startswith(answer), message.replies[0].body
    assert live.requests() == []


async def test_a_call_scheduled_in_the_portal_is_placed_at_its_time(live):
    clock = DispatchClock(live.app.state.dispatcher)
    alice = await accounts.get_account_by_login(live.db, login="alice")
    await accounts.update_account(live.db, account_id=alice["id"], time_zone="Europe/Paris")
    live.carrier.phones.set(sc.ALICE_HOME, keys=["1", None])
    local = schedule.utc_to_local(utcnow() + dt.timedelta(days=3), "Europe/Paris")
    async with httpx.AsyncClient(base_url=live.platform_url) as browser:
        page = await browser.get("/login")
        await browser.post("/login", data={"csrf": csrf_of(page), "login": "alice", "password": "alice-password"})
        page = await browser.get("/")
        sent = await browser.post("/calls", data={"csrf": csrf_of(page), "nonce": "dashboard-form-1", "from": "",
                                                  "to": "(212) 555-0123", "date": f"{local:%Y-%m-%d}",
                                                  "time": f"{local:%H:%M}"})
        assert sent.status_code == 303, sent.text
        (row,) = live.requests()
        expected = schedule.local_to_utc(local.replace(tzinfo=None, second=0, microsecond=0), "Europe/Paris")
        assert (row["trigger_kind"], row["scheduled_at"], row["leg_b_number"]) == ("web", expected, NY)
        assert f"{local:%Y-%m-%d %H:%M}" in (await browser.get("/")).text
    await not_dialled_yet(live, sc.ALICE_HOME)

    clock.advance(expected - utcnow() + dt.timedelta(seconds=1))
    row = await live.finished(row["trigger_id"])
    assert row["state"] == states.COMPLETED
    assert ("dial", NY) in live.calls_to(sc.ALICE_HOME)[0].heard("dial")


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


async def test_a_blocked_account_or_a_tightened_policy_is_seen_when_it_is_placed(live):
    from app.fraud import policy

    clock = DispatchClock(live.app.state.dispatcher)
    alice = await accounts.get_account_by_login(live.db, login="alice")
    now = utcnow()
    async with await api_client(live, "alice") as api:
        for key, leg_a, hours in (("policy", sc.ALICE_MOBILE, 1), ("blocked", sc.ALICE_HOME, 2)):
            created = await api.post("/callbacks", json={"to": NY, "from": leg_a,
                                                         "at": schedule.rfc3339(now + dt.timedelta(hours=hours))},
                                     headers={"Idempotency-Key": key})
            assert created.status_code == 201, created.text
    # Meanwhile the operator denies calls to alice's mobile: the first is refused when placed.
    await policy.add_rule(live.db, kind="deny_prefix", value=sc.ALICE_MOBILE.lstrip("+"), account_id=alice["id"])
    clock.advance(dt.timedelta(hours=1, seconds=1))
    row = await live.finished(f"{alice['id']}:policy")
    assert (row["state"], row["reason"]) == (states.FAILED, states.DESTINATION_BLOCKED)
    # Then blocks the account: the second is never placed either.
    await accounts.update_account(live.db, account_id=alice["id"], status="blocked")
    clock.advance(dt.timedelta(hours=1))
    row = await live.finished(f"{alice['id']}:blocked")
    assert (row["state"], row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert live.calls_to(sc.ALICE_HOME) == [] and live.calls_to(sc.ALICE_MOBILE) == []
