"""The subscriber portal: log in, Connect Two (now or scheduled), follow the call live, history, settings.

Server-rendered pages that work without JavaScript; a small script on the
call status card follows the call with Server-Sent Events (or polling).
"""

from __future__ import annotations

import hashlib
import re
import uuid

from starlette.responses import Response
from starlette.routing import Route

from app.data import account_history, accounts, call_recordings, callbacks
from app.calls import account_requests, cancellation
from app.web import api, live_status
from app.web.kit import signin as kit_signin
from app.web.portal import balance as portal_balance, history as portal_history, \
    phonebook as portal_phonebook, recordings as portal_recordings, settings as portal_settings
from app.core import schedule, security
from app.data.db import utcnow
from app.web.portal.pages import PORTAL, Visit, portal_page, safe_next

NONCE = re.compile(r"[A-Za-z0-9_-]{8,40}")
RECENT = 5


# Logging in and out: the web kit's sign-in (app/web/kit/signin.py), for accounts -------------------


async def _check_password(db, login: str, password: str, account):
    hashed = account["password_hash"] if account is not None else None
    return account if await security.verify_password_async(hashed, password) else None


SUBSCRIBERS = kit_signin.UserKind(
    channel="web", template="portal/login.html",
    named=lambda login, db: accounts.get_account_by_login(db, login=login),
    # Per address and per account; unknown logins are counted under their name.
    counted_as=lambda login, account: ({"account_id": account["id"]} if account is not None
                                       else {"name": f"login:{login}"}),
    check=_check_password)
login_page, login, logout = kit_signin.handlers(PORTAL, SUBSCRIBERS)


# The dashboard and Connect Two -------------------------------------------------


async def _dashboard(visit: Visit, *, status: int = 200, error: str | None = None, values: dict | None = None,
                     call_id: int | None = None) -> Response:
    p, account = visit.p, visit.account
    current = None
    if call_id is not None:
        current = await account_history.get_request(p.db, account_id=account["id"], request_id=call_id)
    if current is None:
        current = await account_history.latest_request(p.db, account_id=account["id"])
    call = await live_status.snapshot(p, account_id=account["id"], request_id=current["id"]) if current else None
    recent = await account_history.list_requests(p.db, account_id=account["id"], limit=RECENT)
    scheduled = [(row, schedule.utc_to_local(row["scheduled_at"], account["time_zone"]))
                 for row in await account_history.list_scheduled(p.db, account_id=account["id"])]
    prefill = visit.request.query_params.get("to", "")[:40]
    form = {"from": account["default_number"] or "", "to": prefill, "date": "", "time": ""}
    form.update(values or {})
    return visit.render("portal/dashboard.html", status=status, active="dashboard", call=call, recent=recent,
                        form=form, error=error, nonce_value=uuid.uuid4().hex, live=call is not None and call["live"],
                        scheduled=scheduled, today=schedule.utc_to_local(utcnow(), account["time_zone"]).date())


@portal_page()
async def dashboard(visit: Visit) -> Response:
    raw = visit.request.query_params.get("call", "")
    return await _dashboard(visit, call_id=int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else None)


@portal_page()
async def connect_two(visit: Visit) -> Response:
    p, account, form = visit.p, visit.account, visit.form
    values = {"from": form.get("from", "").strip()[:40], "to": form.get("to", "").strip()[:40],
              "date": form.get("date", "").strip()[:10], "time": form.get("time", "").strip()[:8]}
    at = None
    if values["date"] or values["time"]:
        # A date and a time on the subscriber's clock (the account's time zone), or neither: now.
        try:
            at = schedule.parse_local(values["date"], values["time"], account["time_zone"], utcnow())
        except schedule.BadTime as exc:
            return await _dashboard(visit, status=422, error=f"The time cannot be used: {exc}.", values=values)
    if not values["to"]:
        return await _dashboard(visit, status=422, error="Enter the number to call.", values=values)
    if not values["from"] and not account["default_number"]:
        return await _dashboard(visit, status=422, error="Enter your phone number (from is required).",
                                values=values)
    try:
        leg_a = account_requests.normalize(values["from"] or account["default_number"], account)
    except account_requests.Refused:
        return await _dashboard(visit, status=422, error="Your phone number is not a valid phone number.",
                                values=values)
    try:
        leg_b = account_requests.normalize(values["to"], account)
    except account_requests.Refused:
        return await _dashboard(visit, status=422, error="The number to call is not a valid phone number.",
                                values=values)
    # The form's one-time value makes a double-clicked submit one request, not two; the numbers are part of
    # the key, so the same form sent again (Back) with other numbers is another request.
    nonce = form.get("nonce", "")
    numbers = hashlib.sha256(f"{leg_a}>{leg_b}@{at}".encode()).hexdigest()[:8]
    trigger_id = f"{account['id']}:{nonce}:{numbers}" if NONCE.fullmatch(nonce) else uuid.uuid4().hex
    try:
        queued = await account_requests.request_callback(
            p, account=account, trigger_kind="web", trigger_id=trigger_id, leg_a=leg_a, destination=leg_b,
            base_url=p.callback_base(visit.request), requester=f"web:{account['login']}",
            notify_number=leg_a, at=at,
        )
    except account_requests.Refused as refused:
        message = refused.detail[:1].upper() + refused.detail[1:]
        if refused.number:
            message += f" ({refused.number})"
        return await _dashboard(visit, status=api.refusal_status(refused.reason), error=message + ".",
                                values=values)
    return visit.redirect(f"/?call={queued.request_id}")


# One call ----------------------------------------------------------------------


async def _own_request(visit: Visit):
    request_id = visit.request.path_params["request_id"]
    return await account_history.get_request(visit.p.db, account_id=visit.account["id"], request_id=request_id)


@portal_page()
async def call_page(visit: Visit) -> Response:
    row = await _own_request(visit)
    if row is None:
        return visit.error(404, "Not found", "There is no such call in your account.")
    events = await callbacks.list_events(visit.p.db, request_id=row["id"])
    call = await live_status.snapshot(visit.p, account_id=visit.account["id"], request_id=row["id"])
    recorded = await call_recordings.list_for_request(visit.p.db, account_id=visit.account["id"], request_id=row["id"])
    return visit.render("portal/call.html", active="history", call=call, events=events, live=call["live"],
                        recordings=recorded)


@portal_page()
async def cancel_call(visit: Visit) -> Response:
    row = await _own_request(visit)
    if row is None:
        return visit.error(404, "Not found", "There is no such call in your account.")
    try:
        await cancellation.cancel(visit.p, row)
    except cancellation.NotCancelable as exc:
        return visit.error(409, "Not canceled", f"This call cannot be canceled: {exc}.")
    return visit.redirect(safe_next(visit.form.get("next")) if visit.form.get("next") else f"/calls/{row['id']}")


routes = [
    Route("/", dashboard, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/calls", connect_two, methods=["POST"]),
    Route("/calls/{request_id:int}", call_page, methods=["GET"]),
    Route("/calls/{request_id:int}/cancel", cancel_call, methods=["POST"]),
    Route("/calls/{request_id:int}/status", live_status.status_json, methods=["GET"]),
    Route("/calls/{request_id:int}/events", live_status.events, methods=["GET"]),
    Route("/history", portal_history.history, methods=["GET"]),
    Route("/history.csv", portal_history.history_csv, methods=["GET"]),
    *portal_settings.routes,
    *portal_recordings.routes,
    *portal_balance.routes,
    *portal_phonebook.routes,
]
