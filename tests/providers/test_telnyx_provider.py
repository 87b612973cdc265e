"""The Telnyx adapter against the carrier in Telnyx's dialect: requests as Telnyx's API describes them,
answers, statuses, prices and errors mapped to the provider interface."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from app.providers.interface import ProviderError, ProviderTimeout, is_not_found
from app.providers.telnyx import TelnyxProvider
from sandbox import Carrier, Clock, Phone, serve
from tests.utils import telnyx as tx

CALLER, SERVICE = "+14155550101", "+18005550000"


@pytest.fixture
async def telnyx():
    carrier = Carrier(auth_token=tx.API_KEY, dialect="telnyx", clock=Clock(speed=100), cps=50,
                      default_phone=Phone(answer_after=1.0, talk_seconds=30.0))
    carrier.voice_url = "http://127.0.0.1:9/unused"
    try:
        async with serve(carrier.app) as url:
            provider = TelnyxProvider(api_key=tx.API_KEY, api_base=url + "/v2", account_sid=carrier.account_sid,
                                      application_id=carrier.application_id, timeout=2)
            yield carrier, provider, url
            await provider.aclose()
    finally:
        await carrier.aclose()


async def create(carrier, provider, **extra) -> object:
    sid = await provider.create_call(to=CALLER, from_=SERVICE, url="http://127.0.0.1:9/legs/1/answer",
                                     status_callback="http://127.0.0.1:9/twilio/status?request=1&leg=a",
                                     timeout=30, time_limit=600, **extra)
    assert sid is None  # Telnyx's answer does not name the call: its first webhook does
    (call,) = [c for c in carrier.calls.values() if c.to == CALLER]
    return call


async def test_create_fetch_and_end_a_call(telnyx):
    carrier, provider, _ = telnyx
    call = await create(carrier, provider, machine_detection=True)
    assert call.sid.startswith("v3:") and call.machine_detection == "Enable"
    assert call.status_callback_events == {"initiated", "ringing", "answered", "completed"}
    fetched = await provider.fetch_call(call.sid)
    assert fetched.sid == call.sid and fetched.status in ("queued", "ringing", "in-progress")
    await provider.end_call(call.sid)
    ended = await provider.fetch_call(call.sid)
    assert ended.status in ("canceled", "completed") and ended.duration is not None
    assert ended.end_time is not None and ended.end_time.tzinfo is None
    paths = tx.check_requests(carrier.api_log)  # create (JSON) and update (form) as Telnyx describes them
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["Calls", call.sid]


async def test_a_finished_call_is_rated(telnyx):
    carrier, provider, _ = telnyx
    carrier.pricing.delay = 0
    call = await create(carrier, provider)
    await carrier.wait_idle(timeout=10)
    record = await provider.fetch_call(call.sid)
    assert record.status == "completed" and record.duration > 0  # answered, then its TeXML could not be fetched
    assert record.price is not None and record.price_unit == "USD"
    assert isinstance(record.start_time, dt.datetime) and record.start_time <= record.end_time


async def test_telnyx_errors_map_to_the_interface(telnyx):
    carrier, provider, url = telnyx
    with pytest.raises(ProviderError) as unknown:
        await provider.fetch_call("v3:" + "A" * 54)
    assert is_not_found(unknown.value) and unknown.value.code == 10005 and not unknown.value.retryable
    for status in (503, 429, 500):
        carrier.faults.fail_next(1, status)
        with pytest.raises(ProviderError) as failed:
            await create(carrier, provider)
        assert failed.value.status == status and failed.value.retryable and not failed.value.not_found
    wrong = TelnyxProvider(api_key="KEYsomeone-else", api_base=url + "/v2", account_sid=carrier.account_sid,
                           application_id=carrier.application_id, timeout=2)
    with pytest.raises(ProviderError) as refused:
        await wrong.fetch_call("v3:" + "A" * 54)
    assert (refused.value.status, refused.value.retryable, refused.value.not_found) == (401, False, False)
    await wrong.aclose()
    assert carrier.calls == {}  # nothing was placed by any of them


async def test_unreachable_and_silent_apis(telnyx):
    carrier, provider, _ = telnyx
    closed = TelnyxProvider(api_key=tx.API_KEY, api_base="http://127.0.0.1:9/v2", account_sid="a",
                            application_id="b", timeout=2)
    with pytest.raises(ProviderError) as unreachable:
        await closed.send_sms(to=CALLER, from_=SERVICE, body="hi")
    assert unreachable.value.retryable  # never connected: it did not take effect
    await closed.aclose()
    carrier.faults.stall_seconds = 5
    carrier.faults.fail_next(1, "stall")
    provider.timeout = 0.5
    with pytest.raises(ProviderTimeout):
        await provider.send_sms(to=CALLER, from_=SERVICE, body="hi")


async def test_send_a_text_through_the_messaging_api(telnyx):
    carrier, provider, _ = telnyx
    message_id = await provider.send_sms(to=CALLER, from_=SERVICE, body="Your balance is 10.00 USD.")
    assert uuid.UUID(message_id) and carrier.messages[message_id].body == "Your balance is 10.00 USD."
    for _ in range(100):
        if carrier.phones[CALLER].inbox:
            break
        await asyncio.sleep(0.02)
    assert [m.body for m in carrier.phones[CALLER].inbox] == ["Your balance is 10.00 USD."]
    tx.check_requests(carrier.api_log)
