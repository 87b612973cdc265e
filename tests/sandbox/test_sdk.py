"""The twilio SDK, unchanged, pointed at the sandbox with `client.api.base_url`."""

import asyncio

import pytest

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from sandbox import Phone
from tests.sandbox.support import ACCOUNT_SID, AUTH_TOKEN, SERVICE_NUMBER, SUBSCRIBER

PAUSE = "<Response><Say>Please hold</Say><Pause length='600'/></Response>"


def sdk(base_url: str, **kwargs) -> Client:
    client = Client(ACCOUNT_SID, AUTH_TOKEN, **kwargs)
    client.api.base_url = base_url
    return client


async def test_sync_client_creates_fetches_updates_and_lists_calls(sandbox_url, carrier):
    client = sdk(sandbox_url)
    carrier.phones[SUBSCRIBER] = Phone(answer_after=2)
    # The sync client blocks, and the sandbox serves from this loop: run it in a thread.
    call = await asyncio.to_thread(client.calls.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, twiml=PAUSE)
    assert call.sid.startswith("CA") and call.status == "queued"
    assert call.to == SUBSCRIBER and call._from == SERVICE_NUMBER

    while carrier.calls[call.sid].status != "in-progress":
        await carrier.clock.sleep(1)
    fetched = await asyncio.to_thread(client.calls(call.sid).fetch)
    assert fetched.status == "in-progress" and fetched.start_time is not None

    ended = await asyncio.to_thread(client.calls(call.sid).update, status="completed")
    assert ended.status == "completed"
    assert ended.duration is not None

    for number in ("+15550000001", "+15550000002"):
        await asyncio.to_thread(client.calls.create, to=number, from_=SERVICE_NUMBER, twiml=PAUSE)
    # page_size 2 forces the SDK to follow next_page_uri for the third record.
    listed = await asyncio.to_thread(lambda: list(client.calls.stream(page_size=2)))
    assert len(listed) == 3
    assert listed[-1].sid == call.sid
    for live in carrier.calls.values():
        carrier.end(live)


async def test_sync_client_sends_messages(sandbox_url, carrier):
    client = sdk(sandbox_url)
    message = await asyncio.to_thread(
        client.messages.create, to=SUBSCRIBER, from_=SERVICE_NUMBER, body="We will call you back in 5 minutes"
    )
    assert message.sid.startswith("SM") and message.status == "queued"
    await carrier.wait_idle(timeout=10)
    fetched = await asyncio.to_thread(client.messages(message.sid).fetch)
    assert fetched.status == "delivered"
    assert carrier.phones[SUBSCRIBER].inbox[0].body == "We will call you back in 5 minutes"


# aiohttp deprecates the BasicAuth the SDK still passes; not the sandbox's concern.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_async_client(sandbox_url, carrier):
    http = AsyncTwilioHttpClient()
    try:
        client = sdk(sandbox_url, http_client=http)
        call = await client.calls.create_async(
            to=SUBSCRIBER, from_=SERVICE_NUMBER, twiml=PAUSE, status_callback_event=["initiated", "answered"], timeout=20
        )
        assert call.status == "queued"
        fetched = await client.calls(call.sid).fetch_async()
        assert fetched.sid == call.sid
        ended = await client.calls(call.sid).update_async(status="completed")
        assert ended.status in ("completed", "canceled")
        message = await client.messages.create_async(to=SUBSCRIBER, from_=SERVICE_NUMBER, body="hi")
        assert message.status == "queued"
        calls = await client.calls.list_async(limit=10)
        assert [c.sid for c in calls] == [call.sid]
    finally:
        await http.close()
