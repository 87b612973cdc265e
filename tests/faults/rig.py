"""The platform as real server processes, the sandbox carrier in the test, and the books of both.

A fault test needs what a unit test cannot give it: a process that can be
killed with SIGKILL, a database shared by several processes, a provider that
fails on purpose. `Rig` runs:

- the sandbox carrier in the test's event loop (its calls, transcripts and
  the times of every create-call request are read directly);
- one or more app processes (`python -m uvicorn app.main:app`) configured
  through the environment, exactly as deployed, with the carrier's REST API
  as TWILIO_API_BASE;
- optionally a round-robin proxy in front of them (the load balancer), which
  is also the PUBLIC_BASE_URL the carrier signs its webhooks for.

Triggers are posted the way the provider posts them: signed, form-encoded,
one CallSid each; a trigger that got no answer is re-sent with the same
CallSid, as the provider's retry or fallback would.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import itertools
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
import sqlalchemy as sa

from app.data import accounts, rates, service_numbers
from app.core import states
from app.data.db import Database, sync_url, utcnow
from app.core.phone import to_e164
from app.core.settings import Settings, load_settings
from app.data.tables import accounts as accounts_t
from app.data.tables import callback_requests, events
from sandbox import Carrier, Clock, Phone, most_in_window, serve
from tests.utils import twilio as tw

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "fault-test-secret-key"
SERVICE_NUMBER = "+18005550001"  # ANI mode: the account's default number is called back
DESTINATION = "+12125550123"
LEG_URL = re.compile(r"/legs/(\d+)/answer$")
# What the subscribers' home phones do, one subscriber after another: one in ten talks through the
# IVR to the second party (a dozen webhooks, three times what a busy or unanswered callback costs
# the app), the others are busy or do not answer.
OUTCOMES = ("busy", "no-answer", "busy", "no-answer", "busy", "no-answer", "busy", "no-answer", "talk", "busy")
# A leg's final status at the carrier, as the reason its request fails with.
A_REASONS = {states.A_BUSY, states.A_NO_ANSWER, states.A_FAILED, states.CANCELED}
B_REASONS = {states.B_BUSY, states.B_NO_ANSWER, states.B_FAILED}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subscriber_numbers(count: int) -> list[tuple[str, str]]:
    """(ANI, home number) pairs of valid US numbers, distinct from the shared test scenario's."""
    found: list[str] = []
    for area, line in itertools.product(("646", "718", "917", "347", "929"), range(100, 200)):
        number = f"+1{area}555{line:04d}"
        try:
            if to_e164(number) == number:
                found.append(number)
        except ValueError:
            continue
        if len(found) == 2 * count:
            break
    assert len(found) == 2 * count, "not enough valid test numbers"
    return list(zip(found[::2], found[1::2]))


@dataclass
class Subscriber:
    login: str
    ani: str
    home: str
    outcome: str  # what the home phone does: talk, busy, no-answer


@dataclass
class AppProcess:
    """One `uvicorn app.main:app` server process."""

    name: str
    env: dict
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "warning", "--no-access-log"],
                env=self.env, cwd=self.log_path.parent, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight requests are cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_offset(self) -> int:
        """Where the log ends now: `log_count(text, since=...)` counts what comes after."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_count(self, text: str, since: int = 0) -> int:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(since)
                return log.read().decode(errors="replace").count(text)
        except OSError:
            return 0


class RoundRobin:
    """A load balancer in front of the app processes: each request to the next live one."""

    def __init__(self, backends: list[AppProcess]):
        self.backends = backends
        self._next = itertools.count()
        self.client = httpx.AsyncClient(timeout=20.0)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"host", b"content-length", b"connection")]
        path = scope["raw_path"].decode() + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
        response = None
        for _ in range(len(self.backends)):
            backend = self.backends[next(self._next) % len(self.backends)]
            try:
                response = await self.client.request(scope["method"], backend.url + path, headers=headers, content=body)
                break
            except httpx.ConnectError:
                continue  # that instance is down: the balancer tries the next
        if response is None:
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b"no backend"})
            return
        out = [(k.encode(), v.encode()) for k, v in response.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")]
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": response.content})


class CreateLog:
    """ASGI wrapper around the carrier: the real time of every create-call request."""

    def __init__(self, app):
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/Calls.json"):
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)


# The carrier timestamps requests as its event loop gets to them: a loop busy for a moment
# hands several queued requests their timestamps at once. Counting over 0.8 s instead of 1 s
# leaves 200 ms for that, and still catches any pacing that bursts (a second's worth at once).
JITTER_WINDOW = 0.8


def max_per_second(times: list[float], window: float = 1.0) -> int:
    """The most requests in any half-open window of `window` real seconds."""
    return most_in_window(times, window)


@dataclass
class Delivery:
    call_sid: str
    caller: str
    answers: list = field(default_factory=list)  # HTTP status, or the exception's name, per attempt

    @property
    def accepted(self) -> bool:
        return 200 in self.answers


class Rig:
    def __init__(self, *, database_url: str, workdir: Path, speed: float = 20.0,
                 carrier_cps: float = 50.0, subscribers: int = 20, outcomes=OUTCOMES,
                 env: dict | None = None):
        self.database_url = database_url
        # Pre-ping: the PostgreSQL restart test's server drops every pooled connection.
        self.engine = sa.create_engine(sync_url(Settings(database_url=database_url)), pool_pre_ping=True)
        self.workdir = workdir
        self.carrier = Carrier(tw.ACCOUNT_SID, tw.AUTH_TOKEN, clock=Clock(speed=speed), cps=carrier_cps,
                               default_phone=Phone(answer_after=1.0, talk_seconds=3.0), webhook_timeout=10.0)
        self.creates = CreateLog(self.carrier.app)
        self.carrier_url = ""
        self.extra_env = dict(env or {})
        self.subscribers = [Subscriber(f"sub{i:03d}", ani, home, outcomes[i % len(outcomes)])
                            for i, (ani, home) in enumerate(subscriber_numbers(subscribers))]
        self.apps: list[AppProcess] = []
        self.balancer: RoundRobin | None = None
        self.public_url: str | None = None
        self.deliveries: dict[str, Delivery] = {}
        self.started = time.monotonic()
        self.marks: list[tuple[str, float]] = []
        self._stack = contextlib.AsyncExitStack()
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=3.0),
                                      limits=httpx.Limits(max_connections=40))

    def mark(self, phase: str) -> None:
        """Note the time a phase of the test ended: `timeline()` prints them with the outcome."""
        self.marks.append((phase, time.monotonic() - self.started))

    def timeline(self) -> str:
        return ", ".join(f"{phase} {at:.1f}s" for phase, at in self.marks)

    # Set-up

    async def __aenter__(self) -> Self:
        # The carrier's HTTP client would log every webhook it sends.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # The carrier runs in this test process, whose heap is large after the rest of the
        # suite: a full garbage collection there can stall its event loop past the jitter
        # window and hand a run of queued create-calls one timestamp (a burst that the app
        # never sent). Frozen objects are not scanned again; the apps under test are
        # processes of their own and keep their collector as deployed.
        gc.collect()
        gc.freeze()
        self._stack.callback(gc.unfreeze)
        await self._stack.__aenter__()
        self._stack.push_async_callback(self.carrier.aclose)
        self.carrier_url = await self._stack.enter_async_context(serve(self.creates))
        await self.seed()
        for subscriber in self.subscribers:
            self.script(subscriber)
        self.carrier.phones.set(DESTINATION, answer_after=1.0, talk_seconds=3.0)
        return self

    async def __aexit__(self, *exc) -> None:
        for app in self.apps:
            app.kill()
        await self.http.aclose()
        if self.balancer is not None:
            await self.balancer.client.aclose()
        await self._stack.__aexit__(*exc)
        self.engine.dispose()
        if exc[0] is None:
            assert self.carrier.errors == [], f"the carrier failed inside: {self.carrier.errors[:3]}"

    def script(self, subscriber: Subscriber) -> None:
        phones = self.carrier.phones
        if subscriber.outcome == "talk":
            phones.set(subscriber.home, answer_after=1.0, keys=[DESTINATION[2:] + "#", None])
        elif subscriber.outcome == "busy":
            phones.set(subscriber.home, answer="busy", answer_after=1.0)
        else:
            phones.set(subscriber.home, answer="no-answer")

    async def seed(self) -> None:
        db = Database(self.database_url)
        await db.connect()
        try:
            # Rows written directly: the accounts' passwords are never used here, and
            # hashing twenty of them with argon2 would cost seconds per test.
            for s in self.subscribers:
                account = await db.execute(accounts_t.insert().values(
                    login=s.login, password_hash="unused", balance=10_000_000, default_number=s.home,
                    # No retry of an unanswered callback: every second leg-A call is a double dial.
                    retry_attempts=0, retry_delay_seconds=0, max_concurrent=1000, created_at=utcnow()))
                await accounts.add_ani(db, account_id=account, number=s.ani)
            await service_numbers.add_number(db, number=SERVICE_NUMBER, mode="ani")
            await rates.set_rate(db, prefix="1", price_per_minute=10_000)
        finally:
            await db.disconnect()

    def env(self, **overrides) -> dict:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("TWILIO_", "DATABASE_", "PUBLIC_", "DISPATCH", "PROVIDER_", "REQUEST_",
                                      "PLACING_", "LEG_", "TRIGGER_", "DESTINATION_", "SANDBOX_", "SECRET_"))}
        env.update(
            PYTHONPATH=str(ROOT),
            DATABASE_URL=self.database_url,
            TWILIO_ACCOUNT_SID=tw.ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=tw.AUTH_TOKEN,
            TWILIO_API_BASE=self.carrier_url,
            SECRET_KEY=SECRET_KEY,
            DISPATCH_DELAY_SECONDS="0",
            PROVIDER_CPS="50",
            PROVIDER_TIMEOUT_SECONDS="2",
            PROVIDER_MAX_ATTEMPTS="4",
            PLACING_GRACE_SECONDS="2",
            REQUEST_TTL_SECONDS="60",
            LEG_A_TIMEOUT_SECONDS="10",
            TRIGGER_LIMIT="100000",
            DESTINATION_DAILY_LIMIT="100000",
        )
        env.update(self.extra_env)
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    async def start_app(self, name: str = "app", **env) -> AppProcess:
        app = AppProcess(name, self.env(**env), self.workdir / f"{name}.log")
        # Callback URLs are configuration: each process is told its own address unless given one.
        app.env.setdefault("PUBLIC_BASE_URL", app.url)
        self.apps.append(app)
        app.start()
        await app.wait_ready()
        return app

    @contextlib.asynccontextmanager
    async def serve_app(self, **env):
        """The app in this process and event loop, with the settings `start_app` gives a server
        process (read from the same environment): much quicker to start than a process, for tests
        that kill nothing and need little throughput. Yields its base URL."""
        from app.main import create_app  # here: the app's imports take seconds a rig may not need

        port = free_port()
        app = create_app(load_settings({"PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", **self.env(**env)},
                                       env_file=None))
        async with app.router.lifespan_context(app), serve(app, port=port) as url:
            yield url

    async def start_balancer(self) -> str:
        """A round-robin proxy over the apps; the carrier's webhooks are signed for its URL."""
        self.balancer = RoundRobin(self.apps)
        self.public_url = await self._stack.enter_async_context(serve(self.balancer))
        return self.public_url

    # The provider's side

    def trigger_url(self, app: AppProcess | None = None) -> str:
        return (self.public_url or app.url) + "/twilio/voice"

    async def trigger(self, delivery: Delivery, url: str) -> int | str:
        params = tw.voice_params(From=delivery.caller, To=SERVICE_NUMBER, CallSid=delivery.call_sid)
        try:
            response = await self.http.post(url, data=params, headers={"X-Twilio-Signature": tw.sign(url, params)})
            answer: int | str = response.status_code
        except httpx.HTTPError as exc:
            answer = type(exc).__name__
        delivery.answers.append(answer)
        return answer

    def new_delivery(self, index: int) -> Delivery:
        subscriber = self.subscribers[index % len(self.subscribers)]
        delivery = Delivery(tw.call_sid(), subscriber.ani)
        self.deliveries[delivery.call_sid] = delivery
        return delivery

    async def resend_unanswered(self, url: str, *, rounds: int = 5) -> None:
        """The provider's retry: every trigger without a 200 goes again, same CallSid."""
        for _ in range(rounds):
            pending = [d for d in self.deliveries.values() if not d.accepted]
            if not pending:
                return
            await asyncio.gather(*(self.trigger(d, url) for d in pending))
            await asyncio.sleep(0.2)

    # The books

    def requests(self) -> list:
        with self.engine.connect() as c:
            return c.execute(sa.select(callback_requests).order_by(callback_requests.c.id)).mappings().all()

    def events_by_request(self) -> dict[int, list]:
        out = collections.defaultdict(list)
        with self.engine.connect() as c:
            for row in c.execute(sa.select(events).order_by(events.c.id)).mappings():
                out[row["request_id"]].append(row)
        return out

    def leg_a_calls(self) -> dict[int, list]:
        """The carrier's leg-A calls per request id, read from the answer URL the app gave each."""
        out = collections.defaultdict(list)
        for call in self.carrier.calls.values():
            if call.direction == "outbound-api" and call.url:
                match = LEG_URL.search(call.url)
                assert match, f"a leg A call with an unexpected URL: {call.url}"
                out[int(match.group(1))].append(call)
        return out

    async def settle(self, timeout: float, *, ended=None) -> list:
        """Wait (at most `timeout` real seconds) until every request has ended and the carrier is idle.

        `ended(row)` says whether a row counts as ended (default: terminal). Returns the rows.
        """
        ended = ended or (lambda row: row["state"] in states.TERMINAL)
        deadline = time.monotonic() + timeout
        while True:
            # Read in a thread: a database read that waits for a writer must not stall the carrier.
            rows = await asyncio.to_thread(self.requests)
            if self.carrier.idle and all(ended(r) for r in rows):
                await asyncio.sleep(0.3)  # the last callbacks in flight
                if self.carrier.idle:
                    return await asyncio.to_thread(self.requests)
            if time.monotonic() >= deadline:
                return rows
            await asyncio.sleep(0.2)


# What the app logs (app.calls.dispatcher.Dispatcher.run) each time a dispatcher pass fails.
DISPATCH_FAILED = "dispatcher pass failed"


async def dialling_again(rig: Rig, *, creates_before: int, failures, timeout: float, most_failures: int = 3) -> bool:
    """Wait until the carrier gets more than `creates_before` create-call requests: True.

    False after `timeout` real seconds, or sooner once `failures()` (the dispatcher passes that
    failed since the fault) reaches `most_failures` with no create meanwhile: a dispatcher whose
    every pass fails is stuck, not slow, and waiting longer for it would only make the test slow.
    """
    deadline = time.monotonic() + timeout
    while len(rig.creates.times) <= creates_before:
        if time.monotonic() >= deadline or failures() >= most_failures:
            return len(rig.creates.times) > creates_before
        await asyncio.sleep(0.1)
    return True


def final_status_lost(rig: Rig, sid: str | None) -> bool:
    """True when leg `sid` has ended at the carrier and its final status callback never got through."""
    call = rig.carrier.calls.get(sid or "")
    if call is None or not call.ended:
        return False
    finals = [d for d in rig.carrier.webhook_log
              if d.kind == "status" and d.call_sid == sid and d.params.get("CallStatus") == call.status]
    return bool(finals) and all(d.status_code is None or d.status_code >= 300 for d in finals)


def summary(rows) -> dict[str, int]:
    return dict(collections.Counter(f"{r['state']}/{r['reason'] or '-'}" for r in rows))


def check_exactly_once(rig: Rig, rows, *, unanswered_creates_ok: bool = True) -> dict[str, int]:
    """The exactly-once rules, request by request; returns the outcome counts.

    - a request that was placed (any leg reason, or completed) has exactly one leg-A call;
    - expired, or refused before any create: no call;
    - provider_error: no call, except when its create got no answer (timeout, or the
      process died mid-request): then the call may exist, and at most one does;
    - never two leg-A calls for one request (retries are off for every account).
    """
    calls = rig.leg_a_calls()
    known_ids = {r["id"] for r in rows}
    stray = sorted(set(calls) - known_ids)
    assert not stray, f"leg-A calls for requests that do not exist: {stray}"
    history = rig.events_by_request()
    problems = []
    for r in rows:
        placed = calls.get(r["id"], [])
        if len(placed) > 1:
            problems.append(f"request {r['id']} dialled {len(placed)} times: {[c.sid for c in placed]}")
            continue
        reason = r["reason"]
        if r["state"] == states.COMPLETED or reason in A_REASONS | B_REASONS:
            if len(placed) != 1:
                problems.append(f"request {r['id']} {r['state']}/{reason} but {len(placed)} leg-A calls")
            elif r["leg_a_sid"] != placed[0].sid:
                problems.append(f"request {r['id']} records leg A {r['leg_a_sid']}, the carrier placed {placed[0].sid}")
        elif reason == states.EXPIRED:
            if placed:
                problems.append(f"request {r['id']} expired but was dialled")
        elif reason == states.PROVIDER_ERROR:
            unanswered = any("not redialled" in (e["detail"] or "") for e in history[r["id"]])
            if placed and not (unanswered and unanswered_creates_ok):
                problems.append(f"request {r['id']} failed provider_error after a create that was answered, "
                                f"yet the carrier placed {placed[0].sid}")
    assert not problems, "\n".join(problems[:20])
    return summary(rows)
