"""SMS triggers end to end on the sandbox carrier: the provider's webhook and the gateway endpoint."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from app.data import sms_log
from app.core import states
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.live import EVERY_DIALECT, live_platform

NY = "+12125550123"
SERVICE = sc.PIN_NUMBER


@pytest.fixture
async def live(settings, engine, dialect):
    async with live_platform(settings, engine, dialect=dialect) as live:
        yield live


async def text(live, sender: str, body: str) -> tuple[str, object]:
    message = await live.carrier.text(sender, SERVICE, body)
    assert len(message.replies) == 1, message.replies
    return message.replies[0].body, message


def request_of(live, message) -> dict:
    (row,) = [r for r in live.requests() if r["trigger_id"] == f"twilio:{message.sid}"]
    return row


async def wait_for_request(live, message):
    return await live.finished(f"twilio:{message.sid}")


@EVERY_DIALECT
async def test_sms_by_ani_calls_back_confirms_and_connects(live):
    live.carrier.phones.set(sc.ALICE_MOBILE, keys=["1", None])
    reply, message = await text(live, sc.ALICE_MOBILE, "CALL 2125550123")
    assert reply == f"Callback queued: we will call {sc.ALICE_MOBILE}, then connect {NY}."
    row = await wait_for_request(live, message)
    assert row["state"] == states.COMPLETED
    (leg_a,) = live.calls_to(sc.ALICE_MOBILE)
    assert "Press 1 to be connected" in " ".join(" ".join(g[1]) for g in leg_a.heard("gather"))
    assert ("dial", NY) in leg_a.heard("dial")
    assert len(live.legs(row["id"])) == 2


@EVERY_DIALECT
async def test_sms_by_pin_and_by_login_from_another_phone(live):
    live.carrier.phones.set(sc.STRANGER, keys=["1", None])
    reply, message = await text(live, sc.STRANGER, f"PIN {sc.BOB_PIN} 2125550123")
    assert reply.startswith("Callback queued")
    assert (await wait_for_request(live, message))["state"] == states.COMPLETED
    reply, message = await text(live, sc.STRANGER, "U.alice P.alice-password 2125550123")
    assert reply.startswith("Callback queued")
    assert (await wait_for_request(live, message))["state"] == states.COMPLETED
    assert live.balance("bob") < 500 and live.balance("alice") < 1000


@EVERY_DIALECT
async def test_connect_two_calls_the_first_number_then_the_second(live):
    first = "+14155550123"
    live.carrier.phones.set(first, keys=["1", None])
    reply, message = await text(live, sc.ALICE_MOBILE, "4155550123 2125550123")
    assert reply == f"Callback queued: we will call {first}, then connect {NY}."
    row = await wait_for_request(live, message)
    assert row["state"] == states.COMPLETED and live.calls_to(sc.ALICE_MOBILE) == []
    assert ("dial", NY) in live.calls_to(first)[0].heard("dial")


async def code_texted_to(live, number: str) -> str:
    """The verification code the carrier delivered to a phone."""
    phone = live.carrier.phones[number]
    for _ in range(100):
        codes = [re.search(r"\b(\d{6})\b", m.body) for m in phone.inbox]
        if any(codes):
            return next(c.group(1) for c in codes if c)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code reached {number}")


@EVERY_DIALECT
async def test_register_balance_rate_and_a_stranger(live):
    reply, _ = await text(live, sc.STRANGER, "U.bob P.bob-password R.4155550177")
    # Another number than the sender's is registered only when that phone proves it.
    assert reply.startswith("A code was texted to +14155550177.")
    assert (await text(live, "+14155550177", "BAL"))[0] == "Not authorized. Send HELP for help."
    code = await code_texted_to(live, "+14155550177")
    assert (await text(live, "+14155550177", f"VERIFY {code}"))[0] == "+14155550177 is now registered to your account."
    assert (await text(live, "+14155550177", "BAL"))[0] == "Your balance is 5.00 USD."
    assert (await text(live, sc.ALICE_MOBILE, "RATE 00442071234567"))[0] == "Calls to +442071234567 cost 0.05 USD a minute."
    assert (await text(live, "+14155550188", "CALL"))[0] == "Not authorized. Send HELP for help."
    assert live.requests() == []


@EVERY_DIALECT
async def test_voicemail_on_leg_a_is_not_bridged_and_a_notice_is_texted(live):
    live.carrier.phones.set(sc.ALICE_MOBILE, answer="voicemail")
    await live.app.state.platform.db.execute("UPDATE accounts SET retry_attempts = 0")
    _, message = await text(live, sc.ALICE_MOBILE, "2125550123")
    row = await wait_for_request(live, message)
    assert (row["state"], row["reason"]) == (states.FAILED, states.A_NO_ANSWER)
    (leg_a,) = live.calls_to(sc.ALICE_MOBILE)
    assert leg_a.heard("dial") == []
    phone = live.carrier.phones[sc.ALICE_MOBILE]
    for _ in range(100):
        if len(phone.inbox) >= 2:
            break
        await asyncio.sleep(0.05)
    bodies = [m.body for m in phone.inbox]
    assert "Your callback could not be completed: there was no answer on your line." in bodies


@pytest.mark.parametrize("answer, state, reason", [("voicemail", states.FAILED, states.A_NO_ANSWER),
                                                  ("answer", states.COMPLETED, None)])
async def test_answering_machine_detection_bridges_only_people(live, answer, state, reason):
    await live.app.state.platform.db.execute("UPDATE accounts SET confirm_mode = 'amd', retry_attempts = 0")
    live.carrier.phones.set(sc.ALICE_MOBILE, answer=answer, keys=[None])
    _, message = await text(live, sc.ALICE_MOBILE, "2125550123")
    row = await wait_for_request(live, message)
    (leg_a,) = live.calls_to(sc.ALICE_MOBILE)
    assert (row["state"], row["reason"]) == (state, reason)
    assert leg_a.machine_detection == "Enable"
    assert not any("Press 1 to be connected" in " ".join(g[1]) for g in leg_a.heard("gather"))
    assert (("dial", NY) in leg_a.heard("dial")) == (answer == "answer")


async def send(live, channel: str, sender: str, body: str, secret: str) -> str:
    """Text the platform through the provider's webhook or through an SMS gateway; the reply."""
    if channel == "twilio":
        return (await text(live, sender, body))[0]
    async with httpx.AsyncClient(base_url=live.platform_url) as client:
        response = await client.post("/sms/gateway", json={"from": sender, "text": body, "to": SERVICE},
                                     headers={"X-Gateway-Secret": secret})
    assert response.status_code == 200
    return response.json()["reply"]["text"]


@pytest.mark.parametrize("channel", ["twilio", "gateway"])
async def test_every_command_through_both_channels(live, channel):
    secret = await sms_log.add_gateway(live.db, name="android")
    live.carrier.phones.set(sc.STRANGER, keys=["1", None])
    live.carrier.phones.set(sc.ALICE_MOBILE, keys=["1", None])
    assert (await send(live, channel, sc.ALICE_MOBILE, "bal", secret)) == "Your balance is 10.00 USD."
    assert "0.05 USD a minute" in await send(live, channel, sc.ALICE_MOBILE, "RATE 00442071234567", secret)
    assert await send(live, channel, "+14155550188", "CALL", secret) == "Not authorized. Send HELP for help."
    assert (await send(live, channel, sc.STRANGER, "U.bob P.bob-password R.4155550166", secret)).startswith(
        "A code was texted to +14155550166.")
    code = await code_texted_to(live, "+14155550166")
    assert (await send(live, channel, "+14155550166", f"VERIFY {code}", secret)).endswith(
        "is now registered to your account.")
    assert (await send(live, channel, sc.ALICE_MOBILE, "CALL 2125550123", secret)).startswith("Callback queued")
    assert (await send(live, channel, sc.STRANGER, f"PIN {sc.BOB_PIN} 2125550123", secret)).startswith(
        "Callback queued")
    for _ in range(400):
        rows = live.requests()
        if len(rows) == 2 and all(row["state"] in states.TERMINAL for row in rows) and live.carrier.idle:
            break
        await asyncio.sleep(0.05)
    assert [row["state"] for row in live.requests()] == [states.COMPLETED, states.COMPLETED]
    assert {row["trigger_id"].split(":")[0] for row in live.requests()} == {channel}


@EVERY_DIALECT
async def test_duplicate_delivery_of_one_message_acts_once(live):
    params = tw.sms_params(From=sc.ALICE_MOBILE, To=SERVICE, Body="CALL", MessageSid=live.message_sid())
    url = live.platform_url + "/twilio/sms"
    async with httpx.AsyncClient() as client:
        for _ in range(3):
            response = await client.post(url, data=params, headers=live.signed(url, params))
            assert response.status_code == 200
    assert len(live.requests()) == 1


async def test_the_gateway_endpoint_end_to_end(live):
    secret = await sms_log.add_gateway(live.db, name="android")
    live.carrier.phones.set(sc.ALICE_MOBILE, answer="busy")
    await live.app.state.platform.db.execute("UPDATE accounts SET retry_attempts = 0")
    async with httpx.AsyncClient(base_url=live.platform_url) as client:
        form = {"from": sc.ALICE_MOBILE, "message": "CALL", "message_id": "m-1", "secret": secret, "sent_to": SERVICE}
        first = (await client.post("/sms/gateway", data=form)).json()
        again = (await client.post("/sms/gateway", data=form)).json()
        assert first["payload"]["messages"][0]["message"].startswith("Callback queued")
        assert again["payload"] == {"success": True, "error": None}
        row = await live.finished("gateway:android:m-1")
        assert (row["state"], row["reason"]) == (states.FAILED, states.A_BUSY)
        for _ in range(100):
            polled = (await client.get("/sms/gateway", params={"task": "send", "secret": secret})).json()
            if polled["payload"]["messages"]:
                break
            await asyncio.sleep(0.05)
        (notice,) = polled["payload"]["messages"]
        assert notice == {"to": sc.ALICE_MOBILE, "message": "Your callback could not be completed: your line was busy.",
                          "uuid": notice["uuid"]}
    assert len(live.requests()) == 1 and live.calls_to(sc.ALICE_MOBILE)[0].status == "busy"
