"""Caps that must hold when the requests that test them arrive all at once.

Each test fires its requests concurrently at the app (httpx's ASGI transport in
the app's own event loop, `asyncio.gather`), so that every check runs while the
others' inserts are still in flight: a cap counted in one statement and written
in another lets them all through.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from app.data import accounts, callbacks
from app.core import states
from app.data.db import utcnow
from app.data.tables import accounts as accounts_t
from app.data.tables import callback_requests, destination_dials
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.live import seed

NY = "+12125550123"
IN_PROGRESS = (states.QUEUED, states.CALLING_A, states.A_ANSWERED, states.CALLING_B, states.CONNECTED)


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings.with_(trigger_limit=5, destination_daily_limit=3), engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        yield platform


def account_id(p: PlatformUnderTest, login: str) -> int:
    return p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == login))


def set_account(p: PlatformUnderTest, login: str, **values) -> None:
    with p.engine.begin() as c:
        c.execute(accounts_t.update().where(accounts_t.c.login == login).values(**values))


def burst(p: PlatformUnderTest, send, count: int) -> list[httpx.Response]:
    """`send(client, i)` for i in range(count), all at once, in the app's event loop."""

    async def all_at_once():
        transport = httpx.ASGITransport(app=p.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await asyncio.gather(*(send(client, i) for i in range(count)))

    return p.run(all_at_once)


def signed_post(client: httpx.AsyncClient, path: str, params: dict[str, str]):
    return client.post(path, data=params, headers={"X-Twilio-Signature": tw.sign(BASE + path, params)})


def in_progress(p: PlatformUnderTest, login: str) -> int:
    return p.scalar(sa.select(sa.func.count()).select_from(callback_requests).where(
        callback_requests.c.account_id == account_id(p, login), callback_requests.c.state.in_(IN_PROGRESS)))


def test_thirty_parallel_api_callbacks_get_exactly_the_accounts_three_slots(p):
    assert p.scalar(sa.select(accounts_t.c.max_concurrent).where(accounts_t.c.login == "alice")) == 3
    token = p.run(accounts.create_token, p.platform.db, account_id=account_id(p, "alice"), name="race")
    headers = {"Authorization": f"Bearer {token}"}

    def send(client, i):
        return client.post("/api/v1/callbacks", json={"to": NY}, headers=headers)

    responses = burst(p, send, 30)
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 3 + [429] * 27, statuses
    refused = [r.json()["error"]["code"] for r in responses if r.status_code == 429]
    assert set(refused) == {"rate_limited"}
    assert in_progress(p, "alice") == 3


def test_parallel_sms_triggers_from_one_sender_stop_at_the_trigger_limit(p):
    set_account(p, "alice", max_concurrent=100)  # only the per-requester limit (5 here) is in play

    def send(client, i):
        return signed_post(client, "/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER, Body=NY))

    responses = burst(p, send, 20)
    assert all(response.status_code == 200 for response in responses)
    replies = [tw.parse_messages(response.text)[0] for response in responses]
    assert sum("Too many requests" in reply for reply in replies) == 15, replies
    queued = p.scalar(sa.select(sa.func.count()).select_from(callback_requests).where(
        callback_requests.c.trigger_kind == "sms", callback_requests.c.state == states.QUEUED))
    assert queued == p.platform.settings.trigger_limit == 5


def test_parallel_pin_mode_triggers_from_one_caller_stop_at_the_trigger_limit(p):
    # PIN mode: no account until the PIN, so the caller's own count (one upsert) is the only cap in play.
    def send(client, i):
        return signed_post(client, "/twilio/voice", tw.voice_params(From=sc.BOB_MOBILE, To=sc.PIN_NUMBER))

    responses = burst(p, send, 20)
    assert all(response.status_code == 200 and "Reject" in response.text for response in responses)
    rows = p.requests()
    assert len(rows) == 20  # every trigger is on record, the refused ones as failed rows
    assert sorted(row["state"] for row in rows) == [states.FAILED] * 15 + [states.QUEUED] * 5
    assert {row["reason"] for row in rows if row["state"] == states.FAILED} == {states.RATE_LIMITED}


def test_parallel_voice_triggers_get_exactly_the_accounts_slots(p):
    set_account(p, "alice", max_concurrent=2)

    def send(client, i):
        return signed_post(client, "/twilio/voice", tw.voice_params(From=sc.ALICE_MOBILE, To=sc.ANI_NUMBER))

    responses = burst(p, send, 12)
    assert all(response.status_code == 200 and "Reject" in response.text for response in responses)
    rows = p.requests()
    assert sorted(row["state"] for row in rows) == [states.FAILED] * 10 + [states.QUEUED] * 2
    # Past the slots it is the account's cap, then the caller's own limit (5 triggers).
    assert {row["reason"] for row in rows if row["state"] == states.FAILED} == {states.RATE_LIMITED}


def _answered_sessions(p: PlatformUnderTest, count: int, *, needs_pin: bool = False,
                       line: str | None = None) -> list[dict]:
    """`count` callbacks whose leg A is answered, the IVR waiting for a destination (alice's),
    or for a PIN (nobody's yet; each on its own line, since PINs typed at once on one line meet its backoff,
    unless `line` names one for all)."""
    alice = None if needs_pin else account_id(p, "alice")
    rows = []
    for n in range(count):
        sid = tw.call_sid()
        request_id, _created = p.run(
            callbacks.create_request, p.platform.db, trigger_kind="api", trigger_id=tw.call_sid(),
            service_number=sc.PIN_NUMBER, mode="api", caller_id="api:alice", account_id=alice, needs_pin=needs_pin,
            leg_a_number=line or (f"+1415555{200 + n:04d}" if needs_pin else sc.ALICE_HOME), leg_a_from=sc.PIN_NUMBER,
            state=states.A_ANSWERED, base_url=BASE,
            leg_a_sid=sid, due_at=utcnow(), expires_at=utcnow(),
        )
        rows.append({"id": request_id, "sid": sid})
    return rows


def test_parallel_sessions_dialling_one_number_stop_at_its_daily_limit(p):
    set_account(p, "alice", max_concurrent=100, balance=100_000, max_call_seconds=120)
    sessions = _answered_sessions(p, 10)

    def send(client, i):
        session = sessions[i]
        params = tw.voice_params(From=sc.PIN_NUMBER, To=sc.ALICE_HOME, CallSid=session["sid"],
                                 CallStatus="in-progress", Direction="outbound-api", Digits=NY)
        return signed_post(client, f"/legs/{session['id']}/destination", params)

    responses = burst(p, send, len(sessions))
    verbs = [tw.parse_twiml(response.text) for response in responses]
    dialled = [v for v in verbs if any(verb.name == "Dial" for verb in v)]
    assert len(dialled) == p.platform.settings.destination_daily_limit == 3
    refused = [tw.spoken(v) for v in verbs if not any(verb.name == "Dial" for verb in v)]
    assert len(refused) == 7 and all("limit of calls to that number" in said for said in refused), refused
    assert p.scalar(sa.select(sa.func.count()).select_from(destination_dials)) == 3
    calling_b = [r for r in p.requests() if r["state"] == states.CALLING_B]
    assert len(calling_b) == 3 and {r["leg_b_number"] for r in calling_b} == {NY}


def test_parallel_pin_entries_get_exactly_the_accounts_slots(p):
    set_account(p, "alice", max_concurrent=2, balance=100_000)
    sessions = _answered_sessions(p, 8, needs_pin=True)

    def send(client, i):
        session = sessions[i]
        params = tw.voice_params(From=sc.PIN_NUMBER, To=sc.ALICE_HOME, CallSid=session["sid"],
                                 CallStatus="in-progress", Direction="outbound-api", Digits=sc.ALICE_PIN)
        return signed_post(client, f"/legs/{session['id']}/pin", params)

    responses = burst(p, send, len(sessions))
    verbs = [tw.parse_twiml(response.text) for response in responses]
    asked = [v for v in verbs if v[0].name == "Gather"]
    assert len(asked) == 2, [tw.spoken(v) for v in verbs]
    assert in_progress(p, "alice") == 2
    assert sorted(r["reason"] for r in p.requests() if r["state"] == states.FAILED) == [states.RATE_LIMITED] * 6


def test_parallel_wrong_pins_on_one_line_are_checked_at_most_up_to_its_backoff(p):
    from app.data.tables import auth_failures
    from app.fraud import lockouts

    sessions = _answered_sessions(p, 12, needs_pin=True, line=sc.STRANGER)

    def send(client, i):
        session = sessions[i]
        params = tw.voice_params(From=sc.PIN_NUMBER, To=sc.STRANGER, CallSid=session["sid"],
                                 CallStatus="in-progress", Direction="outbound-api", Digits=f"99{i:04d}")
        return signed_post(client, f"/legs/{session['id']}/pin", params)

    responses = burst(p, send, len(sessions))
    verbs = [tw.parse_twiml(response.text) for response in responses]
    # Each is answered as a wrong PIN is, and asked again...
    assert all("not valid" in tw.spoken(v) and v[-1].name == "Gather" for v in verbs), [tw.spoken(v) for v in verbs]
    # ...but each attempt was counted before its PIN was looked at, so those that came within the line's
    # backoff of the ones before were refused unchecked and not counted: at most BACKOFF_AFTER were checked
    # (none, when every attempt was written before any was looked up: each then saw the others).
    counted = p.scalar(sa.select(sa.func.count()).select_from(auth_failures)
                       .where(auth_failures.c.requester == sc.STRANGER))
    assert counted <= lockouts.BACKOFF_AFTER
