"""The REST API for integrators, under /api/v1 (described by app/web/api_schema.py).

Bearer tokens, JSON in and out, and every error as `{"error": {"code", "message"}}`
with its status: a handler raises ApiError, and `resource` turns it (or any
surprise, as a 500 without a traceback) into the response.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.data import account_history, accounts, rates
from app.data import phonebook as phonebook_queries
from app.calls import account_requests, cancellation, phonebook, vouchers
from app.web import api_schema
from app.core import money, schedule, voucher_codes
from app.core.numbers import ascii_int
from app.data.db import utcnow
from app.web.kit.pages import templates

log = logging.getLogger(__name__)

PREFIX = api_schema.PREFIX
MAX_BODY = 8 * 1024
MAX_TOKEN = 256
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,50}")
REALM = 'Bearer realm="callback-platform"'
# Every path answers every common method, so a wrong one gets a JSON 405 with Allow.
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# A refused request's reason as an HTTP status; reasons added later fall back to 409.
REFUSAL_STATUS = {"insufficient_funds": 402, "destination_blocked": 403, "auth_failed": 403, "rate_limited": 429,
                  "invalid_number": 422, "unavailable": 503}


def refusal_status(reason: str) -> int:
    return REFUSAL_STATUS.get(reason, 409)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


# Input -------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who a token speaks for: its account (None for an operator's token) and what it may do."""

    token_id: int
    name: str
    scopes: frozenset[str]
    account: Any = None


async def caller(request: Request) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send your API token as 'Authorization: Bearer <token>'",
                       {"WWW-Authenticate": REALM})
    db = request.app.state.platform.db
    account = operator = None
    if len(token) <= MAX_TOKEN and token.isascii() and token.isprintable():
        account = await accounts.authenticate_token(db, token=token)
        if account is None:
            operator = await accounts.operator_token(db, token=token)
    if operator is not None:
        return Caller(operator["id"], operator["name"], frozenset(operator["scopes"].split()))
    if account is None:
        raise ApiError(401, "invalid_token", "that token is unknown or revoked",
                       {"WWW-Authenticate": REALM + ', error="invalid_token"'})
    if account["status"] != "active":
        # A blocked account's tokens open nothing, reads included, until the operator unblocks it
        # (the refusal a blocked account's new callback always met).
        raise ApiError(403, "auth_failed", "this account is blocked; ask the operator")
    return Caller(account["token_id"], account["token_name"], frozenset(account["token_scopes"].split()), account)


def require(who: Caller, scope: str) -> None:
    if scope not in who.scopes:
        raise ApiError(403, "insufficient_scope", f"this token does not have the '{scope}' scope",
                       {"WWW-Authenticate": REALM + f', error="insufficient_scope", scope="{scope}"'})


async def authenticate(request: Request):
    """The account of a token with the `account` scope (every token made before scopes has it)."""
    who = await caller(request)
    require(who, "account")
    return who.account


async def json_object(request: Request) -> dict:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length", "")
    if (ascii_int(declared) or 0) > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "the body must be a JSON object")
    return data


def string_fields(data: dict, *, required: set[str], optional: set[str], max_length: int = 40) -> dict:
    """The body's fields, each a string (optional ones may be null); anything else is a 422."""
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown field(s): {', '.join(unknown)[:200]}")
    for name in sorted(required):
        if name not in data:
            raise ApiError(422, "missing_field", f"'{name}' is required")
    values = {}
    for name, value in data.items():
        if value is None and name in optional:
            continue
        if not isinstance(value, str):
            raise ApiError(422, "invalid_field", f"'{name}' must be a string")
        if len(value) > max_length or (name in required and not value.strip()):
            raise ApiError(422, "invalid_field", f"'{name}' must be 1 to {max_length} characters")
        values[name] = value.strip()
    return values


def _id(request: Request) -> int:
    request_id = request.path_params["request_id"]
    if not account_history.valid_id(request_id):
        raise ApiError(404, "not_found", "no such callback")
    return request_id


def _number(raw: str, account, field: str) -> str:
    try:
        return account_requests.normalize(raw, account)
    except account_requests.Refused:
        raise ApiError(422, "invalid_number", f"'{field}' is not a valid phone number") from None


def _scheduled_time(raw: str):
    try:
        return schedule.check_window(schedule.parse_rfc3339(raw), utcnow())
    except schedule.BadTime as exc:
        raise ApiError(422, "invalid_time", str(exc)) from None


# Handlers ------------------------------------------------------------------------


async def _callback(request: Request, account, request_id: int) -> dict:
    db = request.app.state.platform.db
    row = await account_history.get_request(db, account_id=account["id"], request_id=request_id)
    if row is None:
        raise ApiError(404, "not_found", "no such callback")
    (row, legs), = await account_history.with_legs(db, account_id=account["id"], rows=[row])
    return account_history.callback_view(row, legs, account["currency"])


async def create_callback(request: Request, account) -> Response:
    p = request.app.state.platform
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(400, "invalid_idempotency_key", "an Idempotency-Key is 1 to 50 visible ASCII characters")
    body = string_fields(await json_object(request), required={"to"}, optional={"from", "at"})
    if not body.get("from") and not account["default_number"]:
        raise ApiError(422, "from_required", "'from' is required: the account has no default number")
    leg_a = _number(body.get("from") or account["default_number"], account, "from")
    leg_b = _number(body["to"], account, "to")
    at = _scheduled_time(body["at"]) if body.get("at") else None
    try:
        queued = await account_requests.request_callback(
            p, account=account, trigger_kind="api", trigger_id=f"{account['id']}:{key}" if key else uuid.uuid4().hex,
            leg_a=leg_a, destination=leg_b, base_url=p.callback_base(request),
            requester=f"api:{account['login']}", notify_number=leg_a, at=at,
        )
    except account_requests.Refused as refused:
        message = refused.detail + (f": {refused.number}" if refused.number else "")
        raise ApiError(refusal_status(refused.reason), refused.reason, message) from None
    view = await _callback(request, account, queued.request_id)
    if not queued.created and (view["from"], view["to"]) != (leg_a, leg_b):
        raise ApiError(409, "idempotency_conflict", "that Idempotency-Key was used for a different callback")
    return JSONResponse(view, status_code=201 if queued.created else 200,
                        headers={"Location": f"{PREFIX}/callbacks/{queued.request_id}"})


async def list_callbacks(request: Request, account) -> Response:
    params = request.query_params
    raw_limit, cursor = params.get("limit", "20"), params.get("cursor")
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= 100):
        raise ApiError(400, "invalid_parameter", "'limit' is an integer from 1 to 100")
    before = None
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 10 and account_history.valid_id(int(cursor))):
            raise ApiError(400, "invalid_parameter", "'cursor' is the next_cursor of a previous page")
        before = int(cursor)
    db = request.app.state.platform.db
    scheduled = params.get("scheduled")
    if scheduled not in (None, "true", "false"):
        raise ApiError(400, "invalid_parameter", "'scheduled' is true or false")
    if scheduled == "true":
        # The scheduled callbacks still waiting for their time, soonest first: one page holds them all.
        rows = await account_history.list_scheduled(db, account_id=account["id"], limit=account_requests.MAX_SCHEDULED)
        data = [account_history.callback_view(row, legs, account["currency"])
                for row, legs in await account_history.with_legs(db, account_id=account["id"], rows=rows)]
        return JSONResponse({"data": data, "next_cursor": None})
    rows = await account_history.list_requests(db, account_id=account["id"], before_id=before, limit=int(raw_limit))
    data = [account_history.callback_view(row, legs, account["currency"])
            for row, legs in await account_history.with_legs(db, account_id=account["id"], rows=rows)]
    more = bool(rows) and await account_history.has_older(db, account_id=account["id"], than_id=rows[-1]["id"])
    return JSONResponse({"data": data, "next_cursor": str(rows[-1]["id"]) if more else None})


async def get_callback(request: Request, account) -> Response:
    return JSONResponse(await _callback(request, account, _id(request)))


async def cancel_callback(request: Request, account) -> Response:
    p = request.app.state.platform
    row = await account_history.get_request(p.db, account_id=account["id"], request_id=_id(request))
    if row is None:
        raise ApiError(404, "not_found", "no such callback")
    try:
        await cancellation.cancel(p, row)
    except cancellation.NotCancelable as exc:
        raise ApiError(409, "not_cancelable", str(exc)) from None
    return JSONResponse(await _callback(request, account, row["id"]))


async def get_account(request: Request, account) -> Response:
    anis = await accounts.list_anis(request.app.state.platform.db, account_id=account["id"])
    return JSONResponse({
        "login": account["login"], "status": account["status"],
        "balance": money.format_amount(account["balance"], account["currency"]), "balance_minor": account["balance"],
        "currency": account["currency"], "country": account["country"], "language": account["language"],
        "default_number": account["default_number"], "anis": anis,
    })


async def redeem_voucher(request: Request, account) -> Response:
    p = request.app.state.platform
    body = string_fields(await json_object(request), required={"code"}, optional=set(),
                         max_length=voucher_codes.MAX_TYPED)
    outcome = await vouchers.redeem(p, account=account, typed=body["code"], channel="api",
                                    requester=f"api:{account['login']}")
    if outcome == vouchers.LOCKED:
        raise ApiError(429, "voucher_locked", "too many wrong voucher codes; try again in an hour",
                       {"Retry-After": "3600"})
    if not isinstance(outcome, vouchers.Credited):
        # One answer for unknown, used, expired, disabled and wrong-currency codes alike.
        raise ApiError(422, "voucher_invalid", "that voucher code is not valid")
    currency = account["currency"]
    return JSONResponse({"amount": money.format_amount(outcome.value, currency), "amount_minor": outcome.value,
                         "balance": money.format_amount(outcome.balance, currency),
                         "balance_minor": outcome.balance, "currency": currency})


async def get_rate(request: Request, account) -> Response:
    raw = request.query_params.get("number")
    if not raw or not raw.strip():
        raise ApiError(400, "missing_parameter", "give ?number=<phone number>")
    if len(raw) > 40:
        raise ApiError(422, "invalid_number", "'number' is not a valid phone number")
    if raw.startswith(" ") and raw.strip().isdigit():
        raw = "+" + raw.strip()  # an unencoded "+" in a query string arrives as a space
    number = _number(raw, account, "number")
    rate = await rates.find_rate(request.app.state.platform.db, number=number, tariff=account["tariff"])
    if rate is None:
        raise ApiError(404, "no_rate", f"calls to {number} are not available")
    return JSONResponse({
        "number": number, "prefix": rate.prefix, "price_per_minute": money.format_price(rate.price_per_minute),
        "price_per_minute_micros": rate.price_per_minute, "currency": account["currency"],
        "first_increment": rate.first_increment, "next_increment": rate.next_increment,
    })


# The phonebook (speed dials) -------------------------------------------------------


def _entry_view(row) -> dict:
    return {"id": row["id"], "name": row["name"], "number": row["number"], "code": row["code"],
            "created_at": account_history.iso(row["created_at"]), "updated_at": account_history.iso(row["updated_at"])}


async def _entry_values(request: Request, account) -> phonebook.Entry:
    data = await json_object(request)
    body = string_fields(data, required={"name", "number"}, optional={"code"}, max_length=phonebook.MAX_NAME)
    try:
        return phonebook.entry(account, name=body["name"], number=body["number"], code=body.get("code"))
    except phonebook.EntryError as exc:
        code = "invalid_number" if exc.field == "number" else "invalid_field"
        raise ApiError(422, code, f"'{exc.field}': {exc}") from None


def _entry_id(request: Request) -> int:
    entry_id = request.path_params["entry_id"]
    if not account_history.valid_id(entry_id):
        raise ApiError(404, "not_found", "no such phonebook entry")
    return entry_id


async def list_phonebook(request: Request, account) -> Response:
    rows = await phonebook_queries.list_entries(request.app.state.platform.db, account_id=account["id"])
    return JSONResponse({"data": [_entry_view(row) for row in rows]})


async def create_entry(request: Request, account) -> Response:
    db = request.app.state.platform.db
    values = await _entry_values(request, account)
    try:
        entry_id = await phonebook.add(db, account, values)
    except phonebook.EntryError as exc:
        raise ApiError(409, "code_taken" if exc.field == "code" else "phonebook_full", str(exc)) from None
    row = await phonebook_queries.get_entry(db, account_id=account["id"], entry_id=entry_id)
    return JSONResponse(_entry_view(row), status_code=201, headers={"Location": f"{PREFIX}/phonebook/{entry_id}"})


async def get_entry(request: Request, account) -> Response:
    row = await phonebook_queries.get_entry(request.app.state.platform.db, account_id=account["id"],
                                            entry_id=_entry_id(request))
    if row is None:
        raise ApiError(404, "not_found", "no such phonebook entry")
    return JSONResponse(_entry_view(row))


async def replace_entry(request: Request, account) -> Response:
    db, entry_id = request.app.state.platform.db, _entry_id(request)
    values = await _entry_values(request, account)
    try:
        changed = await phonebook.change(db, account, entry_id, values)
    except phonebook.EntryError as exc:
        raise ApiError(409, "code_taken", str(exc)) from None
    if not changed:
        raise ApiError(404, "not_found", "no such phonebook entry")
    return JSONResponse(_entry_view(await phonebook_queries.get_entry(db, account_id=account["id"], entry_id=entry_id)))


async def delete_entry(request: Request, account) -> Response:
    if not await phonebook_queries.delete_entry(request.app.state.platform.db, account_id=account["id"],
                                                entry_id=_entry_id(request)):
        raise ApiError(404, "not_found", "no such phonebook entry")
    return Response(status_code=204)


async def openapi(request: Request, account) -> Response:
    return JSONResponse(api_schema.document(request.scope.get("root_path", "") + PREFIX))


def inline_code(text: str) -> Markup:
    """The document's `backticks` as <code> on the docs page."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


templates.env.filters["code"] = inline_code


async def docs(request: Request, account) -> Response:
    context = {"operations": api_schema.operations(), "info": api_schema.DOCUMENT["info"],
               "root": request.scope.get("root_path", ""), "prefix": PREFIX}
    return templates.TemplateResponse(request, "api_docs.html", context)


async def not_found(request: Request, account) -> Response:
    raise ApiError(404, "not_found", "no such API route; see /api/v1/docs")


# Routing -----------------------------------------------------------------------


def resource(handlers: dict, *, public: bool = False, auth=authenticate):
    """One path's endpoint: picks the handler by method (405 with Allow otherwise), authenticates (`auth`:
    the account of an `account`-scoped token by default), maps errors."""
    allowed = sorted(set(handlers) | ({"HEAD"} if "GET" in handlers else set()))

    async def endpoint(request: Request) -> Response:
        try:
            handler = handlers.get("GET" if request.method == "HEAD" else request.method)
            if handler is None and "*" in handlers:
                handler = handlers["*"]
            if handler is None:
                raise ApiError(405, "method_not_allowed", f"{request.method[:10]} is not allowed here",
                               {"Allow": ", ".join(allowed)})
            account = None if public else await auth(request)
            return await handler(request, account)
        except ApiError as exc:
            return exc.response()
        except Exception:
            log.exception("API %s %s failed", request.method, request.url.path)
            return error_response(500, "internal_error", "something went wrong on our side; it has been logged")

    endpoint.handlers = handlers  # what the OpenAPI test compares with the document
    return endpoint


routes = [
    Route(PREFIX + "/openapi.json", resource({"GET": openapi}, public=True), methods=METHODS),
    Route(PREFIX + "/docs", resource({"GET": docs}, public=True), methods=METHODS),
    Route(PREFIX + "/callbacks", resource({"GET": list_callbacks, "POST": create_callback}), methods=METHODS),
    Route(PREFIX + "/callbacks/{request_id:int}", resource({"GET": get_callback}), methods=METHODS),
    Route(PREFIX + "/callbacks/{request_id:int}/cancel", resource({"POST": cancel_callback}), methods=METHODS),
    Route(PREFIX + "/account", resource({"GET": get_account}), methods=METHODS),
    Route(PREFIX + "/account/vouchers", resource({"POST": redeem_voucher}), methods=METHODS),
    Route(PREFIX + "/rates", resource({"GET": get_rate}), methods=METHODS),
    Route(PREFIX + "/phonebook", resource({"GET": list_phonebook, "POST": create_entry}), methods=METHODS),
    Route(PREFIX + "/phonebook/{entry_id:int}", resource({"GET": get_entry, "PUT": replace_entry,
                                                          "DELETE": delete_entry}), methods=METHODS),
    Route(PREFIX + "/{rest:path}", resource({"*": not_found}, public=True), methods=METHODS),
]
