"""The carrier in Telnyx's dialect, on its own: REST shape and Bearer auth, `v3:` ids, Ed25519-signed webhooks
(checked here with PyNaCl directly, not with the platform's code), `message.received` events."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import httpx
import jsonschema
import pytest
from nacl.signing import VerifyKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox import Carrier, Clock, Phone, serve
from tests.utils import telnyx as tx

SERVICE, SUBSCRIBER = "+18005550100", "+15550001111"
CALLS = tx.spec("telnyx_texml_calls.json")
MESSAGING = tx.spec("telnyx_messaging.json")


class Receiver:
    """A stand-in platform: keeps each webhook, whether its Ed25519 signature holds, and answers with TwiML."""

    def __init__(self, public_key: str):
        self.key = VerifyKey(base64.b64decode(public_key))
        self.received: list[tuple[str, bytes, dict, bool]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("telnyx-timestamp", "")
        try:
            self.key.verify(timestamp.encode() + b"|" + body,
                            base64.b64decode(request.headers.get("telnyx-signature-ed25519", "")))
            valid = abs(time.time() - int(timestamp)) <= 300
        except Exception:
            valid = False
        self.received.append((request.url.path, body, dict(request.headers), valid))
        return Response('<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>',
                        media_type="application/xml")


@pytest.fixture
async def telnyx():
    carrier = Carrier(auth_token=tx.API_KEY, dialect="telnyx", clock=Clock(speed=1000), cps=50,
                      default_phone=Phone(answer_after=1, talk_seconds=5))
    receiver = Receiver(carrier.public_key)
    async with serve(carrier.app) as carrier_url, serve(receiver.app) as receiver_url:
        carrier.voice_url = receiver_url + "/voice"
        carrier.sms_url = receiver_url + "/telnyx/sms"
        async with httpx.AsyncClient(base_url=carrier_url + "/v2",
                                     headers={"Authorization": f"Bearer {tx.API_KEY}"}) as api:
            yield carrier, receiver, api
        await carrier.aclose()


async def test_webhooks_are_signed_with_ed25519_and_name_v3_calls(telnyx):
    carrier, receiver, _ = telnyx
    call = await carrier.ring(from_=SUBSCRIBER, to=SERVICE)
    assert call.sid.startswith("v3:") and call.rejected == "busy"
    await carrier.text(SUBSCRIBER, SERVICE, "BAL")
    (voice, text) = receiver.received
    assert voice[0] == "/voice" and voice[3] and b"CallSid=v3%3A" in voice[1]
    assert text[0] == "/telnyx/sms" and text[3] and text[2]["content-type"] == "application/json"
    event = json.loads(text[1])
    jsonschema.validate(event, MESSAGING["webhooks"]["message.received"]["body"])
    assert event["data"]["payload"]["text"] == "BAL" and event["data"]["payload"]["from"]["phone_number"] == SUBSCRIBER


async def test_the_rest_api_is_telnyxs(telnyx):
    carrier, receiver, api = telnyx
    path = f"/texml/Accounts/{carrier.account_sid}/Calls"
    body = {"ApplicationSid": carrier.application_id, "To": SUBSCRIBER, "From": SERVICE,
            "Url": carrier.voice_url, "StatusCallback": carrier.voice_url, "StatusCallbackEvent": "initiated completed"}
    created = await api.post(path, json=body)
    assert created.status_code == 200 and created.json() == {"from": SERVICE, "to": SUBSCRIBER, "status": "queued"}
    jsonschema.validate(created.json(), CALLS["operations"]["InitiateTexmlCall"]["response"])
    (call,) = carrier.calls.values()
    fetched = (await api.get(f"{path}/{call.sid}")).json()
    jsonschema.validate(fetched, CALLS["operations"]["GetTexmlCall"]["response"])
    refusals = [
        await api.post(path, json={**body, "Timeout": 30}),  # not a parameter of TeXML's create call
        await api.post(path, json={**body, "To": "4155550123"}),
        await api.post(path, data=body),  # a form where JSON is required
        await api.post(path, json=body, headers={"Authorization": "Bearer someone-else"}),
        await api.get(f"/texml/Accounts/{'0' * 8}-0000-4000-8000-{'0' * 12}/Calls/{call.sid}"),
        await api.get(f"{path}/v3:unknown"),
    ]
    assert [r.status_code for r in refusals] == [422, 422, 415, 401, 404, 404]
    for response in refusals:
        jsonschema.validate(response.json(), CALLS["errors"])
    assert len(carrier.calls) == 1


def test_python_m_sandbox_speaks_telnyx():
    from tests.utils.live import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--dialect", "telnyx", "--port", str(port),
                                "--auth-token", tx.API_KEY], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    try:
        settings = dict(part.split("=", 1) for part in process.stdout.readline().split() if "=" in part)
        assert settings["TELNYX_API_KEY"] == tx.API_KEY and len(base64.b64decode(settings["TELNYX_PUBLIC_KEY"])) == 32
        for _ in range(100):
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/v2/messages", json={
                    "from": SERVICE, "to": SUBSCRIBER, "text": "hello"}, headers={"Authorization": f"Bearer {tx.API_KEY}"})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["data"]["record_type"] == "message"
    finally:
        process.terminate()
        process.wait(timeout=10)
