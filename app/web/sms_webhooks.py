"""Incoming texts: the provider's SMS webhook and the SMS gateway endpoint.

`/sms/gateway` serves SMS gateway apps on a phone and SMS providers that
forward texts to a URL. It speaks SMSSync's protocol (the open-source Android
gateway): the reply rides back in `payload.messages`, and texts queued later
(failure notices) are handed out when the app polls with `GET ?task=send`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.calls import texts as sms
from app.core.ids import MAX_LENGTH as MAX_ID_LENGTH, is_provider_id
from app.core.keys import stored_key
from app.data import sms_log
from app.providers import twilio_events
from app.providers.events import IncomingText
from app.providers.signatures import MAX_BODY, read_form, signed_form
from twiml import messaging

MAX_TEXT = 1600


def _error(status: int, code: str, message: str) -> JSONResponse:
    # `payload` keeps SMSSync from retrying forever; `error` is for everyone else.
    return JSONResponse({"error": {"code": code, "message": message},
                         "payload": {"success": False, "error": message}}, status_code=status)


async def twilio_sms(request: Request) -> Response:
    p = request.app.state.platform
    form = await signed_form(request, request.app.state.webhooks, p.callback_base(request))
    text = twilio_events.incoming_text(form, base_url=p.callback_base(request), max_length=MAX_TEXT)
    sid = text.message_id
    # The trigger id is "<source>:<id>" in a 64-character column.
    if not is_provider_id(sid, max_length=MAX_ID_LENGTH - len(text.source) - 1):
        raise HTTPException(400, "MessageSid is required")
    reply = await sms.handle_text(p, text)
    return Response(messaging.reply(reply.body if reply and reply.deliver else None), media_type="application/xml")


# Gateways post flat objects of strings: anything nested deeper than this is not
# one, and is refused while it streams in (json.loads would recurse on it).
MAX_JSON_DEPTH = 8
_JSON_SYNTAX = re.compile(rb'["\\{}\[\]]')


class _Nesting:
    """How deep a JSON text nests, fed chunk by chunk as it arrives (strings skipped)."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False  # the chunk before ended on a backslash inside a string

    def feed(self, chunk: bytes) -> None:
        pos = 1 if self.escaped else 0
        self.escaped = False
        while (found := _JSON_SYNTAX.search(chunk, pos)) is not None:
            char, pos = found.group(), found.end()
            if self.in_string:
                if char == b"\\":
                    if pos >= len(chunk):
                        self.escaped = True
                        return
                    pos += 1
                elif char == b'"':
                    self.in_string = False
            elif char == b'"':
                self.in_string = True
            elif char in (b"{", b"["):
                self.depth += 1
                if self.depth > MAX_JSON_DEPTH:
                    raise HTTPException(400, "JSON nested too deeply: send a flat object of strings")
            else:
                self.depth -= 1


async def _bounded_json(request: Request) -> bytes:
    """The body, read as it streams in: never more than MAX_BODY bytes held, nor too deep a nesting.

    Nesting is checked before size, on the part within the limit: a deep
    nesting is refused as what it is (400), however long it would have gone on.
    """
    nesting = _Nesting()
    chunks, size = [], 0
    async for chunk in request.stream():
        nesting.feed(chunk[:MAX_BODY - size + 1])
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, "body too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def _gateway_fields(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return await read_form(request)  # bounded the same way
    body = await _bounded_json(request)
    try:
        data = json.loads(body or b"null")
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HTTPException(400, "malformed JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(422, "expected a JSON object")
    fields = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) and value is not None:
            raise HTTPException(422, f"field {str(key)[:40]!r} must be a string")
        text = "" if value is None else str(value)
        try:
            (str(key) + text).encode("utf-8")
        except UnicodeEncodeError:  # legal JSON ("\ud800"), but not text anything can store
            raise HTTPException(400, "fields must be valid Unicode text") from None
        fields[str(key)] = text
    return fields


def _outside_secret(request: Request) -> str:
    """The secret where it can be checked before the body is read: a header or the query."""
    header = request.headers.get("x-gateway-secret") or ""
    auth = request.headers.get("authorization") or ""
    if not header and auth.lower().startswith("bearer "):
        header = auth[7:].strip()
    return header or request.query_params.get("secret", "")


def _message_id(fields: dict[str, str], key: str) -> str:
    for name in ("message_id", "messageId", "id", "uuid"):
        if fields.get(name):
            return stored_key(fields[name], 80)  # a longer id is a digest of it, never cut short
    # No id from the gateway: the same sender, text and send time is the same text.
    # Keyed: the id is stored, and a plain hash of a text holding a 6-digit PIN
    # gives the PIN back to anyone who tries the million of them.
    if fields.get("sent_timestamp"):
        basis = "|".join((fields.get("from", ""), fields.get("text") or fields.get("message", ""),
                          fields["sent_timestamp"]))
        return "h:" + hmac.new(key.encode(), basis.encode(), hashlib.sha256).hexdigest()[:40]
    return "u:" + uuid.uuid4().hex


async def gateway(request: Request) -> Response:
    p = request.app.state.platform
    # A secret in a header or the query is checked before a byte of the body is
    # read: a stranger's body is never buffered. SMSSync sends it in the form, so
    # without one the (bounded) body is read first.
    secret = _outside_secret(request)
    found = await sms_log.gateway_for_secret(p.db, secret=secret) if secret else None
    if secret and found is None:
        return _error(403, "forbidden", "unknown gateway secret")
    try:
        fields = await _gateway_fields(request) if request.method == "POST" else {}
    except HTTPException as exc:
        return _error(exc.status_code, "bad_request", exc.detail)
    if found is None:
        secret = fields.get("secret", "")
        if not secret:
            return _error(401, "unauthorized", "a gateway secret is required")
        found = await sms_log.gateway_for_secret(p.db, secret=secret)
        if found is None:
            return _error(403, "forbidden", "unknown gateway secret")
    source = f"gateway:{found['name']}"
    if request.method == "GET":
        if request.query_params.get("task") != "send":
            return _error(400, "bad_request", "expected ?task=send")
        queued = await sms_log.queued_for_gateway(p.db, source=source)
        messages = [{"to": row["to_number"], "message": row["body"], "uuid": str(row["id"])} for row in queued]
        return JSONResponse({"payload": {"task": "send", "secret": secret, "messages": messages}})
    sender = fields.get("from", "")
    body = fields.get("text") or fields.get("message") or ""
    if not sender:
        return _error(422, "invalid_request", "'from' is required")
    if len(body) > MAX_TEXT:
        return _error(413, "too_large", f"text longer than {MAX_TEXT} characters")
    reply = await sms.handle_text(p, IncomingText(
        source=source, message_id=_message_id(fields, p.secret_key), sender=sender,
        to=fields.get("to") or fields.get("sent_to"),
        body=body, base_url=p.callback_base(request),
    ))
    deliverable = reply is not None and reply.deliver
    outgoing = [{"to": reply.to, "message": reply.body, "uuid": uuid.uuid4().hex}] if deliverable else []
    payload = {"success": True, "error": None}
    if outgoing:
        payload.update(task="send", messages=outgoing)
    return JSONResponse({
        "reply": {"to": reply.to, "text": reply.body} if deliverable else None,
        "payload": payload,
    })
