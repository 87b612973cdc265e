"""The carrier in SignalWire's dialect: REST under /api/laml with the project's credentials, UUID ids, and
webhooks signed with the signing key in both of SignalWire's headers."""

from __future__ import annotations

import uuid

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from sandbox import Carrier, Clock, serve
from tests.utils import signalwire as sw

SERVICE = "+18005550100"
CALLER = "+14155550100"


async def test_signalwire_dialect_paths_ids_and_signatures():
    seen: list[tuple[str, dict, dict]] = []

    async def hook(request):
        seen.append((str(request.url), dict(request.headers), dict(await request.form())))
        return Response("<Response><Reject reason='busy'/></Response>", media_type="application/xml")

    app = Starlette(routes=[Route("/voice", hook, methods=["POST"])])
    carrier = Carrier(sw.PROJECT_ID, sw.API_TOKEN, dialect="signalwire", signing_key=sw.SIGNING_KEY,
                      clock=Clock(speed=1000), cps=50)
    try:
        async with serve(app) as app_url, serve(carrier.app) as url:
            carrier.voice_url = app_url + "/voice"
            call = await carrier.ring(CALLER, SERVICE)
            assert str(uuid.UUID(call.sid)) == call.sid and call.rejected == "busy"
            (target, headers, form) = seen[0]
            assert form["CallSid"] == call.sid and form["AccountSid"] == sw.PROJECT_ID
            expected = RequestValidator(sw.SIGNING_KEY).compute_signature(target, form)
            assert headers["x-signalwire-signature"] == headers["x-twilio-signature"] == expected
            assert expected != RequestValidator(sw.API_TOKEN).compute_signature(target, form)

            async with httpx.AsyncClient(base_url=url, auth=(sw.PROJECT_ID, sw.API_TOKEN)) as client:
                laml = f"/api/laml/2010-04-01/Accounts/{sw.PROJECT_ID}/Calls/{call.sid}.json"
                fetched = await client.get(laml)
                assert fetched.status_code == 200 and fetched.json()["uri"] == laml
                # Twilio's path is not SignalWire's, and the signing key is no REST password.
                assert (await client.get(laml.removeprefix("/api/laml"))).status_code == 404
                wrong = await client.get(laml, auth=(sw.PROJECT_ID, sw.SIGNING_KEY))
                assert wrong.status_code == 401
    finally:
        await carrier.aclose()


def test_a_signalwire_carrier_needs_a_project_uuid_and_a_signing_key():
    with pytest.raises(ValueError, match="signing_key"):
        Carrier(sw.PROJECT_ID, sw.API_TOKEN, dialect="signalwire")
    with pytest.raises(ValueError, match="account_sid"):
        Carrier("AC" + "5a" * 16, sw.API_TOKEN, dialect="signalwire", signing_key=sw.SIGNING_KEY)
    with pytest.raises(ValueError, match="dialect"):
        Carrier(sw.PROJECT_ID, sw.API_TOKEN, dialect="plivo")
