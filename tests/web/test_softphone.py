"""The demo softphone (/demo): its page and JSON endpoints, against the real app.

The platform runs as a real server on loopback with the sandbox carrier
embedded, its clock 20 times faster than real time; the test plays the
subscriber through the same JSON endpoints the page uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid

import httpx
import pytest

from app.web.demo import seed as demo
from app.data.db import make_database
from app.main import create_app
from app.data.migrations import upgrade
from app.core.settings import Settings
from sandbox import serve

SECRET_KEY = "test"
PIN_NUMBER = "+18005550000"
STRANGER = "+14155550199"
LONDON = "+442071234567"
ALICE_BALANCE = next(balance for login, *_, balance in demo.ACCOUNTS if login == "alice")


def _settings(path) -> Settings:
    return Settings(database_url=f"sqlite:///{path}", secret_key=SECRET_KEY, dispatch_delay_seconds=0,
                    sandbox_speed=20)


async def _seed(settings: Settings) -> None:
    db = make_database(settings)
    await db.connect()
    try:
        await demo.seed(db, secret_key=SECRET_KEY)
    finally:
        await db.disconnect()


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory):
    """A migrated database with the demo data, made once (seeding hashes passwords)."""
    path = tmp_path_factory.mktemp("softphone") / "seeded.db"
    upgrade(_settings(path))
    asyncio.run(_seed(_settings(path)))
    return path


@pytest.fixture
def demo_settings(seeded_template, tmp_path) -> Settings:
    path = tmp_path / "demo.db"
    shutil.copy(seeded_template, path)
    return _settings(path)


@contextlib.asynccontextmanager
async def running(settings: Settings):
    """The platform on a loopback port, lifespan and all; yields an HTTP client for it.

    The app's lifespan is entered here rather than by uvicorn (`lifespan="on"`)
    because `serve` stops uvicorn by cancelling it, which skips the shutdown
    half: the dispatcher, the carrier and the database would outlive the test.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with serve(app) as base_url:
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
                yield client
    # A dispatcher pass cancelled at shutdown can leave an SQLite query running
    # in its worker thread; let it report back before the test's loop closes.
    await asyncio.sleep(0.05)


@pytest.fixture
async def client(demo_settings):
    async with running(demo_settings) as client:
        yield client


async def wait_for(client: httpx.AsyncClient, trigger: str, what: str, check, timeout: float = 15.0) -> dict:
    """Poll /demo/state (as the page does, only faster) until `check(state)` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get("/demo/state", params={"trigger": trigger})
        assert response.status_code == 200, response.text
        state = response.json()
        if check(state):
            return state
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last state: {state}")
        await asyncio.sleep(0.02)


def prompt_waiting(text: str):
    def check(state: dict) -> bool:
        call = state["leg_a_call"]
        return bool(call and call["waiting_for_keys"] and text in " ".join(call["prompts"]))

    return check


def request_state(name: str):
    return lambda state: state["request"] is not None and state["request"]["state"] == name


async def test_page_lists_numbers_phones_pins_and_destinations(client):
    response = await client.get("/demo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for number, mode, _owner in demo.NUMBERS:
        assert number in html and mode in html
    for number in ("+14155550100", "+14155550101", "+14155550111", STRANGER):
        assert number in html
    assert "alice&#39;s home" in html and "alice&#39;s mobile" in html and "bob&#39;s mobile" in html
    assert "a stranger" in html and "482193" in html and "735102" in html
    for destination, keys in ((LONDON, "00442071234567#"), ("+33123456789", "0033123456789#"),
                              ("+12125550123", "2125550123#")):
        assert destination in html and keys in html
    assert "built-in method" not in html and "None" not in html
    assert 'aria-live="polite"' in html and '<label for="from">' in html and '<label for="to">' in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere


async def test_a_pin_callback_from_ring_to_bill(client):
    response = await client.post("/demo/ring", json={"from": STRANGER, "to": PIN_NUMBER})
    assert response.status_code == 200, response.text
    trigger = response.json()["trigger_sid"]

    state = await wait_for(client, trigger, "the PIN prompt", prompt_waiting("PIN"))
    assert state["trigger"]["status"] == "busy" and state["trigger"]["rejected"] == "busy"
    assert state["trigger"]["billed"] is False
    assert state["request"]["state"] == "a_answered" and state["request"]["mode"] == "pin"
    assert state["request"]["leg_a_number"] == STRANGER
    assert state["account"] is None  # not known until the PIN
    leg_a = state["leg_a_call"]["sid"]
    assert state["leg_a_call"]["to"] == STRANGER and state["leg_a_call"]["status"] == "in-progress"
    assert state["screen"]["text"].startswith("Welcome. Please enter your PIN")

    assert (await client.post("/demo/keys", json={"call_sid": leg_a, "digits": "482193#"})).status_code == 200
    state = await wait_for(client, trigger, "the destination prompt", prompt_waiting("number you wish to call"))
    assert state["account"]["login"] == "alice"
    assert state["account"]["balance_minor"] == ALICE_BALANCE

    assert (await client.post("/demo/keys", json={"call_sid": leg_a, "digits": "00442071234567#"})).status_code == 200
    state = await wait_for(client, trigger, "connected", request_state("connected"))
    assert state["request"]["leg_b_number"] == LONDON
    assert state["leg_b_call"]["to"] == LONDON

    # At speed 20 the callee's 20 seconds take one: then comes the next-call offer.
    state = await wait_for(client, trigger, "the next-call prompt", prompt_waiting("another call"))
    assert state["request"]["state"] == "a_answered" and state["request"]["calls_connected"] == 1
    response = await client.post("/demo/hangup", json={"call_sid": leg_a})
    assert response.status_code == 200, response.text

    state = await wait_for(client, trigger, "the end of the session", lambda s: s["done"])
    request = state["request"]
    assert request["state"] == "completed" and request["reason"] is None
    assert [event["state"] for event in request["events"]] == [
        "queued", "calling_a", "a_answered", "calling_b", "connected", "a_answered", "completed"]
    legs = state["legs"]
    assert [(leg["leg"], leg["number"], leg["status"]) for leg in legs] == [
        ("a", STRANGER, "completed"), ("b", LONDON, "completed")]
    assert all(leg["cost_minor"] > 0 and leg["cost"].endswith(" USD") for leg in legs)
    assert all(leg["duration_seconds"] > 0 and leg["billed_seconds"] >= leg["duration_seconds"] for leg in legs)
    spent = sum(leg["cost_minor"] for leg in legs)
    assert state["account"]["balance_minor"] == ALICE_BALANCE - spent < ALICE_BALANCE
    assert state["account"]["balance"].endswith(" USD")
    heard = [line["text"] for line in state["leg_a_call"]["transcript"]]
    assert any("pressed 482193#" in line for line in heard)
    assert any("pressed 00442071234567#" in line for line in heard)
    assert heard[-1] == "You hung up"
    assert state["leg_a_call"]["ended"] and state["screen"]["title"] == "Call ended"

    # The call is over: its keys and hang-up are refused, not crashed on.
    response = await client.post("/demo/keys", json={"call_sid": leg_a, "digits": "1"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "call_ended"
    response = await client.post("/demo/hangup", json={"call_sid": leg_a})
    assert response.status_code == 409 and response.json()["error"]["code"] == "call_ended"


async def test_hanging_up_while_connected_completes_the_request(client):
    trigger = (await client.post("/demo/ring", json={"from": STRANGER, "to": PIN_NUMBER})).json()["trigger_sid"]
    leg_a = (await wait_for(client, trigger, "the PIN prompt", prompt_waiting("PIN")))["leg_a_call"]["sid"]
    await client.post("/demo/keys", json={"call_sid": leg_a, "digits": "482193#"})
    await wait_for(client, trigger, "the destination prompt", prompt_waiting("number you wish to call"))
    await client.post("/demo/keys", json={"call_sid": leg_a, "digits": "00442071234567#"})
    await wait_for(client, trigger, "connected", request_state("connected"))
    assert (await client.post("/demo/hangup", json={"call_sid": leg_a})).status_code == 200
    state = await wait_for(client, trigger, "every call to end", lambda s: s["calls_over"])
    assert [(leg["leg"], leg["status"]) for leg in state["legs"]] == [("a", "completed"), ("b", "completed")]
    state = await wait_for(client, trigger, "the request to complete", lambda s: s["done"], timeout=3)
    assert state["request"]["state"] == "completed"


async def test_a_refused_trigger_shows_why(client):
    # The stranger is no registered ANI, so the ANI number writes a failed request.
    response = await client.post("/demo/ring", json={"from": STRANGER, "to": "+18005550001"})
    trigger = response.json()["trigger_sid"]
    state = await wait_for(client, trigger, "the refusal", lambda s: s["done"])
    assert state["request"]["state"] == "failed" and state["request"]["reason"] == "auth_failed"
    assert state["request"]["events"][0]["detail"] == "caller ID is not a registered ANI"
    assert state["legs"] == [] and state["leg_a_call"] is None
    assert state["trigger"]["rejected"] == "busy" and state["screen"]["title"] == "No callback"


@pytest.mark.parametrize(
    "method, path, body, status, code",
    [
        ("POST", "/demo/ring", b"{not json", 400, "invalid_json"),
        ("POST", "/demo/ring", b"", 400, "invalid_json"),
        ("POST", "/demo/ring", b"[1, 2]", 400, "invalid_json"),
        ("POST", "/demo/ring", {"from": 14155550199, "to": PIN_NUMBER}, 400, "invalid_field"),
        ("POST", "/demo/ring", {"from": STRANGER}, 400, "invalid_field"),
        ("POST", "/demo/ring", {"from": "+14155550000", "to": PIN_NUMBER}, 400, "unknown_phone"),
        ("POST", "/demo/ring", {"from": STRANGER, "to": "+18005559999"}, 400, "unknown_service_number"),
        ("POST", "/demo/ring", {"from": STRANGER, "to": ["+18005550000"]}, 400, "invalid_field"),
        ("POST", "/demo/keys", {"call_sid": "CA" + "0" * 32, "digits": "1"}, 404, "unknown_call"),
        ("POST", "/demo/keys", {"call_sid": "nope", "digits": "1"}, 404, "unknown_call"),
        ("POST", "/demo/keys", {"call_sid": "CA" + "0" * 32, "digits": "12a"}, 400, "invalid_digits"),
        ("POST", "/demo/keys", {"call_sid": "CA" + "0" * 32, "digits": 1}, 400, "invalid_field"),
        ("POST", "/demo/keys", {"digits": "1"}, 400, "invalid_field"),
        ("POST", "/demo/hangup", {"call_sid": "CA" + "0" * 32}, 404, "unknown_call"),
        ("POST", "/demo/hangup", {"call_sid": None}, 400, "invalid_field"),
        ("POST", "/demo/hangup", b"\xff\xfe", 400, "invalid_json"),
        ("POST", "/demo/hangup", b"[" * 4000, 400, "invalid_json"),
        ("POST", "/demo/ring", b"x" * 10_000, 413, "too_large"),
        ("GET", "/demo/state", None, 400, "missing_trigger"),
        ("GET", "/demo/state?trigger=CA" + "0" * 32, None, 404, "unknown_call"),
        ("GET", "/demo/state?trigger=%00%ff", None, 404, "unknown_call"),
    ],
)
async def test_bad_input_is_a_json_4xx(client, method, path, body, status, code):
    if isinstance(body, dict):
        response = await client.request(method, path, json=body)
    else:
        response = await client.request(method, path, content=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


async def test_keys_go_only_to_demo_handsets_on_answered_calls(client):
    trigger = (await client.post("/demo/ring", json={"from": STRANGER, "to": PIN_NUMBER})).json()["trigger_sid"]
    # The trigger itself is never answered: there is nothing to press keys on.
    response = await client.post("/demo/keys", json={"call_sid": trigger, "digits": "1"})
    assert response.status_code == 409
    state = await wait_for(client, trigger, "the PIN prompt", prompt_waiting("PIN"))
    # /demo/state is keyed by the trigger, not by leg A.
    response = await client.get("/demo/state", params={"trigger": state["leg_a_call"]["sid"]})
    assert response.status_code == 404
    assert (await client.post("/demo/hangup", json={"call_sid": state["leg_a_call"]["sid"]})).status_code == 200
    state = await wait_for(client, trigger, "the end", lambda s: s["done"])
    assert state["request"]["state"] == "failed" and state["request"]["reason"] == "canceled"


async def test_no_demo_with_real_twilio_credentials(demo_settings):
    app = create_app(demo_settings.with_(twilio_account_sid="AC" + "1" * 32, twilio_auth_token="token",
                                         public_base_url="http://testserver"))
    assert app.state.carrier is None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        assert (await http.get("/demo")).status_code == 404
        assert (await http.get("/demo/state", params={"trigger": "CA" + "0" * 32})).status_code == 404
        assert (await http.post("/demo/ring", json={"from": STRANGER, "to": PIN_NUMBER})).status_code == 404
        assert (await http.post("/demo/keys", json={"call_sid": "CA" + "0" * 32, "digits": "1"})).status_code == 404


async def test_the_demo_runs_with_the_sandbox_speaking_signalwires_dialect(demo_settings):
    """SANDBOX_DIALECT=signalwire: the embedded carrier names calls by UUIDs, serves /api/laml and signs with a
    signing key; the app reaches it through the SignalWire adapter and checks SignalWire's signature."""
    async with running(demo_settings.with_(sandbox_dialect="signalwire")) as client:
        assert (await client.get("/healthz")).json()["provider"] == "sandbox"
        trigger = (await client.post("/demo/ring", json={"from": STRANGER, "to": PIN_NUMBER})).json()["trigger_sid"]
        assert str(uuid.UUID(trigger)) == trigger
        state = await wait_for(client, trigger, "the PIN prompt", prompt_waiting("PIN"))
        leg_a = state["leg_a_call"]["sid"]
        assert str(uuid.UUID(leg_a)) == leg_a
        await client.post("/demo/keys", json={"call_sid": leg_a, "digits": "482193#"})
        await wait_for(client, trigger, "the destination prompt", prompt_waiting("number you wish to call"))
        await client.post("/demo/keys", json={"call_sid": leg_a, "digits": "00442071234567#"})
        await wait_for(client, trigger, "connected", request_state("connected"))
        # The callee talks its seconds, then comes the next-call offer: a hang-up sooner could bill nothing.
        await wait_for(client, trigger, "the next-call prompt", prompt_waiting("another call"))
        assert (await client.post("/demo/hangup", json={"call_sid": leg_a})).status_code == 200
        state = await wait_for(client, trigger, "the request to complete", lambda s: s["done"])
        assert state["request"]["state"] == "completed"
        assert all(leg["cost_minor"] > 0 for leg in state["legs"]), state["legs"]
