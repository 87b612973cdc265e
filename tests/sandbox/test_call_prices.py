"""Call prices on the Call resource: Twilio's shape, a configurable rate per started minute, rated after the end."""

from decimal import Decimal

import httpx
import pytest

from sandbox import CallPricing, Carrier, Clock, Phone, serve
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, SERVICE_NUMBER, SUBSCRIBER

CALL = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"
CALLS = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
TALK = "<Response><Pause length='90'/></Response>"  # answered, then 90 s: two started minutes


@pytest.fixture
async def priced():
    """A carrier at 0.0125 EUR a minute that rates each call 600 virtual seconds after it ends."""
    carrier = Carrier(ACCOUNT_SID, AUTH_TOKEN, clock=Clock(speed=1000), cps=50,
                      pricing=CallPricing(Decimal("0.0125"), "EUR", delay=600))
    carrier.phones[SUBSCRIBER] = Phone(answer_after=2)
    async with serve(carrier.app) as url:
        async with httpx.AsyncClient(base_url=url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
            yield carrier, api
    await carrier.aclose()


async def fetch(api, sid: str) -> dict:
    response = await api.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json")
    assert response.status_code == 200
    return response.json()


async def test_a_connected_call_is_priced_per_started_minute_once_rated(priced, spec):
    carrier, api = priced
    created = await api.post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
                             data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": TALK})
    assert created.json()["price"] is None and created.json()["price_unit"] == "EUR"
    sid = created.json()["sid"]
    await carrier.wait_idle(timeout=10)
    ended = await fetch(api, sid)
    spec.response(ended, CALL, "get", 200)
    assert ended["status"] == "completed" and 90 <= int(ended["duration"]) < 120  # the virtual clock's jitter
    assert ended["price"] is None and ended["price_unit"] == "EUR"  # ended, not rated yet
    assert carrier.calls[sid].price == "-0.02500"  # what it will show: 2 minutes at 0.0125, as a charge
    await carrier.clock.sleep(600)
    rated = await fetch(api, sid)
    spec.response(rated, CALL, "get", 200)
    assert rated["price"] == "-0.02500" and Decimal(rated["price"]) == Decimal("-0.025")
    listed = (await api.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")).json()
    spec.response(listed, CALLS, "get", 200)
    assert [c["price"] for c in listed["calls"]] == ["-0.02500"]


@pytest.mark.parametrize("answer", ["busy", "no-answer", "fail"])
async def test_a_call_that_never_connected_has_no_price(priced, spec, answer):
    carrier, api = priced
    carrier.phones[SUBSCRIBER] = Phone(answer=answer)
    sid = (await api.post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
                          data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": TALK, "Timeout": "5"})).json()["sid"]
    await carrier.wait_idle(timeout=10)
    await carrier.clock.sleep(600)
    call = await fetch(api, sid)
    spec.response(call, CALL, "get", 200)
    assert call["status"] != "completed" and call["price"] is None and call["price_unit"] == "EUR"


async def test_the_rate_is_the_one_in_force_when_the_call_was_placed(priced):
    carrier, api = priced
    sid = (await api.post(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
                          data={"To": SUBSCRIBER, "From": SERVICE_NUMBER, "Twiml": TALK})).json()["sid"]
    carrier.pricing = CallPricing(Decimal("1"), "EUR")
    await carrier.wait_idle(timeout=10)
    assert carrier.calls[sid].price == "-0.02500"


def test_a_pricing_is_checked_and_never_a_float():
    assert CallPricing(0.1).per_minute == Decimal("0.1")  # through str(): not 0.1000000000000000055...
    for bad in (dict(per_minute=Decimal("-1")), dict(unit="usd"), dict(unit="DOLLAR"), dict(delay=-1)):
        with pytest.raises(ValueError):
            CallPricing(**bad)
