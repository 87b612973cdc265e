"""The dispatcher on a thread and event loop of its own (app/calls/dispatch_thread.py), over the real app.

The point of it: a due callback is dialled on time however busy the webhooks' event loop
is. Two set-ups: the app and the sandbox carrier in the test's loop (tests/utils/live.py),
and, where the webhooks' loop is to be blocked while the carrier keeps answering, the app
served by uvicorn on a thread of its own and the carrier in the test's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import threading
import time
from dataclasses import dataclass

import pytest

from app.calls import dispatcher as dispatching
from app.calls.dispatch_thread import DispatchThread
from app.calls.dispatcher import Dispatcher
from app.core import states
from app.core.settings import Settings
from app.data.db import utcnow
from app.main import create_app
from app.platform import Platform
from sandbox import Clock, Phone, serve
from tests.utils import scenario as sc
from tests.utils.databases import database_url_for, isolated_postgres_url
from tests.utils.live import Live, carrier_for, free_port, live_platform, provider_settings, seed

__all__ = ["isolated_postgres_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """These tests run a dispatcher: on PostgreSQL, in a database no other session dispatches from."""
    return database_url_for(request, tmp_path)


@dataclass
class Threaded:
    """The app served on a thread of its own (`loop`), the carrier in the test's loop."""

    live: Live
    loop: asyncio.AbstractEventLoop
    creates: list[dt.datetime]  # when each create-call request reached the carrier (naive UTC)

    def block(self, seconds: float) -> concurrent.futures.Future:
        """Block the app's event loop (its webhooks, its carrier of callbacks) for `seconds`, as a handler
        doing slow synchronous work would; resolves to when the block began and ended."""
        blocked: concurrent.futures.Future = concurrent.futures.Future()

        def sleep() -> None:
            began = utcnow()
            time.sleep(seconds)
            blocked.set_result((began, utcnow()))

        self.loop.call_soon_threadsafe(sleep)
        return blocked


@contextlib.asynccontextmanager
async def app_on_a_thread(settings, engine, **changes):
    carrier = carrier_for("twilio", clock=Clock(speed=100.0), cps=50.0,
                          default_phone=Phone(answer_after=1.0, talk_seconds=30.0))
    creates: list[dt.datetime] = []

    async def noting_creates(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/Calls.json"):
            creates.append(utcnow())
        await carrier.app(scope, receive, send)

    try:
        async with serve(noting_creates) as carrier_url:
            port = free_port()
            configured = provider_settings(settings, "twilio", carrier_url).with_(
                dispatcher_enabled=True, provider_cps=50.0, public_base_url=f"http://127.0.0.1:{port}",
                **{"dispatch_delay_seconds": 0, **changes})
            app = create_app(configured)
            up: concurrent.futures.Future = concurrent.futures.Future()

            async def serving() -> None:
                stop = asyncio.Event()
                async with app.router.lifespan_context(app), serve(app, port=port) as url:
                    await seed(app.state.platform.db, configured.secret_key)
                    up.set_result((asyncio.get_running_loop(), stop, url))
                    await stop.wait()

            def main() -> None:
                try:
                    asyncio.run(serving())
                except BaseException as exc:
                    if up.done():
                        raise
                    up.set_exception(exc)

            thread = threading.Thread(target=main, name="webhooks")
            thread.start()
            try:
                loop, stop, platform_url = await asyncio.wrap_future(up)
                carrier.voice_url = platform_url + "/twilio/voice"
                carrier.sms_url = platform_url + "/twilio/sms"
                yield Threaded(Live(carrier=carrier, platform_url=platform_url, app=app, engine=engine), loop,
                               creates)
                loop.call_soon_threadsafe(stop.set)
            finally:
                await asyncio.to_thread(thread.join, 30)
                assert not thread.is_alive()
    finally:
        await carrier.aclose()


async def until(predicate, timeout: float = 10.0, what: str = "it"):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)
    return found


async def test_the_dispatcher_runs_on_a_thread_and_loop_of_its_own(settings, engine):
    async with live_platform(settings, engine) as live:
        runner = live.app.state.dispatch_thread
        main = live.app.state.platform
        assert runner.alive and runner.thread is not threading.current_thread()
        assert runner.loop is not asyncio.get_running_loop()
        # What is bound to a loop is its own; what is not is shared.
        own = runner.platform
        assert own.db is not main.db and own.provider is not main.provider
        assert (own.settings, own.secret_key, own.metrics) == (main.settings, main.secret_key, main.metrics)
        assert own.work_ready is main.work_ready

        seen = {}
        create, wake = own.providers["twilio"].create_call, main.wake_dispatcher

        async def noted_create(**kwargs):
            seen["create"] = (threading.current_thread(), asyncio.get_running_loop())
            return await create(**kwargs)

        def noted_wake():
            seen["wake"] = (threading.current_thread(), asyncio.get_running_loop())
            wake()

        own.providers["twilio"].create_call = noted_create
        main.wake_dispatcher = noted_wake
        live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
        trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
        row = await live.finished(trigger.sid)
        assert row["state"] == states.COMPLETED
        # The trigger webhook woke it from the webhooks' thread; it dialled from its own.
        assert seen["wake"] == (threading.current_thread(), asyncio.get_running_loop())
        assert seen["create"] == (runner.thread, runner.loop)


async def test_a_due_call_is_placed_on_time_while_the_webhooks_loop_is_blocked(settings, engine):
    """The point of the thread: a handler blocking the server's loop for half a second does not hold it back."""
    async with app_on_a_thread(settings, engine, dispatch_delay_seconds=0.5) as threaded:
        live = threaded.live
        live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
        trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
        row = await until(lambda: live.request_for(trigger.sid), what="the request")
        await live.carrier.wait_idle(timeout=5)  # the trigger's webhooks are over: nothing is mid-transaction
        assert threaded.creates == [] and row["due_at"] > utcnow()
        # Blocked from before the request is due until well after.
        blocked = threaded.block((row["due_at"] - utcnow()).total_seconds() + 0.5)
        began, ended = await asyncio.wrap_future(blocked)
        assert began < row["due_at"]
        (created,) = threaded.creates
        assert began < created < ended, "the create call waited for the webhooks' loop"
        assert (created - row["due_at"]).total_seconds() < 0.1
        assert (await live.finished(trigger.sid))["state"] == states.COMPLETED


async def test_a_trigger_wakes_the_dispatcher_at_once(settings, engine, monkeypatch):
    """Woken from the webhooks' thread, not found at its next poll: with polls 30 s apart the create is still prompt."""
    monkeypatch.setattr(dispatching, "POLL_SECONDS", 30.0)
    async with app_on_a_thread(settings, engine) as threaded:
        live = threaded.live
        await asyncio.sleep(0.3)  # the dispatcher has found nothing to do and sleeps
        live.carrier.phones.set(sc.ALICE_HOME, keys=["2125550123#", None])
        trigger = await live.ring(sc.ALICE_MOBILE, sc.ANI_NUMBER)
        (created,) = await until(lambda: threaded.creates, what="the create call")
        row = live.request_for(trigger.sid)
        assert (created - row["due_at"]).total_seconds() < 0.25  # dispatching.POLL_SECONDS is 0.5 in production
        assert (await live.finished(trigger.sid))["state"] == states.COMPLETED


async def test_shutdown_joins_the_thread_and_leaves_no_request_half_claimed(settings, engine):
    """Stopped while it dials a queue at 5 calls a second: each request is either placed (its call
    created and recorded) or back in the queue, its attempt not counted; none is claimed with nothing sent."""
    callers = [f"+1415555{line:04d}" for line in range(100, 115)]
    # The carrier's clock at real speed, and nobody answers: each call placed still rings at shutdown.
    async with live_platform(settings.with_(trigger_limit=1000), engine, cps=5.0, speed=1.0) as live:
        runner = live.app.state.dispatch_thread
        for caller in callers:
            live.carrier.phones.set(caller, answer="no-answer")
            await live.ring(caller, sc.PIN_NUMBER)
        await until(lambda: len(live.requests()) == len(callers), what="the requests")
        await until(lambda: len([c for c in live.carrier.calls.values() if c.direction == "outbound-api"]) >= 3,
                    what="the first creates")
    assert not runner.alive and runner.loop.is_closed()
    rows = live.requests()
    placed = [r for r in rows if r["leg_a_sid"] is not None]
    assert [r for r in rows if r["state"] == states.CALLING_A and r["leg_a_sid"] is None] == []
    assert all((r["state"], r["attempts"]) == (states.QUEUED, 0) for r in rows if r["leg_a_sid"] is None)
    assert {r["state"] for r in placed} == {states.CALLING_A}
    assert 3 <= len(placed) < len(callers)
    legs_a = {c.sid for c in live.carrier.calls.values() if c.direction == "outbound-api"}
    assert {r["leg_a_sid"] for r in placed} == legs_a  # every call created is the one recorded


@contextlib.asynccontextmanager
async def bare_platform():
    """A platform with nothing behind it, for a dispatcher that never reaches its database."""
    yield Platform(settings=Settings(database_url="sqlite://"), db=None, secret_key="unused", credentials=None,
                   provider=None)


async def test_a_dispatcher_that_ends_on_its_own_is_logged_and_its_thread_cleaned_up(monkeypatch, caplog):
    closed = []

    @contextlib.asynccontextmanager
    async def platform():
        async with bare_platform() as made:
            yield made
            closed.append(threading.current_thread())

    async def failing(self):
        raise RuntimeError("a bug in the dispatcher")

    monkeypatch.setattr(Dispatcher, "run", failing)
    runner = DispatchThread(platform)
    await runner.start()
    await until(lambda: not runner.alive, what="the thread to end")
    (logged,) = [r for r in caplog.records if r.name == "app.calls.dispatch_thread"]
    assert logged.levelname == "ERROR" and "stopped on its own" in logged.getMessage()
    assert str(logged.exc_info[1]) == "a bug in the dispatcher"
    assert closed == [runner.thread] and runner.loop.is_closed()
    await runner.stop()  # its loop is gone: nothing to stop, nothing raised


async def test_a_platform_that_cannot_be_made_fails_the_start():
    @contextlib.asynccontextmanager
    async def platform():
        raise ConnectionError("database unreachable")
        yield

    runner = DispatchThread(platform)
    with pytest.raises(ConnectionError):
        await runner.start()
    assert not runner.alive
