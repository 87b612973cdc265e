"""The portal's live-status streams are bounded: a few per session and per account, one
database poll per call however many streams follow it, and a closed stream frees its slot.

The streams are real HTTP: the app is served on loopback by uvicorn in its own event
loop, and each stream is an httpx request left open, then closed as a browser tab is.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from app.web import live_status
from sandbox import serve
from tests.utils import scenario as sc
from tests.utils.harness import PlatformUnderTest
from tests.utils.web import Browser, web_platform

NY = "+12125550123"


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine, operator=False) as platform:
        yield platform


def log_in(p: PlatformUnderTest, login: str = "alice") -> str:
    """A new browser session of `login`: its cookie."""
    browser = Browser(p)  # on the app's own client (its event loop holds the database connections)
    browser.log_in(login, f"{login}-password", follow=False)
    return browser.cookies["cbp_session"]


def queue_call(p: PlatformUnderTest, cookie: str, leg_a: str = "") -> int:
    """A Connect Two call, left queued (the dispatcher is off): its stream stays live."""
    browser = Browser(p)
    browser.cookies = httpx.Cookies({"cbp_session": cookie})
    browser.get("/")
    posted = browser.submit("/calls", {"from": leg_a, "to": "2125550123", "nonce": f"n-{cookie[-8:]}"}, follow=False)
    assert posted.status_code == 303, posted.text
    return int(posted.headers["location"].rsplit("=", 1)[1])


class Browsers:
    """Streams opened over HTTP and kept open until closed."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.open: list[tuple[contextlib.AsyncExitStack, httpx.Response]] = []

    async def stream(self, cookie: str, request_id: int) -> httpx.Response:
        stack = contextlib.AsyncExitStack()
        response = await stack.enter_async_context(self.client.stream(
            "GET", f"/calls/{request_id}/events", cookies={"cbp_session": cookie},
            headers={"Accept": "text/event-stream"}))
        if response.status_code == 200:
            self.open.append((stack, response))
        else:
            await response.aread()
            await stack.aclose()
        return response

    async def close(self, response: httpx.Response) -> None:
        for entry in list(self.open):
            if entry[1] is response:
                self.open.remove(entry)
                await entry[0].aclose()

    async def close_all(self) -> None:
        for stack, _ in reversed(self.open):
            await stack.aclose()
        self.open.clear()


async def _with_server(p: PlatformUnderTest, body):
    async with serve(p.app) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            browsers = Browsers(client)
            try:
                return await body(browsers)
            finally:
                await browsers.close_all()


async def _until(condition, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_a_session_gets_three_streams_and_the_fourth_is_refused(p):
    cookie, other_session = log_in(p), log_in(p)
    request_id = queue_call(p, cookie)

    async def body(browsers):
        for _ in range(live_status.MAX_STREAMS_PER_SESSION):
            assert (await browsers.stream(cookie, request_id)).status_code == 200
        refused = await browsers.stream(cookie, request_id)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "too_many_streams" and "per browser session" in error["message"]
        # Another session of the same account still gets its own.
        assert (await browsers.stream(other_session, request_id)).status_code == 200

    p.run(_with_server, p, body)


def test_an_account_gets_ten_streams_and_the_eleventh_is_refused(p):
    sessions = [log_in(p) for _ in range(4)]
    request_id = queue_call(p, sessions[0])
    bobs = log_in(p, "bob")
    bobs_call = queue_call(p, bobs, sc.BOB_MOBILE)

    async def body(browsers):
        opened = 0
        for cookie in sessions:
            for _ in range(live_status.MAX_STREAMS_PER_SESSION):
                if opened < live_status.MAX_STREAMS_PER_ACCOUNT:
                    assert (await browsers.stream(cookie, request_id)).status_code == 200
                    opened += 1
        refused = await browsers.stream(sessions[-1], request_id)
        assert refused.status_code == 429 and "per account" in refused.json()["error"]["message"]
        # Another account is not held back by this one.
        assert (await browsers.stream(bobs, bobs_call)).status_code == 200

    p.run(_with_server, p, body)


def test_streams_on_one_call_share_one_poll(p, monkeypatch):
    polls = []
    real = live_status.snapshot

    async def counted(*args, **kwargs):
        polls.append(kwargs["request_id"])
        return await real(*args, **kwargs)

    monkeypatch.setattr(live_status, "snapshot", counted)
    sessions = [log_in(p) for _ in range(3)]
    request_id = queue_call(p, sessions[0])

    async def body(browsers):
        for cookie in sessions:
            for _ in range(3):
                assert (await browsers.stream(cookie, request_id)).status_code == 200
        assert len(live_status.streams_of(p.app).watches) == 1  # one poller for nine streams
        polls.clear()
        await asyncio.sleep(live_status.POLL_SECONDS * 4 + 0.1)
        return len(polls)

    count = p.run(_with_server, p, body)
    # Four intervals: four polls (one of slack), where nine streams polling alone would make 36.
    assert 1 <= count <= 5


def test_a_closed_stream_frees_its_slot_and_the_poller_stops(p):
    cookie = log_in(p)
    request_id = queue_call(p, cookie)
    streams = live_status.streams_of(p.app)

    async def body(browsers):
        opened = [await browsers.stream(cookie, request_id) for _ in range(live_status.MAX_STREAMS_PER_SESSION)]
        assert all(response.status_code == 200 for response in opened)
        assert (await browsers.stream(cookie, request_id)).status_code == 429
        await browsers.close(opened[0])
        await _until(lambda: sum(streams.per_session.values()) == live_status.MAX_STREAMS_PER_SESSION - 1)
        assert (await browsers.stream(cookie, request_id)).status_code == 200
        await browsers.close_all()
        await _until(lambda: not streams.per_session and not streams.per_account and not streams.watches)

    p.run(_with_server, p, body)
