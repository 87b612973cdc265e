from __future__ import annotations

import json

import httpx
import pytest

from sandbox import Carrier, Clock, serve
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, SERVICE_NUMBER, SPEC_PATH, StubPlatform, Spec


@pytest.fixture(scope="session")
def spec() -> Spec:
    if not SPEC_PATH.is_file():
        pytest.skip(f"Twilio's OpenAPI subset is not available at {SPEC_PATH.resolve()} (the shared folder sits beside the checkout)")
    return Spec(json.loads(SPEC_PATH.read_text()))


@pytest.fixture
async def carrier():
    carrier = Carrier(ACCOUNT_SID, AUTH_TOKEN, clock=Clock(speed=1000), cps=50)
    yield carrier
    await carrier.aclose()


@pytest.fixture
async def sandbox_url(carrier):
    async with serve(carrier.app) as url:
        yield url
        # Close first: a stalled (fault-injected) request must not hold up shutdown.
        await carrier.aclose()


@pytest.fixture
async def platform(carrier):
    platform = StubPlatform(AUTH_TOKEN)
    async with serve(platform.app) as url:
        platform.base_url = url
        carrier.voice_url = url + "/voice"
        carrier.sms_url = url + "/sms"
        platform.on("/status", "")
        yield platform
        await carrier.aclose()
    assert platform.bad_signatures == []


@pytest.fixture
def rest_root() -> str:
    return f"/2010-04-01/Accounts/{ACCOUNT_SID}"


@pytest.fixture
async def place(sandbox_url):
    """Create a call over the REST API with form fields; returns its SID."""
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as client:

        async def place(**data) -> str:
            data.setdefault("From", SERVICE_NUMBER)
            response = await client.post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", data=data)
            assert response.status_code == 201, response.text
            return response.json()["sid"]

        yield place
