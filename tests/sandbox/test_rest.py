"""The REST API's responses, error bodies included, against Twilio's OpenAPI schemas."""

import httpx
import pytest

from sandbox import Phone
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, SERVICE_NUMBER, SUBSCRIBER

CALLS = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
CALL = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
SAY = "<Response><Say>Hello from the sandbox</Say></Response>"


@pytest.fixture
async def api(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as client:
        yield client


async def test_call_create_fetch_list_update_match_the_schemas(api, carrier, spec, rest_root):
    created = await api.post(f"{rest_root}/Calls.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": SAY})
    assert created.status_code == 201
    spec.response(created.json(), CALLS, "post", 201)
    call = created.json()
    assert call["sid"].startswith("CA") and len(call["sid"]) == 34
    assert call["status"] == "queued" and call["direction"] == "outbound-api"
    assert call["uri"] == f"{rest_root}/Calls/{call['sid']}.json"
    assert call["to_formatted"] == "(555) 000-1111"

    fetched = await api.get(f"{rest_root}/Calls/{call['sid']}.json")
    assert fetched.status_code == 200
    spec.response(fetched.json(), CALL, "get", 200)

    await carrier.wait_idle(timeout=10)
    done = (await api.get(f"{rest_root}/Calls/{call['sid']}.json")).json()
    spec.response(done, CALL, "get", 200)
    assert done["status"] == "completed"
    assert int(done["duration"]) >= 1
    assert done["price"].startswith("-") and done["price_unit"] == "USD"
    assert done["end_time"] is not None and done["start_time"] is not None

    listed = await api.get(f"{rest_root}/Calls.json")
    assert listed.status_code == 200
    spec.response(listed.json(), CALLS, "get", 200)
    assert [c["sid"] for c in listed.json()["calls"]] == [call["sid"]]

    updated = await api.post(f"{rest_root}/Calls/{call['sid']}.json", data={"Status": "completed"})
    assert updated.status_code == 200
    spec.response(updated.json(), CALL, "post", 200)


async def test_updating_a_live_call_hangs_it_up(api, carrier, spec, rest_root):
    carrier.phones[SUBSCRIBER] = Phone(answer_after=1)
    twiml = "<Response><Pause length='3600'/></Response>"
    sid = (await api.post(f"{rest_root}/Calls.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": twiml})).json()["sid"]
    call = carrier.calls[sid]
    while call.status != "in-progress":
        await carrier.clock.sleep(1)
    updated = await api.post(f"{rest_root}/Calls/{sid}.json", data={"Status": "completed"})
    spec.response(updated.json(), CALL, "post", 200)
    assert updated.json()["status"] == "completed"
    assert call.duration < 3600


async def test_canceling_a_ringing_call(api, carrier, spec, rest_root):
    carrier.phones[SUBSCRIBER] = Phone(answer_after=600)
    sid = (await api.post(f"{rest_root}/Calls.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": SAY, "Timeout": "900"})).json()["sid"]
    while carrier.calls[sid].status != "ringing":
        await carrier.clock.sleep(0.5)
    updated = await api.post(f"{rest_root}/Calls/{sid}.json", data={"Status": "canceled"})
    spec.response(updated.json(), CALL, "post", 200)
    assert updated.json()["status"] == "canceled"
    assert updated.json()["price"] is None


async def test_call_list_paging_and_filters(api, carrier, spec, rest_root):
    numbers = ["+15550000001", "+15550000002", "+15550000003"]
    for number in numbers:
        await api.post(f"{rest_root}/Calls.json", data={"To": number, "From": SERVICE_NUMBER, "Twiml": SAY})
    first = (await api.get(f"{rest_root}/Calls.json", params={"PageSize": 2})).json()
    spec.response(first, CALLS, "get", 200)
    assert len(first["calls"]) == 2 and first["page"] == 0 and first["page_size"] == 2
    assert first["next_page_uri"] and first["previous_page_uri"] is None
    second = (await api.get(first["next_page_uri"])).json()
    spec.response(second, CALLS, "get", 200)
    assert len(second["calls"]) == 1 and second["next_page_uri"] is None and second["start"] == 2
    seen = [c["to"] for c in first["calls"] + second["calls"]]
    assert seen == list(reversed(numbers))  # newest first, like Twilio

    only = (await api.get(f"{rest_root}/Calls.json", params={"To": numbers[1]})).json()
    spec.response(only, CALLS, "get", 200)
    assert [c["to"] for c in only["calls"]] == [numbers[1]]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": SERVICE_NUMBER, "Twiml": SAY}, 21201),
        ({"To": "12345", "From": SERVICE_NUMBER, "Twiml": SAY}, 21211),
        ({"To": SUBSCRIBER, "Twiml": SAY}, 21213),
        ({"To": SUBSCRIBER, "From": "not-a-number", "Twiml": SAY}, 21212),
        ({"To": SUBSCRIBER, "From": SERVICE_NUMBER}, 21205),
        ({"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Url": "ftp://example.com/x"}, 21205),
        ({"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": SAY, "Timeout": "soon"}, 20001),
        ({"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": SAY, "StatusCallbackEvent": "exploded"}, 20001),
    ],
)
async def test_call_create_errors(api, spec, rest_root, data, code):
    response = await api.post(f"{rest_root}/Calls.json", data=data)
    assert response.status_code == 400
    spec.error(response.json(), 400, code)


async def test_authentication_and_not_found_errors(sandbox_url, spec, rest_root):
    async with httpx.AsyncClient(base_url=sandbox_url) as anonymous:
        response = await anonymous.get(f"{rest_root}/Calls.json")
        assert response.status_code == 401
        spec.error(response.json(), 401, 20003)
        assert response.headers["www-authenticate"].startswith("Basic")
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, "wrong")) as wrong:
        response = await wrong.post(f"{rest_root}/Messages.json", data={"To": SUBSCRIBER})
        assert response.status_code == 401
        spec.error(response.json(), 401, 20003)
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        response = await api.get(f"{rest_root}/Calls/CA{'0' * 32}.json")
        assert response.status_code == 404
        spec.error(response.json(), 404, 20404)
        assert f"Calls/CA{'0' * 32}.json" in response.json()["message"]
        response = await api.get(f"{rest_root}/Messages/SM{'0' * 32}.json")
        spec.error(response.json(), 404, 20404)
        other_account = "/2010-04-01/Accounts/AC" + "f" * 32 + "/Calls.json"
        response = await api.get(other_account)
        spec.error(response.json(), 404, 20404)


async def test_redirecting_an_ended_call_is_refused(api, carrier, spec, rest_root):
    sid = (await api.post(f"{rest_root}/Calls.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": SAY})).json()["sid"]
    await carrier.wait_idle(timeout=10)
    response = await api.post(f"{rest_root}/Calls/{sid}.json", data={"Twiml": SAY})
    assert response.status_code == 400
    spec.error(response.json(), 400, 21220)


async def test_messages_create_fetch_list_match_the_schemas(api, carrier, spec, rest_root):
    created = await api.post(
        f"{rest_root}/Messages.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Body": "Your callback is booked"}
    )
    assert created.status_code == 201
    spec.response(created.json(), MESSAGES, "post", 201)
    message = created.json()
    assert message["sid"].startswith("SM") and message["status"] == "queued"
    assert message["num_segments"] == "1" and message["direction"] == "outbound-api"

    await carrier.wait_idle(timeout=10)
    fetched = await api.get(f"{rest_root}/Messages/{message['sid']}.json")
    spec.response(fetched.json(), MESSAGE, "get", 200)
    assert fetched.json()["status"] == "delivered"
    assert fetched.json()["date_sent"] is not None
    assert [m.body for m in carrier.phones[SUBSCRIBER].inbox] == ["Your callback is booked"]

    listed = await api.get(f"{rest_root}/Messages.json", params={"To": SUBSCRIBER})
    spec.response(listed.json(), MESSAGES, "get", 200)
    assert [m["sid"] for m in listed.json()["messages"]] == [message["sid"]]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": SERVICE_NUMBER, "Body": "x"}, 21604),
        ({"To": SUBSCRIBER, "Body": "x"}, 21603),
        ({"To": SUBSCRIBER, "From": SERVICE_NUMBER}, 21602),
        ({"To": "call me", "From": SERVICE_NUMBER, "Body": "x"}, 21211),
    ],
)
async def test_message_create_errors(api, spec, rest_root, data, code):
    response = await api.post(f"{rest_root}/Messages.json", data=data)
    assert response.status_code == 400
    spec.error(response.json(), 400, code)


async def test_message_to_an_unreachable_phone_is_undelivered(api, carrier, spec, rest_root):
    carrier.phones[SUBSCRIBER] = Phone(answer="fail")
    sid = (await api.post(f"{rest_root}/Messages.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Body": "x"})).json()["sid"]
    await carrier.wait_idle(timeout=10)
    fetched = (await api.get(f"{rest_root}/Messages/{sid}.json")).json()
    spec.response(fetched, MESSAGE, "get", 200)
    assert fetched["status"] == "undelivered" and fetched["error_code"] == 30003
