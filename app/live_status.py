"""A call's live status for the portal: a JSON snapshot, and the same pushed as Server-Sent Events.

The stream polls the database (the state lives there, written by whichever
instance got the webhook) and sends a snapshot whenever it changes, until the
request is over and every leg's CDR is written, or the browser goes away.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app import account_history, accounts, money, states
from app.db import utcnow
from app.platform import Platform
from app.portal_pages import Visit, portal_page
from twiml.prompts import text

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
# Once over, how long to wait for the last CDRs before ending the stream anyway.
SETTLE_SECONDS = 10.0
MAX_STREAM_SECONDS = 3600.0
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
    return view


def _not_found() -> JSONResponse:
    return JSONResponse({"error": {"code": "not_found", "message": "no such call in your account"}}, status_code=404)


@portal_page(api=True)
async def status_json(visit: Visit) -> Response:
    view = await snapshot(visit.p, account_id=visit.account["id"], request_id=visit.request.path_params["request_id"])
    return JSONResponse(view) if view is not None else _not_found()


@portal_page(api=True)
async def events(visit: Visit) -> Response:
    account_id, request_id = visit.account["id"], visit.request.path_params["request_id"]
    first = await snapshot(visit.p, account_id=account_id, request_id=request_id)
    if first is None:
        return _not_found()
    stream = _stream(visit.request, visit.p, account_id, request_id, first)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _stream(request: Request, p: Platform, account_id: int, request_id: int, view: dict | None):
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
        await asyncio.sleep(POLL_SECONDS)
        view = await snapshot(p, account_id=account_id, request_id=request_id)
