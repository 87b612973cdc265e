"""The carrier mounted inside another Starlette app, as the demo runs it."""

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from twilio.rest import Client

from sandbox import Carrier, Clock, Phone, serve
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, SERVICE_NUMBER, SUBSCRIBER, StubPlatform


async def test_mounted_under_a_prefix(spec):
    carrier = Carrier(ACCOUNT_SID, AUTH_TOKEN, clock=Clock(speed=1000), cps=10)
    carrier.phones[SUBSCRIBER] = Phone(keys=["1"])

    async def voice(request):
        return Response(
            '<Response><Gather numDigits="1" action="/twilio/done"><Say>Press 1</Say></Gather></Response>',
            media_type="text/xml",
        )

    async def done(request):
        return Response("<Response><Say>Thanks</Say></Response>", media_type="text/xml")

    app = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("platform home")),
            Route("/twilio/voice", voice, methods=["POST"]),
            Route("/twilio/done", done, methods=["POST"]),
            Mount("/sandbox", app=carrier.app),
        ]
    )
    try:
        async with serve(app) as base:
            client = Client(ACCOUNT_SID, AUTH_TOKEN)
            client.api.base_url = base + "/sandbox"
            created = []
            for _ in range(3):
                call = await asyncio.to_thread(
                    client.calls.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, url=base + "/twilio/voice"
                )
                created.append(call.sid)
            # Paging URIs are relative to the API root, so the SDK's prefix is kept.
            listed = await asyncio.to_thread(lambda: [c.sid for c in client.calls.stream(page_size=2)])
            assert sorted(listed) == sorted(created)
            await carrier.wait_idle(timeout=10)
            assert carrier.errors == []
            assert all(carrier.calls[sid].heard()[-1] == ("say", "Thanks", "en-US") for sid in created)

            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.get("/")).text == "platform home"
                state = (await http.get("/sandbox/_sandbox/state")).json()
                assert state["calls"] == 3 and state["live_calls"] == 0
                page = (await http.get(f"/sandbox/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", auth=(ACCOUNT_SID, AUTH_TOKEN), params={"PageSize": 2})).json()
                spec.response(page, "/2010-04-01/Accounts/{AccountSid}/Calls.json", "get", 200)
                assert page["next_page_uri"].startswith(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json?")
                missing = await http.get(f"/sandbox/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/CA{'1' * 32}.json", auth=(ACCOUNT_SID, AUTH_TOKEN))
                spec.error(missing.json(), 404, 20404)
                assert missing.json()["message"].startswith("The requested resource /2010-04-01/")
    finally:
        await carrier.aclose()


async def test_api_keys_authenticate_like_twilio(sandbox_url, carrier):
    key, secret = "SK" + "a" * 32, "key-secret"
    carrier.api_keys[key] = secret
    client = Client(key, secret, ACCOUNT_SID)
    client.api.base_url = sandbox_url
    message = await asyncio.to_thread(client.messages.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, body="via API key")
    assert message.account_sid == ACCOUNT_SID


async def test_webhooks_delivered_in_process_through_an_asgi_transport():
    platform = StubPlatform(AUTH_TOKEN)
    platform.on("/voice", "<Response><Say>No sockets needed</Say></Response>")
    transport = httpx.ASGITransport(app=platform.app)
    async with httpx.AsyncClient(transport=transport) as http:
        carrier = Carrier(
            ACCOUNT_SID, AUTH_TOKEN, clock=Clock(speed=1000), http_client=http, voice_url="http://platform.test/voice"
        )
        try:
            call = await carrier.ring(from_=SUBSCRIBER, to=SERVICE_NUMBER)
        finally:
            await carrier.aclose()
    assert call.heard() == [("say", "No sockets needed", "en-US")]
    assert platform.bad_signatures == [] and platform.received("/voice")[0]["CallSid"] == call.sid


def test_account_sid_must_look_like_twilios():
    with pytest.raises(ValueError):
        Carrier("not-an-account", AUTH_TOKEN)


@pytest.mark.parametrize("body, status", [(b"[" * 100_000, 413), (b"[" * 30_000, 400), (b'{"a":' * 5_000, 400)])
async def test_the_unauthenticated_control_api_bounds_its_json(body, status):
    """No authentication on /_sandbox, so its bodies are bounded and deep nesting is a 400, not a 500."""
    carrier = Carrier(ACCOUNT_SID, AUTH_TOKEN, clock=Clock(speed=1000), cps=10)
    pulled = 0

    async def streamed():
        nonlocal pulled
        for start in range(0, len(body), 4096):
            pulled += 1
            yield body[start:start + 4096]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=carrier.app), base_url="http://sandbox") as http:
        response = await http.post("/_sandbox/ring", content=streamed(), headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert pulled <= 64 * 1024 // 4096 + 2
