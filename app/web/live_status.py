"""A call's live status for the portal: a JSON snapshot, and the same pushed as Server-Sent Events.

The stream polls the database (the state lives there, written by whichever
instance got the webhook) and sends a snapshot whenever it changes, until the
request is over and every leg's CDR is written, or the browser goes away.

Every stream costs a poll every half second, so they are bounded: a few per
browser session and per account (each process counts its own), and all the
streams following one call share one poll, which fans the snapshot out.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.data import account_history, accounts
from app.core import money, schedule, states
from app.data.db import utcnow
from app.platform import Platform
from app.web.portal.pages import Visit, portal_page
from twiml.prompts import text

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
# Once over, how long to wait for the last CDRs before ending the stream anyway.
SETTLE_SECONDS = 10.0
MAX_STREAM_SECONDS = 3600.0
# A browser follows one call, maybe in a couple of tabs; an account's people a few more.
MAX_STREAMS_PER_SESSION = 3
MAX_STREAMS_PER_ACCOUNT = 10
STATE_TEXT = {
    states.QUEUED: "Queued: your phone rings in a moment.",
    states.CALLING_A: "Calling your phone…",
    states.A_ANSWERED: "Your phone answered: follow the voice prompt.",
    states.CALLING_B: "Calling the other number…",
    states.CONNECTED: "Connected: both phones are talking.",
    states.COMPLETED: "Completed.",
}


def summary(view: dict, language: str) -> str:
    """One sentence for the status line."""
    if view["state"] != states.FAILED:
        return STATE_TEXT.get(view["state"], view["state"])
    if view["reason"] == states.CANCELED:
        return "Canceled."
    why = text(f"why_{view['reason']}", language) if view["reason"] in states.REASONS else "it could not be placed"
    return f"Failed: {why}."


async def snapshot(p: Platform, *, account_id: int, request_id: int) -> dict | None:
    row = await account_history.get_request(p.db, account_id=account_id, request_id=request_id)
    if row is None:
        return None
    (row, legs), = await account_history.with_legs(p.db, account_id=account_id, rows=[row])
    account = await accounts.get_account(p.db, account_id=account_id)
    view = account_history.callback_view(row, legs, account["currency"])
    view["balance"] = money.format_amount(account["balance"], account["currency"])
    view["settled"] = account_history.settled(row, legs)
    # Worth following: still going, or just over with a CDR on its way (not forever, if one never comes).
    view["live"] = not view["settled"] and (
        not view["terminal"] or (utcnow() - row["updated_at"]).total_seconds() < SETTLE_SECONDS)
    view["summary"] = summary(view, account["language"])
    if row["state"] == states.QUEUED and row["scheduled_at"] is not None and row["scheduled_at"] > utcnow():
        # Nothing to follow until its time (maybe days ahead): no stream, and when it will ring.
        local = schedule.utc_to_local(row["scheduled_at"], account["time_zone"])
        view["live"] = False
        view["summary"] = f"Scheduled for {local:%Y-%m-%d %H:%M} ({account['time_zone']}): your phone rings then."
    return view


def _not_found() -> JSONResponse:
    return JSONResponse({"error": {"code": "not_found", "message": "no such call in your account"}}, status_code=404)


@portal_page(api=True)
async def status_json(visit: Visit) -> Response:
    view = await snapshot(visit.p, account_id=visit.account["id"], request_id=visit.request.path_params["request_id"])
    return JSONResponse(view) if view is not None else _not_found()


@dataclass(eq=False)
class _Watch:
    """One request's status, polled once per interval for every stream that follows it."""

    p: Platform
    account_id: int
    request_id: int
    view: dict | None
    streams: int = 0
    version: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                self.view = await snapshot(self.p, account_id=self.account_id, request_id=self.request_id)
            except Exception:  # a database hiccup: keep the last view, try again next time
                log.exception("live status of request %s: poll failed", self.request_id)
                continue
            self.version += 1
            # Wake every stream waiting on this round, and give the next round a fresh event.
            self.changed.set()
            self.changed = asyncio.Event()
            if self.view is None:
                return


@dataclass
class _Streams:
    """The event streams this process has open: counted for the caps, and their shared polls."""

    per_session: Counter = field(default_factory=Counter)
    per_account: Counter = field(default_factory=Counter)
    watches: dict[tuple[int, int], _Watch] = field(default_factory=dict)

    def refusal(self, session: str, account_id: int) -> str | None:
        if self.per_session[session] >= MAX_STREAMS_PER_SESSION:
            return (f"at most {MAX_STREAMS_PER_SESSION} live status streams per browser session: "
                    "close another tab following a call")
        if self.per_account[account_id] >= MAX_STREAMS_PER_ACCOUNT:
            return f"at most {MAX_STREAMS_PER_ACCOUNT} live status streams per account"
        return None

    def open(self, p: Platform, session: str, account_id: int, request_id: int, view: dict) -> _Watch:
        self.per_session[session] += 1
        self.per_account[account_id] += 1
        key = (account_id, request_id)
        watch = self.watches.get(key)
        if watch is None:
            watch = self.watches[key] = _Watch(p, account_id, request_id, view)
            watch.task = asyncio.ensure_future(watch.poll())
        watch.streams += 1
        return watch

    def close(self, session: str, account_id: int, watch: _Watch) -> None:
        for counter, key in ((self.per_session, session), (self.per_account, account_id)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]
        watch.streams -= 1
        if watch.streams <= 0:
            watch.task.cancel()
            if self.watches.get((watch.account_id, watch.request_id)) is watch:
                del self.watches[(watch.account_id, watch.request_id)]


def streams_of(app) -> _Streams:
    streams = getattr(app.state, "live_streams", None)
    if streams is None:
        streams = app.state.live_streams = _Streams()
    return streams


class _LiveStream(StreamingResponse):
    """Gives its slot back however the response ends: finished, disconnected, or never started."""

    def __init__(self, content, release) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


@portal_page(api=True)
async def events(visit: Visit) -> Response:
    account_id, request_id = visit.account["id"], visit.request.path_params["request_id"]
    first = await snapshot(visit.p, account_id=account_id, request_id=request_id)
    if first is None:
        return _not_found()
    streams = streams_of(visit.request.app)
    # The session's CSRF token is its identity: new at each login, never shared between browsers.
    session = visit.session.csrf
    why = streams.refusal(session, account_id)
    if why:
        return JSONResponse({"error": {"code": "too_many_streams", "message": why}}, status_code=429,
                            headers={"Retry-After": "10"})
    watch = streams.open(visit.p, session, account_id, request_id, first)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            streams.close(session, account_id, watch)

    return _LiveStream(_stream(visit.request, watch, request_id, first), release)


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _stream(request: Request, watch: _Watch, request_id: int, view: dict | None):
    loop = asyncio.get_running_loop()
    started = last_sent = loop.time()
    over_since = None
    previous = None
    yield "retry: 2000\n\n"
    while view is not None:
        now = loop.time()
        if view != previous:
            yield _event("status", view)
            previous, last_sent = view, now
        elif now - last_sent >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = now
        if view["terminal"] and over_since is None:
            over_since = now
        if view["settled"] or (over_since is not None and now - over_since >= SETTLE_SECONDS) \
                or now - started >= MAX_STREAM_SECONDS:
            yield _event("end", {"id": request_id, "state": view["state"]})
            return
        if await request.is_disconnected():
            return
        # The next round of the shared poll (or a heartbeat's worth of nothing, if it stalls).
        try:
            await asyncio.wait_for(watch.changed.wait(), timeout=HEARTBEAT_SECONDS)
        except asyncio.TimeoutError:
            pass
        view = watch.view
