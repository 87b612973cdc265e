"""The website widget's public edge: its script, and the JSON endpoints it talks to under /widget/<key>/.

    GET  /widget.js                          the script an operator's page embeds (data-key = the widget's key)
    GET  /widget/<key>/challenge             how to prove oneself: {"code": bool, "pow": {challenge, bits} | null}
    POST /widget/<key>/visits                {"number", "challenge"?, "solution"?} -> {"token", "status"}
    POST /widget/<key>/visits/<token>/code   {"code"} -> {"status"}
    GET  /widget/<key>/visits/<token>        {"status": code_sent | queued | calling | connected | completed | failed}

CORS is the widget's own list of allowed origins: a request whose Origin is on it gets
Access-Control-Allow-Origin for that origin (and preflights are answered); any other origin, or none,
gets 403 and no CORS header at all, so neither a page elsewhere nor a script without a browser's Origin
gets through by default (a non-browser client can write any Origin: the limits, the proof-of-work and
the code are what hold it, app/fraud/widget_guard.py). No cookies are set or read, credentials are never
allowed, and nothing secret is in the page: the key only names the widget.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.calls import widget_requests
from app.calls.widget_requests import WidgetError
from app.core import request_origin
from app.data import widgets as widget_rows
from app.fraud import widget_guard
from app.web.api import ApiError, error_response, json_object, string_fields

log = logging.getLogger(__name__)

SCRIPT = (Path(__file__).resolve().parents[2] / "templates" / "widget" / "widget.js").read_text()
KEY = re.compile(r"[A-Za-z0-9_-]{8,32}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
METHODS = ("GET", "POST")
# A refusal's HTTP status. The account's own trouble (blocked, out of money) is not the visitor's business:
# they see the widget as unavailable.
STATUS = {"invalid_number": 422, "destination_blocked": 403, "rate_limited": 429, "pow_invalid": 403,
          "code_invalid": 422, "not_textable": 422, "not_found": 404, "unavailable": 503}
UNAVAILABLE = ("auth_failed", "insufficient_funds")


def origins(widget) -> set[str]:
    return {line.strip().lower() for line in (widget["allowed_origins"] or "").splitlines() if line.strip()}


def _cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def widget_endpoint(handler):
    """One endpoint under /widget/<key>/: the widget found (404), the origin checked (403), a preflight
    answered, errors as JSON, and the CORS headers on whatever an allowed origin gets."""

    async def endpoint(request: Request) -> Response:
        key = request.path_params["key"]
        p = request.app.state.platform
        widget = await widget_rows.get_by_key(p.db, public_key=key) if KEY.fullmatch(key) else None
        if widget is None or not widget["enabled"]:
            return error_response(404, "not_found", "no such widget", {"Vary": "Origin"})
        origin = request.headers.get("origin", "").strip().lower()
        if not origin or origin not in origins(widget):
            return error_response(403, "origin_not_allowed", "this widget may not be used from this site",
                                  {"Vary": "Origin"})
        headers = _cors_headers(origin)
        if request.method == "OPTIONS":
            return _preflight(request, headers)
        try:
            if request.method not in handler.methods:
                raise ApiError(405, "method_not_allowed", "method not allowed", {"Allow": ", ".join(handler.methods)})
            response = await handler(request, widget)
        except ApiError as exc:
            response = exc.response()
        except WidgetError as exc:
            if exc.reason in UNAVAILABLE:
                response = error_response(503, "unavailable", "calls cannot be placed right now; please try later")
            else:
                response = error_response(STATUS.get(exc.reason, 409), exc.reason, exc.message)
        except Exception:
            log.exception("widget %s %s failed", request.method, request.url.path)
            response = error_response(500, "internal_error", "something went wrong on our side; it has been logged")
        response.headers.update(headers)
        response.headers["Cache-Control"] = "no-store"
        return response

    return endpoint


def _preflight(request: Request, headers: dict[str, str]) -> Response:
    method = request.headers.get("access-control-request-method", "")
    asked = {h.strip().lower() for h in request.headers.get("access-control-request-headers", "").split(",")
             if h.strip()}
    if method not in METHODS or not asked <= {"content-type"}:
        return Response(status_code=403, headers={"Vary": "Origin"})
    return Response(status_code=204, headers={**headers, "Access-Control-Allow-Methods": ", ".join(METHODS),
                                              "Access-Control-Allow-Headers": "Content-Type",
                                              "Access-Control-Max-Age": "600"})


def methods(*names: str):
    def mark(handler):
        handler.methods = names
        return handler
    return mark


def _token(request: Request) -> str:
    token = request.path_params["token"]
    if not TOKEN.fullmatch(token):
        raise WidgetError("not_found", "no such request")
    return token


@methods("GET")
async def challenge(request: Request, widget) -> Response:
    p = request.app.state.platform
    pow_ = widget_guard.issue_challenge(p.secret_key, widget) if widget_requests.uses_pow(widget) else None
    return JSONResponse({"code": widget_requests.uses_code(widget), "pow": pow_})


@methods("POST")
async def submit(request: Request, widget) -> Response:
    p = request.app.state.platform
    fields = string_fields(await json_object(request), required={"number"}, optional={"challenge", "solution"},
                           max_length=200)
    if len(fields["number"]) > 40:
        raise ApiError(422, "invalid_number", "that is not a valid phone number")
    token, status = await widget_requests.submit(
        p, widget, raw_number=fields["number"], client_ip=request_origin.client_address(request)[:64],
        base_url=p.callback_base(request), challenge=fields.get("challenge"), solution=fields.get("solution"))
    return JSONResponse({"token": token, "status": status}, status_code=201)


@methods("POST")
async def code(request: Request, widget) -> Response:
    p = request.app.state.platform
    token = _token(request)
    fields = string_fields(await json_object(request), required={"code"}, optional=set(), max_length=12)
    status = await widget_requests.confirm(p, widget, token=token, code=fields["code"],
                                           base_url=p.callback_base(request))
    return JSONResponse({"status": status})


@methods("GET")
async def status(request: Request, widget) -> Response:
    visit = await widget_requests.find(request.app.state.platform, widget, _token(request))
    return JSONResponse({"status": widget_requests.public_status(visit)})


async def script(request: Request) -> Response:
    # Any page may load the script (it holds no secret); what it may then do is the widget's CORS list.
    return Response(SCRIPT, media_type="text/javascript", headers={
        "Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin"})


ALL = ["GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]
routes = [
    Route("/widget.js", script, methods=["GET"]),
    Route("/widget/{key}/challenge", widget_endpoint(challenge), methods=ALL),
    Route("/widget/{key}/visits", widget_endpoint(submit), methods=ALL),
    Route("/widget/{key}/visits/{token}/code", widget_endpoint(code), methods=ALL),
    Route("/widget/{key}/visits/{token}", widget_endpoint(status), methods=ALL),
]
