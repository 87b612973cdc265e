"""Telnyx's REST API, as much of it as a TeXML application uses: TeXML calls and the Messaging API.

Served under `/v2` (so the application's TELNYX_API_BASE is the carrier's URL
plus `/v2`, as Telnyx's is https://api.telnyx.com/v2), with Bearer auth by
the carrier's `auth_token` (the API key). Bodies are checked as strictly as
the published reference describes them: unknown or malformed parameters are
a 422 with Telnyx's error shape, so the application cannot drift from it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .calls import Call
from .clock import rfc2822
from .network import Network
from .sids import formatted, is_e164

logger = logging.getLogger("sandbox")

CALLS = "/v2/texml/Accounts/{account_sid}/Calls"
EVENTS = ("initiated", "ringing", "answered", "completed")
RING_SECONDS = 30  # the TeXML application's ring timeout: TeXML's create call takes none
CREATE_CALL = {"ApplicationSid", "To", "From", "CallerId", "Url", "UrlMethod", "FallbackUrl", "StatusCallback",
               "StatusCallbackMethod", "StatusCallbackEvent", "MachineDetection", "DetectionMode", "AsyncAmd",
               "Record"}
UPDATE_CALL = {"Status", "Url", "Method", "Texml", "StatusCallback", "StatusCallbackMethod"}
SEND_MESSAGE = {"to", "from", "text", "messaging_profile_id", "media_urls", "subject", "type", "auto_detect",
                "use_profile_webhooks", "webhook_url", "webhook_failover_url"}


class TelnyxError(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.code, self.title, self.detail = status, code, title, detail or title

    def response(self) -> JSONResponse:
        return JSONResponse({"errors": [{"code": self.code, "title": self.title, "detail": self.detail}]},
                            status_code=self.status)


def _invalid(detail: str) -> TelnyxError:
    return TelnyxError(422, "10015", "Invalid parameter", detail)


FAULTS = {429: ("10011", "Too many requests"), 500: ("10007", "Unexpected error"), 503: ("10008", "Service unavailable")}


def call_resource(call: Call, account_sid: str, now: datetime) -> dict:
    """TeXML's call resource (Twilio's names; `v3:` sids; direction inbound or outbound)."""
    return {
        "account_sid": account_sid,
        "answered_by": {"human": "human"}.get(call.answered_by or "", "machine" if call.answered_by else None),
        "caller_name": call.from_,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "direction": "inbound" if call.direction == "inbound" else "outbound",
        "duration": str(call.duration) if call.ended else None,
        "end_time": rfc2822(call.end_time),
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        "price": call.pricing.price(call, now),
        "price_unit": call.pricing.unit,
        "sid": call.sid,
        "start_time": rfc2822(call.start_time),
        "status": call.rest_status,
        "to": call.to,
        "to_formatted": formatted(call.to),
        "uri": f"/v2/texml/Accounts/{account_sid}/Calls/{call.sid}.json",
    }


def telnyx_rest_routes(carrier: Network) -> list[Route]:
    api = TelnyxApi(carrier)
    return [
        Route(CALLS, api.calls, methods=["POST"]),
        Route(CALLS + "/{call_sid}", api.call, methods=["GET", "POST"]),
        Route("/v2/messages", api.messages, methods=["POST"]),
    ]


class TelnyxApi:
    def __init__(self, carrier: Network) -> None:
        self.carrier = carrier

    async def calls(self, request: Request) -> Response:
        return await self._handle(request, self.create_call)

    async def call(self, request: Request) -> Response:
        return await self._handle(request, self.update_call if request.method == "POST" else self.fetch_call)

    async def messages(self, request: Request) -> Response:
        return await self._handle(request, self.send_message)

    async def _handle(self, request: Request, handler) -> Response:
        try:
            self._authenticate(request)
            return await handler(request)
        except TelnyxError as exc:
            return exc.response()
        except Exception as exc:  # the client must always see Telnyx's error shape
            self.carrier.errors.append(exc)
            logger.exception("sandbox Telnyx handler failed")
            return TelnyxError(500, "10007", "Unexpected error").response()

    def _authenticate(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        offered = key.strip().encode("utf-8", "surrogatepass")
        if scheme.lower() != "bearer" or not hmac.compare_digest(offered, self.carrier.auth_token.encode()):
            raise TelnyxError(401, "10009", "Authentication failed", "The API key is missing or not valid.")
        account = request.path_params.get("account_sid")
        if account is not None and account != self.carrier.account_sid:
            raise TelnyxError(404, "10005", "Resource not found", f"No account {account}.")

    async def _inject(self, operation: str):
        fault = self.carrier.faults.draw(operation)
        if fault == "stall":
            await self.carrier.stall(self.carrier.faults.stall_seconds)
            return TelnyxError(503, *FAULTS[503])
        if fault is not None:
            code, title = FAULTS.get(int(fault), FAULTS[500])
            return TelnyxError(int(fault), code, title)
        return None

    async def _json(self, request: Request, known: set[str]) -> dict:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise TelnyxError(415, "10015", "Unsupported media type", "Send application/json.")
        try:
            body = json.loads(await request.body())
        except (UnicodeDecodeError, ValueError):
            raise _invalid("The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _invalid("The body must be a JSON object.")
        unknown = set(body) - known
        if unknown:
            raise _invalid(f"Unknown parameters: {', '.join(sorted(unknown))}.")
        self.carrier.api_log.append((request.url.path, body))
        return body

    # TeXML calls

    async def create_call(self, request: Request) -> Response:
        body = await self._json(request, CREATE_CALL)
        for name in ("ApplicationSid", "To", "From"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise _invalid(f"{name} is required.")
        if body["ApplicationSid"] != self.carrier.application_id:
            raise TelnyxError(422, "10015", "Invalid parameter", "ApplicationSid is not a TeXML application of yours.")
        for name in ("To", "From"):
            if not is_e164(body[name]):
                raise _invalid(f"{name} must be a + and country code phone number.")
        for name in ("UrlMethod", "StatusCallbackMethod"):
            if name in body and body[name] not in ("GET", "POST"):
                raise _invalid(f"{name} must be GET or POST.")
        events = str(body.get("StatusCallbackEvent") or "completed").split(" ")
        if not isinstance(body.get("StatusCallbackEvent", ""), str) or set(events) - set(EVENTS):
            raise _invalid("StatusCallbackEvent is initiated, ringing, answered or completed, space-separated.")
        detection = body.get("MachineDetection", "Disable")
        if detection not in ("Enable", "Disable", "DetectMessageEnd"):
            raise _invalid("MachineDetection must be Enable, Disable or DetectMessageEnd.")
        if not isinstance(body.get("Url"), str) or not body["Url"].startswith(("http://", "https://")):
            raise _invalid("Url is required here: the sandbox's TeXML application has no XML request URL.")
        fault = await self._inject("calls.create")
        if fault is not None:
            raise fault
        self.carrier.create_call(
            to=body["To"], from_=body["From"], url=body["Url"], method=body.get("UrlMethod", "POST"),
            fallback_url=body.get("FallbackUrl"), status_callback=body.get("StatusCallback"),
            status_callback_events=set(events), status_callback_method=body.get("StatusCallbackMethod", "POST"),
            timeout=RING_SECONDS, machine_detection=None if detection == "Disable" else detection,
        )
        # As documented: the queued call's numbers and status, without its id (its webhooks carry CallSid).
        return JSONResponse({"from": body["From"], "to": body["To"], "status": "queued"})

    def _call(self, request: Request) -> Call:
        call = self.carrier.calls.get(request.path_params["call_sid"])
        if call is None:
            raise TelnyxError(404, "10005", "Resource not found", "The requested call does not exist.")
        return call

    async def fetch_call(self, request: Request) -> Response:
        call = self._call(request)
        return JSONResponse(call_resource(call, self.carrier.account_sid, self.carrier.clock.now()))

    async def update_call(self, request: Request) -> Response:
        call = self._call(request)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise TelnyxError(415, "10015", "Unsupported media type", "Send a form-encoded body.")
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        unknown = set(form) - UPDATE_CALL
        if unknown:
            raise _invalid(f"Unknown parameters: {', '.join(sorted(unknown))}.")
        self.carrier.api_log.append((request.url.path, form))
        status = form.get("Status")
        if status is not None and status not in ("completed", "canceled"):
            raise _invalid("Status must be completed or canceled.")
        if status is not None and not call.ended:
            if status == "completed" or call.status in ("queued", "initiated", "ringing"):
                self.carrier.end(call, status)
                await asyncio.wait([call.task], timeout=1.0)
        return JSONResponse(call_resource(call, self.carrier.account_sid, self.carrier.clock.now()))

    # Messaging

    async def send_message(self, request: Request) -> Response:
        body = await self._json(request, SEND_MESSAGE)
        to, from_, text = body.get("to"), body.get("from"), body.get("text")
        if not isinstance(to, str) or not is_e164(to):
            raise TelnyxError(422, "40310", "Invalid 'to' address", "'to' must be a + and country code number.")
        if not isinstance(from_, str) or not from_:
            raise TelnyxError(422, "40305", "Invalid 'from' address", "'from' is required with a phone number.")
        if not isinstance(text, str) or not text:
            raise _invalid("'text' is required for SMS.")
        fault = await self._inject("messages.create")
        if fault is not None:
            raise fault
        message = self.carrier.send_message(to=to, from_=from_, body=text)
        return JSONResponse({"data": {
            "id": message.sid, "record_type": "message", "direction": "outbound", "type": "SMS",
            "from": {"phone_number": from_, "carrier": "Telnyx", "line_type": "Wireless"},
            "to": [{"phone_number": to, "status": "queued", "carrier": "Sandbox", "line_type": "Wireless"}],
            "text": text, "parts": 1, "errors": [],
        }})
