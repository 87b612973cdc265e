"""CPS queueing and fault injection, as the platform's dispatcher will meet them."""

import asyncio

import httpx
import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from sandbox import Carrier, Clock, Faults, Phone, max_in_window, serve
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, SERVICE_NUMBER, SUBSCRIBER

SAY = "<Response><Say>This is your callback</Say></Response>"


def sdk(base_url: str, **kwargs) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN, **kwargs)
    client.api.base_url = base_url
    return client


async def test_calls_over_the_cps_limit_are_queued_never_refused(carrier, sandbox_url, spec, rest_root):
    carrier.cps = 2
    numbers = [f"+1555000{n:04d}" for n in range(12)]
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        responses = await asyncio.gather(
            *(api.post(f"{rest_root}/Calls.json", data={"To": n, "From": SERVICE_NUMBER, "Twiml": SAY}) for n in numbers)
        )
        assert [r.status_code for r in responses] == [201] * 12
        assert {r.json()["status"] for r in responses} == {"queued"}
        last = responses[-1].json()["sid"]
        assert carrier.calls[last].start_time is None  # still waiting for a slot

        await carrier.wait_idle(timeout=15)
        fetched = (await api.get(f"{rest_root}/Calls/{last}.json")).json()
        spec.resource(fetched, "api.v2010.account.call")
        assert int(fetched["queue_time"]) >= 4000  # the 12th call waited about 5 s at 2 CPS

    calls = [carrier.calls[r.json()["sid"]] for r in responses]
    assert all(c.status == "completed" for c in calls)
    starts = carrier.call_starts
    assert len(starts) == 12 and sorted(c.start_time for c in calls) == starts
    assert max_in_window(starts) == 2
    assert (starts[-1] - starts[0]).total_seconds() >= 5


async def test_default_rate_is_one_call_per_second(rest_root):
    carrier = Carrier(ACCOUNT_SID, AUTH_TOKEN, clock=Clock(speed=1000))
    try:
        async with serve(carrier.app) as url, httpx.AsyncClient(base_url=url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
            for n in range(4):
                await api.post(f"{rest_root}/Calls.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": SAY})
            await carrier.wait_idle(timeout=10)
        assert max_in_window(carrier.call_starts) == 1
        assert (carrier.call_starts[-1] - carrier.call_starts[0]).total_seconds() >= 3
    finally:
        await carrier.aclose()


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503), (429, 20429)])
async def test_injected_errors_reach_the_sdk_as_twilio_rest_exceptions(carrier, sandbox_url, status, code):
    client = sdk(sandbox_url)
    carrier.faults.fail_next(1, status=status)
    with pytest.raises(TwilioRestException) as error:
        await asyncio.to_thread(client.calls.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, twiml=SAY)
    assert error.value.status == status and error.value.code == code
    assert carrier.calls == {}

    carrier.faults.fail_next(1, status=status)
    with pytest.raises(TwilioRestException) as error:
        await asyncio.to_thread(client.messages.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, body="hi")
    assert error.value.status == status and error.value.code == code

    # The fault was one-off: a retry goes through.
    call = await asyncio.to_thread(client.calls.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, twiml=SAY)
    assert call.status == "queued"
    assert carrier.faults.injected == [("calls.create", status), ("messages.create", status)]


async def test_error_rate_is_deterministic_with_a_seed(carrier, sandbox_url, spec, rest_root):
    carrier.faults = Faults(error_rate=0.4, seed=11)
    expected = Faults(error_rate=0.4, seed=11)
    predicted = [expected.draw("calls.create") for _ in range(20)]
    async with httpx.AsyncClient(base_url=sandbox_url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        got = []
        for _ in range(20):
            response = await api.post(f"{rest_root}/Calls.json", data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": SAY})
            if response.status_code == 201:
                got.append(None)
            else:
                spec.error(response.json(), response.status_code)
                got.append(response.status_code)
    assert got == predicted
    assert 0 < sum(1 for g in got if g) < 20
    assert {g for g in got if g} <= {500, 503, 429}
    assert len(carrier.calls) == got.count(None)


async def test_stalled_create_times_out_the_client(carrier, sandbox_url):
    carrier.faults.stall_seconds = 5
    client = sdk(sandbox_url, http_client=TwilioHttpClient(timeout=0.3))

    carrier.faults.stall_next()
    with pytest.raises(requests.exceptions.Timeout):
        await asyncio.to_thread(client.calls.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, twiml=SAY)
    assert carrier.calls == {}

    # With timeout_creates the call is placed although the client never heard back.
    carrier.faults.timeout_creates = True
    carrier.faults.stall_next()
    with pytest.raises(requests.exceptions.Timeout):
        await asyncio.to_thread(client.calls.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, twiml=SAY)
    assert len(carrier.calls) == 1


async def test_answer_delay_turns_answers_into_no_answer(carrier, platform):
    carrier.phones[SUBSCRIBER] = Phone(answer_after=5)
    carrier.faults.answer_delay = 120
    platform.on("/voice", SAY)
    call = carrier.create_call(to=SUBSCRIBER, from_=SERVICE_NUMBER, url=platform.url("/voice"), timeout=60)
    await carrier.wait_idle(timeout=10)
    assert call.status == "no-answer"
