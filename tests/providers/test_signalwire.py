"""The SignalWire adapter against the sandbox carrier in SignalWire's dialect, over HTTP.

Every request it sends is checked against SignalWire's published description of
its Compatibility API (tests/providers/specs/signalwire_laml.json): the path
under /api/laml, Basic auth with the project id and API token, the form fields
and their types; and each response the carrier gives back against the same
description, so the carrier cannot drift from SignalWire while the adapter
follows it.
"""

from __future__ import annotations

import base64
import json
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import jsonschema
import pytest

from app.core.settings import Settings, signalwire_api_base
from app.providers import registry
from app.providers.interface import ProviderError
from sandbox import Carrier, Clock, Phone, serve
from tests.utils import signalwire as sw

SPEC = json.loads((Path(__file__).parent / "specs" / "signalwire_laml.json").read_text())
SERVICE = "+15005550006"
SUBSCRIBER = "+14155550100"
ROOT = f"/api/laml/2010-04-01/Accounts/{sw.PROJECT_ID}"
# Which body each request must carry, by (method, path below ROOT).
REQUESTS = {("POST", "/Calls.json"): "CreateCallRequest", ("POST", "/Messages.json"): "CreateMessageRequest"}
RESPONSES = {"Calls": "CallResponse", "Messages": "MessageResponse"}
# aiohttp deprecates the BasicAuth the twilio SDK still passes: not the adapter's concern.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def schema(name: str) -> dict:
    return dict(SPEC["schemas"][name], **{"$schema": "https://json-schema.org/draft/2020-12/schema"})


def typed_form(body: bytes, model: dict) -> dict:
    """A form body as the JSON values its schema describes (forms carry only strings)."""
    typed = {}
    for key, values in parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True).items():
        kind = model["properties"].get(key, {}).get("type", "string")
        if kind == "array":
            typed[key] = values
            continue
        assert len(values) == 1, f"{key} given {len(values)} times"
        value = values[0]
        if kind == "integer":
            assert value.lstrip("-").isdigit(), f"{key}={value!r} is not an integer"
            value = int(value)
        elif kind == "boolean":
            assert value in ("true", "false"), f"{key}={value!r} is not a boolean"
            value = value == "true"
        typed[key] = value
    return typed


class Recorder:
    """ASGI wrapper: keeps each request (method, path, Authorization, body) and response (status, JSON)."""

    def __init__(self, app):
        self.app = app
        self.exchanges: list[dict] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        exchange = {"method": scope["method"], "path": scope["path"], "body": b"".join(chunks),
                    "auth": dict(scope["headers"]).get(b"authorization", b"").decode(), "response": b""}
        self.exchanges.append(exchange)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": exchange["body"], "more_body": False}

        async def keep(message):
            if message["type"] == "http.response.start":
                exchange["status"] = message["status"]
            elif message["type"] == "http.response.body":
                exchange["response"] += message.get("body", b"")
            await send(message)

        await self.app(scope, replay, keep)


def check_exchange(exchange: dict) -> None:
    """Fail unless the request is one SignalWire describes, sent as it says, and the answer is shaped as it says."""
    path = exchange["path"]
    assert path.startswith(ROOT + "/"), path
    user, _, password = base64.b64decode(exchange["auth"].removeprefix("Basic ")).decode().partition(":")
    assert (user, password) == (sw.PROJECT_ID, sw.API_TOKEN)
    below = path[len(ROOT):]
    if exchange["method"] == "POST":
        model = SPEC["schemas"][REQUESTS.get(("POST", below), "UpdateCallRequest")]
        jsonschema.validate(typed_form(exchange["body"], model), schema(REQUESTS.get(("POST", below),
                                                                                      "UpdateCallRequest")))
    body = json.loads(exchange["response"])
    if exchange["status"] >= 400:
        jsonschema.validate(body, schema("CompatibilityErrorResponse"))
    else:
        jsonschema.validate(body, schema(RESPONSES[below.split("/")[1].removesuffix(".json")]),
                            format_checker=jsonschema.FormatChecker())


@pytest.fixture
async def space():
    carrier = Carrier(sw.PROJECT_ID, sw.API_TOKEN, dialect="signalwire", signing_key=sw.SIGNING_KEY,
                      clock=Clock(speed=200), cps=50, default_phone=Phone(answer_after=1, talk_seconds=90))
    recorder = Recorder(carrier.app)
    try:
        async with serve(recorder) as url:
            settings = Settings(provider="signalwire", signalwire_space_url=url, signalwire_project_id=sw.PROJECT_ID,
                                signalwire_api_token=sw.API_TOKEN, signalwire_signing_key=sw.SIGNING_KEY,
                                public_base_url="https://callback.example.com", provider_timeout_seconds=5)
            adapter = registry.build("signalwire", settings)
            try:
                yield carrier, recorder, adapter
            finally:
                await adapter.provider.aclose()
    finally:
        await carrier.aclose()


async def test_a_call_and_a_text_through_signalwires_published_api(space):
    carrier, recorder, adapter = space
    provider = adapter.provider
    assert adapter.name == provider.name == "signalwire"
    carrier.pricing.delay = 0
    sid = await provider.create_call(to=SUBSCRIBER, from_=SERVICE, url="https://callback.example.com/legs/1/answer",
                                     status_callback="https://callback.example.com/twilio/status?request=1&leg=a",
                                     timeout=30, time_limit=600, machine_detection=True)
    assert str(uuid.UUID(sid)) == sid  # SignalWire names calls by UUIDs
    created = parse_qs(recorder.exchanges[0]["body"].decode())
    # SignalWire's create call has no TimeLimit: the adapter leaves it out rather than send an unknown field.
    assert "TimeLimit" not in created and created["MachineDetection"] == ["Enable"]
    assert created["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]

    await carrier.wait_idle(timeout=10)  # the handset answers, the document fails, the call ends
    record = await provider.fetch_call(sid)
    assert record.sid == sid and record.status == "completed" and record.duration is not None
    if record.duration:
        # A positive JSON number on SignalWire: read exactly, as the same Decimal Twilio's string would give.
        assert record.price is not None and record.price > 0 and record.price_unit == "USD"
        assert record.price == Decimal(str(carrier.calls[sid].pricing.charge(carrier.calls[sid])))

    text_sid = await provider.send_sms(to=SUBSCRIBER, from_=SERVICE, body="We will call you back")
    assert str(uuid.UUID(text_sid)) == text_sid

    second = await provider.create_call(to=SUBSCRIBER, from_=SERVICE, url="https://callback.example.com/legs/2/answer",
                                        status_callback="https://callback.example.com/twilio/status", timeout=30)
    await provider.end_call(second)
    assert [(e["method"], e["path"][len(ROOT):].split("/")[1]) for e in recorder.exchanges] == [
        ("POST", "Calls.json"), ("GET", "Calls"), ("POST", "Messages.json"), ("POST", "Calls.json"), ("POST", "Calls")]
    for exchange in recorder.exchanges:
        check_exchange(exchange)


async def test_errors_are_mapped_retryable_or_not(space):
    carrier, recorder, adapter = space
    provider = adapter.provider
    carrier.faults.fail_next(1, status=503)
    with pytest.raises(ProviderError) as unavailable:
        await provider.create_call(to=SUBSCRIBER, from_=SERVICE, url="https://callback.example.com/legs/1/answer",
                                   status_callback="https://callback.example.com/twilio/status", timeout=30)
    assert unavailable.value.retryable and unavailable.value.status == 503

    with pytest.raises(ProviderError) as refused:
        await provider.create_call(to="not-a-number", from_=SERVICE, url="https://callback.example.com/legs/1/answer",
                                   status_callback="https://callback.example.com/twilio/status", timeout=30)
    assert not refused.value.retryable and refused.value.status == 400 and not refused.value.not_found

    with pytest.raises(ProviderError) as missing:
        await provider.fetch_call(str(uuid.uuid4()))
    assert missing.value.not_found and not missing.value.retryable
    for exchange in recorder.exchanges:
        check_exchange(exchange)


async def test_a_404_that_is_not_signalwires_says_nothing_about_the_call():
    async def elsewhere(scope, receive, send):  # a wrong space URL: some other server's 404 page
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<h1>Not Found</h1>"})

    async with serve(elsewhere) as url:
        settings = Settings(provider="signalwire", signalwire_space_url=url, signalwire_project_id=sw.PROJECT_ID,
                            signalwire_api_token=sw.API_TOKEN, signalwire_signing_key=sw.SIGNING_KEY)
        provider = registry.build("signalwire", settings).provider
        try:
            with pytest.raises(ProviderError) as raised:
                await provider.fetch_call(str(uuid.uuid4()))
        finally:
            await provider.aclose()
    assert raised.value.status == 404 and not raised.value.not_found


def test_the_space_url_is_a_host_or_a_base():
    assert signalwire_api_base("example.signalwire.com") == "https://example.signalwire.com/api/laml"
    assert signalwire_api_base("https://example.signalwire.com/") == "https://example.signalwire.com/api/laml"
    assert signalwire_api_base("http://127.0.0.1:8123") == "http://127.0.0.1:8123/api/laml"
    for bad in ("ftp://example.com", "https://", "https://user:pw@example.signalwire.com", "https://x.com/?a=1"):
        with pytest.raises(ValueError):
            signalwire_api_base(bad)
