"""Twilio's 2010-04-01 REST API for Calls, Messages and Recordings, as the SDK expects it.

Resource URIs in responses are relative to the API root (as Twilio's are to
https://api.twilio.com), so they stay right when the app is mounted under a
prefix: the SDK joins them to its own `base_url`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import errors
from .calls import API_VERSION, Call
from .clock import rfc2822
from .dialects import TWILIO, Dialect
from .errors import TwilioError
from .messages import Message
from .network import Network
from . import recordings as recording_media
from .sids import formatted, is_e164

logger = logging.getLogger("sandbox")

ROOT = "/2010-04-01/Accounts/{AccountSid}"
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
MAX_TIMEOUT = 600
DEFAULT_PAGE_SIZE = 50


def call_resource(call: Call, now: datetime | None = None, dialect: Dialect = TWILIO) -> dict:
    """The Call resource; `now` (the carrier's clock) decides whether the price has been rated yet."""
    base = f"{dialect.rest_prefix}/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}"
    subresources = {
        "notifications": "Notifications",
        "recordings": "Recordings",
        "payments": "Payments",
        "events": "Events",
        "siprec": "Siprec",
        "streams": "Streams",
        "transcriptions": "Transcriptions",
        "user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
        "user_defined_messages": "UserDefinedMessages",
    }
    queue = call.queue_seconds
    resource = {
        "account_sid": call.account_sid,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "direction": call.direction,
        "duration": str(call.duration) if call.ended else None,
        "end_time": rfc2822(call.end_time),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        "group_sid": None,
        "parent_call_sid": call.parent_sid,
        "phone_number_sid": call.phone_number_sid,
        "price": call.pricing.price(call, now),
        "price_unit": call.pricing.unit,
        "queue_time": str(round(queue * 1000)) if queue is not None else "0",
        "sid": call.sid,
        "start_time": rfc2822(call.start_time),
        "status": call.rest_status,
        "subresource_uris": {key: f"{base}/{name}.json" for key, name in subresources.items()},
        "to": call.to,
        "to_formatted": formatted(call.to),
        "trunk_sid": None,
        "uri": f"{base}.json",
    }
    if dialect.json_numbers:
        # SignalWire: the duration an integer, the charge a positive JSON number (0.014), not "-0.01400".
        resource["duration"] = call.duration if call.ended else None
        price = resource["price"]
        resource["price"] = abs(float(price)) if price is not None else None
    return resource


def message_resource(message: Message, prefix: str = "") -> dict:
    base = f"{prefix}/2010-04-01/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": str(len(message.media)),
        "num_segments": str(message.num_segments),
        "price": message.price,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
        "to": message.to,
        "uri": f"{base}.json",
    }


def rest_routes(carrier: Network) -> list[Route]:
    api = RestApi(carrier)
    root = carrier.dialect.rest_prefix + ROOT  # SignalWire's copy of the API lives under /api/laml
    return [
        Route(root + "/Calls.json", api.calls, methods=["GET", "POST"]),
        Route(root + "/Calls/{Sid}.json", api.call, methods=["GET", "POST", "DELETE"]),
        Route(root + "/Messages.json", api.messages, methods=["GET", "POST"]),
        Route(root + "/Messages/{Sid}.json", api.message, methods=["GET", "POST", "DELETE"]),
        Route(root + "/Recordings.json", api.recordings, methods=["GET"]),
        # {Sid}.json is the resource, {Sid}.wav and {Sid}.mp3 its media (Twilio: also without an extension, WAV).
        Route(root + "/Recordings/{Sid}.{Format}", api.recording, methods=["GET", "DELETE"]),
        Route(root + "/Recordings/{Sid}", api.recording, methods=["GET"]),
    ]


class RestApi:
    def __init__(self, carrier: Network) -> None:
        self.carrier = carrier
        self.prefix = carrier.dialect.rest_prefix

    def _now(self) -> datetime:
        return self.carrier.clock.now()

    async def calls(self, request: Request) -> Response:
        return await self._handle(request, self.create_call if request.method == "POST" else self.list_calls)

    async def call(self, request: Request) -> Response:
        handlers = {"POST": self.update_call, "DELETE": self.delete_call}
        return await self._handle(request, handlers.get(request.method, self.fetch_call))

    async def messages(self, request: Request) -> Response:
        return await self._handle(request, self.create_message if request.method == "POST" else self.list_messages)

    async def message(self, request: Request) -> Response:
        handlers = {"POST": self.update_message, "DELETE": self.delete_message}
        return await self._handle(request, handlers.get(request.method, self.fetch_message))

    async def recordings(self, request: Request) -> Response:
        return await self._handle(request, self.list_recordings)

    async def recording(self, request: Request) -> Response:
        fmt = request.path_params.get("Format", "wav")
        if fmt == "json":
            handler = self.delete_recording if request.method == "DELETE" else self.fetch_recording
        elif fmt in ("wav", "mp3") and request.method == "GET":
            handler = self.recording_media
        else:
            handler = self._no_such
        return await self._handle(request, handler)

    async def _no_such(self, request: Request) -> Response:
        raise _not_found(request)

    async def _handle(self, request: Request, handler) -> Response:
        try:
            self._authenticate(request)
            return await handler(request)
        except TwilioError as exc:
            return exc.response()
        except Exception as exc:  # the SDK must always see Twilio's error shape
            self.carrier.errors.append(exc)
            logger.exception("sandbox REST handler failed")
            return TwilioError(500, errors.INTERNAL_ERROR, "Internal Server Error").response()

    @staticmethod
    def _same(offered: str, expected: str) -> bool:
        # Constant time, and bytes: compare_digest raises TypeError on a non-ASCII str.
        return hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise TwilioError(401, errors.AUTHENTICATE, "Authenticate")
        try:
            username, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise TwilioError(401, errors.AUTHENTICATE, "Authenticate") from None
        carrier = self.carrier
        valid = (self._same(username, carrier.account_sid) and self._same(password, carrier.auth_token)) or (
            username in carrier.api_keys and self._same(password, carrier.api_keys[username])
        )
        if not valid:
            raise TwilioError(401, errors.AUTHENTICATE, "Authenticate")
        if request.path_params["AccountSid"] != carrier.account_sid:
            raise _not_found(request)

    async def _inject(self, operation: str) -> str | None:
        """Apply a drawn fault; returns "stall" when the request should hang."""
        fault = self.carrier.faults.draw(operation)
        if fault == "stall":
            return "stall"
        if fault is not None:
            raise errors.fault(int(fault))
        return None

    async def _stall_then(self, response: Response | None) -> Response:
        await self.carrier.stall(self.carrier.faults.stall_seconds)
        if response is not None:
            return response
        return errors.fault(503).response()

    # Calls

    async def create_call(self, request: Request) -> Response:
        form = await _form(request)
        to = form.get("To")
        from_ = form.get("From")
        if not to:
            raise TwilioError(400, errors.TO_MISSING, "A 'To' phone number is required.")
        if not is_e164(to):
            raise TwilioError(400, errors.TO_INVALID, f"The 'To' number {to} is not a valid phone number.")
        if not from_:
            raise TwilioError(400, errors.FROM_MISSING, "A 'From' phone number is required.")
        if not is_e164(from_):
            raise TwilioError(400, errors.FROM_INVALID, f"The 'From' number {from_} is not a valid phone number.")
        url, twiml = form.get("Url"), form.get("Twiml")
        if url is None and twiml is None:
            raise TwilioError(400, errors.URL_INVALID, "A 'Url' or 'Twiml' parameter is required.")
        if url is not None and twiml is None and not _is_url(url):
            raise TwilioError(400, errors.URL_INVALID, f"Url is not a valid URL: {url}")
        status_callback = form.get("StatusCallback") or None
        if status_callback and not _is_url(status_callback):
            raise TwilioError(400, errors.STATUS_CALLBACK_INVALID, f"StatusCallback is not a valid URL: {status_callback}")
        fallback_url = form.get("FallbackUrl") or None
        if fallback_url and not _is_url(fallback_url):
            raise TwilioError(400, errors.URL_INVALID, f"FallbackUrl is not a valid URL: {fallback_url}")
        events = {e for raw in form.getlist("StatusCallbackEvent") for e in raw.replace(",", " ").split()}
        unknown = events - set(CALL_EVENTS)
        if unknown:
            raise TwilioError(400, errors.INVALID_PARAMETER, f"StatusCallbackEvent has invalid value(s): {', '.join(sorted(unknown))}")
        machine_detection = form.get("MachineDetection")
        kwargs = dict(
            to=to,
            from_=from_,
            url=None if twiml is not None else url,
            twiml=twiml,
            method=_method(form, "Method"),
            fallback_url=fallback_url,
            fallback_method=_method(form, "FallbackMethod"),
            status_callback=status_callback,
            status_callback_events=events,
            status_callback_method=_method(form, "StatusCallbackMethod"),
            timeout=min(_integer(form, "Timeout", 60, minimum=1), MAX_TIMEOUT),
            time_limit=_integer(form, "TimeLimit", 14400, minimum=1),
            machine_detection=machine_detection if machine_detection in ("Enable", "DetectMessageEnd") else None,
        )
        if await self._inject("calls.create") == "stall":
            if not self.carrier.faults.timeout_creates:
                return await self._stall_then(None)
            call = self.carrier.create_call(**kwargs)
            return await self._stall_then(self._created(call))
        return self._created(self.carrier.create_call(**kwargs))

    def _created(self, call: Call) -> JSONResponse:
        return JSONResponse(call_resource(call, self._now(), self.carrier.dialect), status_code=201)

    async def list_calls(self, request: Request) -> Response:
        query = request.query_params
        calls = list(self.carrier.calls.values())
        for name, attribute in (("To", "to"), ("From", "from_"), ("ParentCallSid", "parent_sid")):
            if query.get(name):
                calls = [c for c in calls if getattr(c, attribute) == query[name]]
        if query.get("Status"):
            calls = [c for c in calls if c.rest_status == query["Status"]]
        calls.sort(key=lambda c: c.date_created, reverse=True)
        now = self._now()
        return _page(request, "calls", calls, lambda call: call_resource(call, now, self.carrier.dialect))

    async def fetch_call(self, request: Request) -> Response:
        return JSONResponse(call_resource(self._call(request), self._now(), self.carrier.dialect))

    async def update_call(self, request: Request) -> Response:
        call = self._call(request)
        form = await _form(request)
        status = form.get("Status")
        url, twiml = form.get("Url"), form.get("Twiml")
        if status is not None and status not in ("canceled", "completed"):
            raise TwilioError(400, errors.INVALID_PARAMETER, f"Status must be 'canceled' or 'completed', not {status!r}")
        if url is not None and twiml is None and not _is_url(url):
            raise TwilioError(400, errors.URL_INVALID, f"Url is not a valid URL: {url}")
        if form.get("StatusCallback"):
            call.status_callback = form["StatusCallback"]
            call.status_callback_method = _method(form, "StatusCallbackMethod")
        if status is not None:
            live = not call.ended
            # Twilio: 'canceled' only stops a call nobody answered yet; 'completed' hangs up either way.
            if live and (status == "completed" or call.status in ("queued", "initiated", "ringing")):
                self.carrier.end(call, status)
                await asyncio.wait([call.task], timeout=1.0)
        elif url is not None or twiml is not None:
            redirected = self.carrier.redirect(
                call, url=None if twiml is not None else url, method=_method(form, "Method"), twiml=twiml
            )
            if not redirected:
                raise TwilioError(400, errors.NOT_IN_PROGRESS, "Call is not in-progress. Cannot redirect.")
        call.date_updated = self.carrier.clock.now() if not call.ended else call.date_updated
        return JSONResponse(call_resource(call, self._now(), self.carrier.dialect))

    async def delete_call(self, request: Request) -> Response:
        call = self._call(request)
        if not call.ended:
            raise TwilioError(400, errors.NOT_IN_PROGRESS, "Cannot delete a call that is still in progress.")
        del self.carrier.calls[call.sid]
        return Response(status_code=204)

    def _call(self, request: Request) -> Call:
        sid = request.path_params["Sid"]
        call = self.carrier.calls.get(sid) if self.carrier.dialect.is_sid(sid, "CA") else None
        if call is None:
            raise _not_found(request)
        return call

    # Messages

    async def create_message(self, request: Request) -> Response:
        form = await _form(request)
        to = form.get("To")
        from_ = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body")
        media = tuple(form.getlist("MediaUrl"))
        if not to:
            raise TwilioError(400, errors.MESSAGE_TO_MISSING, "A 'To' phone number is required.")
        if not is_e164(to):
            raise TwilioError(400, errors.TO_INVALID, f"The 'To' number {to} is not a valid phone number.")
        if not from_ and not service:
            raise TwilioError(400, errors.MESSAGE_FROM_MISSING, "A 'From' phone number is required.")
        if from_ and not (is_e164(from_) or _is_sender_id(from_)):
            raise TwilioError(400, errors.FROM_INVALID, f"The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID.")
        if not body and not media:
            raise TwilioError(400, errors.BODY_MISSING, "Message body is required.")
        status_callback = form.get("StatusCallback") or None
        if status_callback and not _is_url(status_callback):
            raise TwilioError(400, errors.STATUS_CALLBACK_INVALID, f"StatusCallback is not a valid URL: {status_callback}")
        kwargs = dict(
            to=to,
            from_=from_,
            body=body or "",
            status_callback=status_callback,
            messaging_service_sid=service,
            media=media,
        )
        if await self._inject("messages.create") == "stall":
            if not self.carrier.faults.timeout_creates:
                return await self._stall_then(None)
            message = self.carrier.send_message(**kwargs)
            return await self._stall_then(JSONResponse(message_resource(message, self.prefix), status_code=201))
        message = self.carrier.send_message(**kwargs)
        return JSONResponse(message_resource(message, self.prefix), status_code=201)

    async def list_messages(self, request: Request) -> Response:
        query = request.query_params
        messages = list(self.carrier.messages.values())
        for name, attribute in (("To", "to"), ("From", "from_")):
            if query.get(name):
                messages = [m for m in messages if getattr(m, attribute) == query[name]]
        messages.sort(key=lambda m: m.date_created, reverse=True)
        return _page(request, "messages", messages, lambda message: message_resource(message, self.prefix))

    async def fetch_message(self, request: Request) -> Response:
        return JSONResponse(message_resource(self._message(request), self.prefix))

    async def update_message(self, request: Request) -> Response:
        message = self._message(request)
        form = await _form(request)
        if form.get("Body") == "":
            message.body = ""  # redaction
        if form.get("Status") == "canceled":
            if message.status not in ("queued", "accepted", "scheduled"):
                raise TwilioError(400, 30409, "Message cannot be canceled in its current state.")
            message.move("canceled", self.carrier.clock.now())
        return JSONResponse(message_resource(message, self.prefix))

    async def delete_message(self, request: Request) -> Response:
        message = self._message(request)
        del self.carrier.messages[message.sid]
        return Response(status_code=204)

    def _message(self, request: Request) -> Message:
        sid = request.path_params["Sid"]
        is_sid = self.carrier.dialect.is_sid
        message = self.carrier.messages.get(sid) if (is_sid(sid, "SM") or is_sid(sid, "MM")) else None
        if message is None:
            raise _not_found(request)
        return message


    # Recordings

    async def list_recordings(self, request: Request) -> Response:
        recordings = list(self.carrier.recordings.values())
        if request.query_params.get("CallSid"):
            recordings = [r for r in recordings if r.call_sid == request.query_params["CallSid"]]
        recordings.sort(key=lambda r: r.start_time, reverse=True)
        return _page(request, "recordings", recordings, lambda r: recording_media.resource(r, r.start_time))

    async def fetch_recording(self, request: Request) -> Response:
        recording = self._recording(request)
        return JSONResponse(recording_media.resource(recording, recording.start_time))

    async def delete_recording(self, request: Request) -> Response:
        recording = self._recording(request)
        self.carrier.delete_recording(recording.sid)
        return Response(status_code=204)

    async def recording_media(self, request: Request) -> Response:
        recording = self._recording(request)
        if recording.status != "completed":
            raise _not_found(request)
        if request.path_params.get("Format", "wav") == "mp3":
            return Response(recording_media.mp3(), media_type="audio/mpeg")
        return Response(recording_media.wav(recording.channels), media_type="audio/x-wav")

    def _recording(self, request: Request):
        sid = request.path_params["Sid"]
        recording = self.carrier.recordings.get(sid) if self.carrier.dialect.is_sid(sid, "RE") else None
        if recording is None:
            raise _not_found(request)
        return recording


async def _form(request: Request) -> FormData:
    # Parsed here rather than with request.form(): that needs python-multipart.
    body = (await request.body()).decode("utf-8", errors="replace")
    return FormData(parse_qsl(body, keep_blank_values=True))


def _page(request: Request, key: str, items: list, render) -> JSONResponse:
    query = request.query_params
    try:
        size = min(max(int(query.get("PageSize", DEFAULT_PAGE_SIZE)), 1), 1000)
        page = max(int(query.get("Page", 0)), 0)
    except ValueError:
        raise TwilioError(400, errors.INVALID_PARAMETER, "PageSize and Page must be integers") from None
    start = page * size
    chunk = items[start : start + size]
    path = request.url.path
    mount = request.scope.get("root_path", "")
    if mount and path.startswith(mount):
        path = path[len(mount) :]
    filters = [(k, v) for k, v in query.multi_items() if k not in ("PageSize", "Page", "PageToken")]

    def uri(number: int, token: str | None = None) -> str:
        params = filters + [("PageSize", str(size)), ("Page", str(number))]
        if token:
            params.append(("PageToken", token))
        return f"{path}?{urlencode(params)}"

    has_next = start + size < len(items)
    prefix = key[:2].upper()
    return JSONResponse(
        {
            key: [render(item) for item in chunk],
            "end": start + len(chunk) - 1 if chunk else start,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, f"PA{prefix}{chunk[-1].sid}") if has_next else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1, f"PB{prefix}{chunk[0].sid}") if page > 0 and chunk else None,
            "start": start,
            "uri": uri(page),
        }
    )


def _not_found(request: Request) -> TwilioError:
    path = request.url.path
    mount = request.scope.get("root_path", "")
    if mount and path.startswith(mount):
        path = path[len(mount) :]
    return TwilioError(404, errors.NOT_FOUND, f"The requested resource {path} was not found")


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_sender_id(value: str) -> bool:
    # Alphanumeric sender IDs: up to 11 characters, at least one letter.
    return 1 <= len(value) <= 11 and any(c.isalpha() for c in value) and all(c.isalnum() or c in " -_." for c in value)


def _method(form: FormData, name: str) -> str:
    value = (form.get(name) or "POST").upper()
    if value not in ("GET", "POST"):
        raise TwilioError(400, errors.INVALID_PARAMETER, f"{name} must be GET or POST, not {value!r}")
    return value


def _integer(form: FormData, name: str, default: int, minimum: int = 0) -> int:
    raw = form.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioError(400, errors.INVALID_PARAMETER, f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise TwilioError(400, errors.INVALID_PARAMETER, f"{name} must be at least {minimum}")
    return value

