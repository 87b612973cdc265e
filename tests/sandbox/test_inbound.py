"""Handsets ringing and texting service numbers, and the softphone control API."""

import httpx

from sandbox import Phone, ServiceNumber
from tests.sandbox.support import SERVICE_NUMBER, SUBSCRIBER


async def test_ring_rejected_before_answer_is_not_billed(carrier, platform):
    platform.on("/voice", '<Response><Reject reason="busy"/><Say>unreachable</Say></Response>')
    call = await carrier.ring(from_=SUBSCRIBER, to=SERVICE_NUMBER)
    assert call.status == "busy" and call.rejected == "busy"
    assert call.heard() == [("reject", "busy")]
    assert call.duration == 0 and call.price is None and call.answer_time is None
    (webhook,) = platform.received("/voice")
    assert webhook["Direction"] == "inbound" and webhook["CallStatus"] == "ringing"
    assert webhook["From"] == SUBSCRIBER and webhook["To"] == SERVICE_NUMBER
    assert webhook["CallSid"] == call.sid


async def test_default_reject_reason_ends_as_no_answer(carrier, platform):
    platform.on("/voice", "<Response><Reject/></Response>")
    call = await carrier.ring(from_=SUBSCRIBER, to=SERVICE_NUMBER)
    assert call.status == "no-answer" and call.rejected == "rejected"


async def test_blocked_caller_id_reaches_the_platform(carrier, platform):
    def voice(params):
        if params["From"] in ("anonymous", "+266696687"):
            return "<Response><Say>We cannot call back a withheld number</Say><Hangup/></Response>"
        return "<Response><Reject/></Response>"

    platform.on("/voice", voice)
    for withheld in ("anonymous", "+266696687"):
        call = await carrier.ring(from_=withheld, to=SERVICE_NUMBER)
        assert call.status == "completed"
        assert call.heard() == [("say", "We cannot call back a withheld number", "en-US"), ("hangup",)]


async def test_inbound_ivr_uses_the_callers_script_and_number_settings(carrier, platform):
    carrier.numbers[SERVICE_NUMBER] = ServiceNumber(
        voice_url=platform.url("/line"), status_callback=platform.url("/status")
    )
    carrier.phones[SUBSCRIBER] = Phone(keys=["2"])
    platform.on("/line", '<Response><Gather numDigits="1" action="/menu"><Say>Press 2 for a callback</Say></Gather></Response>')
    platform.on("/menu", lambda p: f"<Response><Say>You chose {p['Digits']}</Say></Response>")
    call = await carrier.ring(from_=SUBSCRIBER, to=SERVICE_NUMBER)
    assert call.status == "completed" and call.phone_number_sid.startswith("PN")
    assert call.heard() == [("gather", ("Press 2 for a callback",), "2"), ("say", "You chose 2", "en-US")]
    await carrier.wait_idle(timeout=10)
    (completed,) = platform.received("/status")
    assert completed["CallStatus"] == "completed" and completed["Direction"] == "inbound"
    assert int(completed["CallDuration"]) == call.duration > 0


async def test_inbound_sms_reply_is_recorded_and_delivered(carrier, platform):
    platform.on(
        "/sms",
        lambda p: f"<Response><Message>Got it: {p['Body']}. We will call you back.</Message></Response>",
    )
    inbound = await carrier.text(SUBSCRIBER, SERVICE_NUMBER, "CALL ME")
    (webhook,) = platform.received("/sms")
    assert webhook["MessageSid"] == inbound.sid and webhook["MessageSid"].startswith("SM")
    assert webhook["Body"] == "CALL ME" and webhook["NumMedia"] == "0" and webhook["SmsStatus"] == "received"
    assert webhook["From"] == SUBSCRIBER and webhook["To"] == SERVICE_NUMBER and webhook["ApiVersion"] == "2010-04-01"
    assert inbound.direction == "inbound" and inbound.status == "received"
    (reply,) = inbound.replies
    assert reply.direction == "outbound-reply" and reply.to == SUBSCRIBER and reply.from_ == SERVICE_NUMBER
    assert carrier.messages[reply.sid] is reply
    await carrier.wait_idle(timeout=10)
    assert reply.status == "delivered"
    assert [m.body for m in carrier.phones[SUBSCRIBER].inbox] == ["Got it: CALL ME. We will call you back."]


async def test_inbound_sms_with_an_empty_answer_sends_nothing(carrier, platform):
    platform.on("/sms", "")
    inbound = await carrier.text(SUBSCRIBER, SERVICE_NUMBER, "STOP")
    assert inbound.replies == [] and inbound.error_code is None


async def test_interactive_softphone_through_the_control_api(carrier, platform, sandbox_url):
    carrier.clock.speed = 20  # slow enough for a person (here: the test) to press keys
    platform.on(
        "/voice",
        '<Response><Gather action="/code" timeout="60"><Say>Enter your code</Say></Gather><Say>Nothing entered</Say></Response>',
    )
    platform.on("/code", lambda p: f"<Response><Say>Code {p['Digits']} accepted</Say></Response>")
    async with httpx.AsyncClient(base_url=sandbox_url + "/_sandbox") as control:
        response = await control.put(f"/phones/{SUBSCRIBER}", json={"interactive": True})
        assert response.status_code == 200 and response.json()["interactive"] is True

        response = await control.post("/ring", json={"from": SUBSCRIBER, "to": SERVICE_NUMBER})
        assert response.status_code == 201
        sid = response.json()["sid"]
        while not (await control.get(f"/calls/{sid}")).json()["waiting_for_keys"]:
            await carrier.clock.sleep(0.5)
        state = (await control.get(f"/calls/{sid}")).json()
        assert state["status"] == "in-progress" and state["activity"] == "gathering"
        assert state["prompts"] == ["Enter your code"]
        assert state["transcript"] == []  # the Gather entry is written once it completes

        response = await control.post(f"/calls/{sid}/keys", json={"digits": "4242#"})
        assert response.status_code == 200
        await carrier.wait_idle(timeout=10)

        state = (await control.get(f"/calls/{sid}")).json()
        assert state["status"] == "completed" and state["prompts"] == []
        assert [(e["kind"], e["fields"]) for e in state["transcript"]] == [
            ("gather", [["Enter your code"], "4242"]),
            ("say", ["Code 4242 accepted", "en-US"]),
        ]
        assert platform.received("/code")[0]["Digits"] == "4242"

        listed = (await control.get("/calls", params={"number": SUBSCRIBER})).json()["calls"]
        assert [c["sid"] for c in listed] == [sid]
        bad = await control.post(f"/calls/{sid}/keys", json={"digits": "1"})
        assert bad.status_code == 409


async def test_control_api_texts_hangs_up_and_tunes_faults(carrier, platform, sandbox_url):
    platform.on("/sms", "<Response><Message>pong</Message></Response>")
    platform.on("/voice", "<Response><Pause length='3600'/></Response>")
    async with httpx.AsyncClient(base_url=sandbox_url + "/_sandbox") as control:
        texted = (await control.post("/text", json={"from": SUBSCRIBER, "to": SERVICE_NUMBER, "body": "ping"})).json()
        assert texted["message"]["body"] == "ping" and texted["replies"][0]["body"] == "pong"

        sid = (await control.post("/ring", json={"from": SUBSCRIBER, "to": SERVICE_NUMBER})).json()["sid"]
        while carrier.calls[sid].status != "in-progress":
            await carrier.clock.sleep(1)
        hung_up = await control.post(f"/calls/{sid}/hangup")
        assert hung_up.status_code == 200
        await carrier.wait_idle(timeout=10)
        assert carrier.calls[sid].status == "completed"
        assert carrier.calls[sid].heard()[-1] == ("phone-hangup",)

        faults = (await control.put("/faults", json={"error_rate": 0.25, "seed": 3, "fail_next": 2, "status": 429})).json()
        assert faults["error_rate"] == 0.25 and faults["pending"] == 2
        clock = (await control.put("/clock", json={"speed": 50})).json()
        assert clock["speed"] == 50
        state = (await control.get("/state")).json()
        assert state["calls"] == 1 and state["messages"] == 2
        hooks = (await control.get("/webhooks")).json()["webhooks"]
        assert {h["kind"] for h in hooks} >= {"sms", "voice"}
        assert (await control.get("/calls/CAnope")).status_code == 404
        assert (await control.put(f"/phones/{SUBSCRIBER}", json={"answer": "sometimes"})).status_code == 400
