"""Every voice and SMS flow on the sandbox carrier speaking Telnyx: TeXML REST with Bearer auth, `v3:` call ids,
Ed25519-signed webhooks, texts in as `message.received` events and out through the Messaging API.

Each test ends by checking every request the platform made of the carrier against the Telnyx API subset
kept in tests/providers/specs (with its sources).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.core import states
from sandbox import telnyx as sandbox_telnyx
from tests.utils import scenario as sc
from tests.utils import telnyx as tx
from tests.utils.live import live_platform

UK = sc.UK_DESTINATION
NY = "+12125550123"
SERVICE = sc.PIN_NUMBER


@pytest.fixture
def database_url(sqlite_template, tmp_path):
    # The dialect does not touch the database: SQLite only (the flows run on both backends in Twilio's dialect).
    import shutil
    path = tmp_path / "telnyx.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def live(settings, engine):
    async with live_platform(settings, engine, dialect="telnyx") as live:
        yield live
        assert tx.check_requests(live.carrier.api_log)  # every request to "Telnyx" is one its API describes


def said(call) -> str:
    return " ".join(entry[1] for entry in call.heard("say"))


def gathers(call):
    return list(call.heard("gather"))


async def test_pin_mode_end_to_end(live):
    live.carrier.phones.set(sc.STRANGER, keys=[sc.ALICE_PIN + "#", "011442071234567#", None])
    live.carrier.phones.set(UK, answer_after=2, talk_seconds=125)
    trigger = await live.ring(sc.STRANGER, sc.PIN_NUMBER)
    assert trigger.sid.startswith("v3:") and trigger.rejected == "busy"
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.COMPLETED, None)
    leg_a = live.calls_to(sc.STRANGER)[-1]
    assert leg_a.sid.startswith("v3:") and row["leg_a_sid"] == leg_a.sid  # named by its first webhook
    prompts = gathers(leg_a)
    assert "PIN" in " ".join(prompts[0][1]) and prompts[0][2] == sc.ALICE_PIN
    assert ("dial", UK) in leg_a.heard("dial") and "Connecting your call" in said(leg_a)
    legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
    assert legs["b"]["provider_sid"].startswith("v3:") and legs["b"]["status"] == "completed"
    assert 123 <= legs["b"]["duration_seconds"] <= 130
    assert live.balance("alice") == 1000 - legs["a"]["cost"] - legs["b"]["cost"] < 1000
    trail = [e["to_state"] for e in live.events(row["id"])]
    assert trail == ["calling_a", "a_answered", "calling_b", "connected", "a_answered", "completed"]
    # Every webhook the carrier posted was signed with its Ed25519 key and accepted.
    assert all(d.status_code in (200, 204) for d in live.carrier.webhook_log)
    (create,) = [body for path, body in live.carrier.api_log if path.endswith("/Calls")]
    assert create["ApplicationSid"] == live.carrier.application_id and create["UrlMethod"] == "POST"
    assert create["StatusCallbackEvent"] == "initiated ringing answered completed"


@pytest.mark.parametrize("caller, number, keys, pin_failures", [
    (sc.ALICE_MOBILE, sc.ANI_NUMBER, ["2125550123#", None], 0),
    (sc.STRANGER, sc.ANI_THEN_PIN_NUMBER, [sc.BOB_PIN + "#", "2125550123#", None], 0),
    (sc.ALICE_MOBILE, sc.ANI_AND_PIN_NUMBER, [sc.BOB_PIN + "#", sc.ALICE_PIN + "#", "2125550123#", None], 1),
])
async def test_ani_modes(live, caller, number, keys, pin_failures):
    called_back = sc.ALICE_HOME if number == sc.ANI_NUMBER else caller
    live.carrier.phones.set(called_back, keys=keys)
    trigger = await live.ring(caller, number)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["pin_failures"]) == (states.COMPLETED, pin_failures)
    assert ("dial", NY) in live.calls_to(called_back)[-1].heard("dial")


async def test_did_mode_with_a_blocked_caller_id_and_strangers_get_nothing(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring("anonymous", sc.ALICE_DID)
    assert (await live.finished(trigger.sid))["state"] == states.COMPLETED
    for caller, number in [(sc.STRANGER, sc.ANI_NUMBER), ("anonymous", sc.PIN_NUMBER)]:
        trigger = await live.ring(caller, number)
        row = await live.finished(trigger.sid)
        assert (row["state"], row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert len([c for c in live.carrier.calls.values() if c.direction == "outbound-api"]) == 1


async def test_leg_a_busy_is_retried_then_fails_unbilled(live):
    live.carrier.phones.set(sc.ALICE_HOME, answer="busy", answer_after=1)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.A_BUSY)
    assert len(live.calls_to(sc.ALICE_HOME)) == 2 and all(leg["cost"] == 0 for leg in live.legs(row["id"]))


async def test_voicemail_on_leg_a_is_never_bridged(live):
    live.carrier.phones.set(sc.STRANGER, answer="voicemail")
    trigger = await live.ring(sc.STRANGER, sc.PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.A_NO_ANSWER)
    leg_a = live.calls_to(sc.STRANGER)[-1]
    assert leg_a.heard("dial") == [] and len(gathers(leg_a)) == 3
    # TeXML has no actionOnEmptyResult: each silent Gather went on to the <Redirect> that follows it.
    assert len(leg_a.heard("redirect")) == 3


async def test_leg_b_busy_is_announced_and_leg_a_billed(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    live.carrier.phones.set(NY, answer="busy", answer_after=2)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.B_BUSY)
    assert "busy" in said(live.calls_to(sc.ALICE_HOME)[-1])
    legs = {leg["leg"]: leg for leg in live.legs(row["id"])}
    assert legs["a"]["cost"] > 0 and legs["b"]["cost"] == 0


async def test_three_wrong_pins_end_the_call(live):
    live.carrier.phones.set(sc.STRANGER, keys=["111111#", "222222#", "333333#"])
    trigger = await live.ring(sc.STRANGER, sc.PIN_NUMBER)
    row = await live.finished(trigger.sid)
    assert (row["state"], row["reason"]) == (states.FAILED, states.AUTH_FAILED)
    assert ("hangup",) in live.calls_to(sc.STRANGER)[-1].heard("hangup")


async def test_several_calls_in_one_session_and_star_ends_leg_b(live):
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", "1", "011442071234567#", None], star_after=20)
    live.carrier.phones.set(NY, talk_seconds=None)
    live.carrier.phones.set(UK, talk_seconds=None)
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid)
    assert row["state"] == states.COMPLETED and row["calls_connected"] == 2
    assert [e[1] for e in live.calls_to(sc.ALICE_HOME)[-1].heard("dial")] == [NY, UK]


async def test_telnyx_errors_are_retried_and_nothing_is_dialled_twice(live):
    live.carrier.faults.fail_next(2, 503)
    live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
    trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
    row = await live.finished(trigger.sid, timeout=30)
    assert row["state"] == states.COMPLETED and row["attempts"] == 3
    assert len(live.calls_to(sc.ALICE_HOME)) == 1
    retries = [e for e in live.events(row["id"]) if e["to_state"] == states.QUEUED]
    assert len(retries) == 2 and all("503" in e["detail"] for e in retries)


async def test_a_refused_create_call_fails_with_telnyxs_reason(settings, engine):
    async with live_platform(settings, engine, dialect="telnyx") as live:
        live.carrier.application_id = "another-application"  # the operator's TELNYX_TEXML_APP_ID is wrong
        trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
        row = await live.finished(trigger.sid)
        assert (row["state"], row["reason"]) == (states.FAILED, states.PROVIDER_ERROR)
        assert "422 10015" in live.events(row["id"])[-1]["detail"]


# SMS ---------------------------------------------------------------------------------------------


async def text(live, sender: str, body: str, *, replies: int = 1):
    """A handset texts the service number; the texts the platform sent back through the Messaging API."""
    inbound = await live.carrier.text(sender, SERVICE, body)
    assert inbound.error_code is None, inbound.error_message
    sent = [m for m in live.carrier.messages.values()
            if m.to == sender and m.from_ == SERVICE and m.date_created >= inbound.date_created
            and m.direction == "outbound-api"]
    assert len(sent) >= replies, sent
    return (sent[-1].body if sent else None), inbound


def request_of(live, inbound):
    (row,) = [r for r in live.requests() if r["trigger_id"] == f"telnyx:{inbound.sid}"]
    return row


async def code_texted_to(live, number: str) -> str:
    import re
    phone = live.carrier.phones[number]
    for _ in range(200):
        codes = [re.search(r"\b(\d{6})\b", m.body) for m in phone.inbox]
        if any(codes):
            return next(c.group(1) for c in codes if c)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code reached {number}")


async def test_sms_by_ani_pin_login_and_connect_two(live):
    live.carrier.phones.set(sc.ALICE_MOBILE, keys=["1", None])
    live.carrier.phones.set(sc.STRANGER, keys=["1", None])
    first = "+14155550123"
    live.carrier.phones.set(first, keys=["1", None])
    reply, by_ani = await text(live, sc.ALICE_MOBILE, "CALL 2125550123")
    assert reply == f"Callback queued: we will call {sc.ALICE_MOBILE}, then connect {NY}."
    reply, by_pin = await text(live, sc.STRANGER, f"PIN {sc.BOB_PIN} 2125550123")
    assert reply.startswith("Callback queued")
    reply, by_login = await text(live, sc.STRANGER, "U.alice P.alice-password 2125550123")
    assert reply.startswith("Callback queued")
    reply, connect_two = await text(live, sc.ALICE_MOBILE, "4155550123 2125550123")
    assert reply == f"Callback queued: we will call {first}, then connect {NY}."
    for inbound in (by_ani, by_pin, by_login, connect_two):
        row = await live.finished(f"telnyx:{inbound.sid}", timeout=30)
        assert row["state"] == states.COMPLETED
    assert ("dial", NY) in live.calls_to(first)[0].heard("dial")
    assert live.balance("bob") < 500 and live.balance("alice") < 1000


async def test_register_with_a_texted_code_balance_and_rate(live):
    reply, _ = await text(live, sc.STRANGER, "U.bob P.bob-password R.4155550177")
    assert reply.startswith("A code was texted to +14155550177.")
    code = await code_texted_to(live, "+14155550177")  # sent through the Messaging API
    assert (await text(live, "+14155550177", f"VERIFY {code}"))[0] == "+14155550177 is now registered to your account."
    assert (await text(live, "+14155550177", "BAL"))[0] == "Your balance is 5.00 USD."
    assert (await text(live, sc.ALICE_MOBILE, "RATE 00442071234567"))[0] == \
        "Calls to +442071234567 cost 0.05 USD a minute."
    assert live.requests() == []


async def test_a_failed_callback_is_noticed_by_text(live):
    live.carrier.phones.set(sc.ALICE_MOBILE, answer="busy")
    await live.db.execute("UPDATE accounts SET retry_attempts = 0")
    _, inbound = await text(live, sc.ALICE_MOBILE, "2125550123")
    row = await live.finished(f"telnyx:{inbound.sid}")
    assert (row["state"], row["reason"]) == (states.FAILED, states.A_BUSY)
    phone = live.carrier.phones[sc.ALICE_MOBILE]
    for _ in range(200):
        if any("could not be completed" in m.body for m in phone.inbox):
            break
        await asyncio.sleep(0.05)
    assert "Your callback could not be completed: your line was busy." in [m.body for m in phone.inbox]


async def test_answering_machine_detection_bridges_only_people(live):
    await live.db.execute("UPDATE accounts SET confirm_mode = 'amd', retry_attempts = 0")
    live.carrier.phones.set(sc.ALICE_MOBILE, answer="voicemail", keys=[None])
    _, inbound = await text(live, sc.ALICE_MOBILE, "2125550123")
    row = await live.finished(f"telnyx:{inbound.sid}")
    assert (row["state"], row["reason"]) == (states.FAILED, states.A_NO_ANSWER)
    (leg_a,) = live.calls_to(sc.ALICE_MOBILE)
    assert leg_a.machine_detection == "Enable" and leg_a.heard("dial") == []


async def test_a_redelivered_event_acts_once(live):
    """Telnyx delivers an event again when an answer is slow: three at once still make one callback."""
    event = sandbox_telnyx.message_received(message_id="40385f64-5717-4562-b3fc-2c963f66afa6", from_=sc.ALICE_MOBILE,
                                            to=SERVICE, text="CALL", at=live.carrier.clock.now(), url="")
    async with httpx.AsyncClient() as client:
        deliveries = [tx.signed_json(live.carrier.signer, event) for _ in range(3)]
        responses = await asyncio.gather(*(client.post(live.platform_url + "/telnyx/sms", content=body,
                                                       headers=headers) for body, headers in deliveries))
    assert [r.status_code for r in responses] == [204, 204, 204]
    assert len(live.requests()) == 1
    replies = [m for m in live.carrier.messages.values() if m.to == sc.ALICE_MOBILE]
    assert len(replies) == 1 and replies[0].body.startswith("Callback queued")
