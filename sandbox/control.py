"""A small JSON API under /_sandbox for the demo's softphone and for operators.

It is not part of Twilio's protocol and has no authentication: it drives the
simulated world (phones, faults, the clock), so only expose it in demos.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .calls import Call
from .messages import Message
from .network import Network
from .phones import Phone
from .rest import message_resource

PREFIX = "/_sandbox"


def call_snapshot(call: Call) -> dict:
    return {
        "sid": call.sid,
        "parent_call_sid": call.parent_sid,
        "children": list(call.children),
        "direction": call.direction,
        "from": call.from_,
        "to": call.to,
        "status": call.status,
        "activity": call.activity,
        "waiting_for_keys": call.waiting_for_keys,
        "prompts": list(call.prompts),
        "interactive": call.phone.interactive,
        "date_created": _iso(call.date_created),
        "start_time": _iso(call.start_time),
        "answer_time": _iso(call.answer_time),
        "end_time": _iso(call.end_time),
        "duration": call.duration,
        "answered_by": call.answered_by,
        "rejected": call.rejected,
        "error": list(call.error) if call.error else None,
        "transcript": [{"at": _iso(entry.at), "kind": entry.kind, "fields": list(entry[1:])} for entry in call.transcript],
        "status_callbacks": [params.get("CallStatus") for params in call.callbacks],
    }


def message_snapshot(message: Message) -> dict:
    data = message_resource(message)
    data["replies"] = [reply.sid for reply in message.replies]
    data["in_reply_to"] = message.in_reply_to
    return data


def control_routes(carrier: Network) -> list[Route]:
    api = ControlApi(carrier)
    return [
        Route(PREFIX + "/state", api.state, methods=["GET"]),
        Route(PREFIX + "/calls", api.calls, methods=["GET"]),
        Route(PREFIX + "/calls/{sid}", api.call, methods=["GET"]),
        Route(PREFIX + "/calls/{sid}/keys", api.keys, methods=["POST"]),
        Route(PREFIX + "/calls/{sid}/hangup", api.hangup, methods=["POST"]),
        Route(PREFIX + "/phones", api.phones, methods=["GET"]),
        Route(PREFIX + "/phones/{number}", api.phone, methods=["GET", "PUT"]),
        Route(PREFIX + "/ring", api.ring, methods=["POST"]),
        Route(PREFIX + "/text", api.text, methods=["POST"]),
        Route(PREFIX + "/messages", api.messages, methods=["GET"]),
        Route(PREFIX + "/faults", api.faults, methods=["GET", "PUT"]),
        Route(PREFIX + "/clock", api.clock, methods=["GET", "PUT"]),
        Route(PREFIX + "/webhooks", api.webhooks, methods=["GET"]),
    ]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlApi:
    def __init__(self, carrier: Network) -> None:
        self.carrier = carrier

    async def state(self, request: Request) -> JSONResponse:
        carrier = self.carrier
        return JSONResponse(
            {
                "account_sid": carrier.account_sid,
                "now": _iso(carrier.clock.now()),
                "speed": carrier.clock.speed,
                "cps": carrier.cps,
                "voice_url": carrier.voice_url,
                "sms_url": carrier.sms_url,
                "live_calls": sum(1 for c in carrier.calls.values() if not c.ended),
                "calls": len(carrier.calls),
                "messages": len(carrier.messages),
            }
        )

    async def calls(self, request: Request) -> JSONResponse:
        calls = list(self.carrier.calls.values())
        number = request.query_params.get("number")
        if number:
            calls = [c for c in calls if number in (c.to, c.from_)]
        if request.query_params.get("live") in ("1", "true"):
            calls = [c for c in calls if not c.ended]
        calls.sort(key=lambda c: c.date_created, reverse=True)
        return JSONResponse({"calls": [call_snapshot(c) for c in calls]})

    async def call(self, request: Request) -> JSONResponse:
        return await self._guard(lambda: call_snapshot(self._call(request)))

    async def keys(self, request: Request) -> JSONResponse:
        async def press():
            call = self._call(request)
            digits = str((await _json(request)).get("digits", ""))
            if not digits or any(key not in "0123456789*#" for key in digits):
                raise ControlError(400, "digits must be a string of 0-9, * and #")
            try:
                self.carrier.press(call, digits)
            except ValueError as exc:
                raise ControlError(409, str(exc)) from None
            return call_snapshot(call)

        return await self._guard(press)

    async def hangup(self, request: Request) -> JSONResponse:
        async def hang_up():
            call = self._call(request)
            # A handset that hangs up while its phone rings declines the call.
            declined = call.direction != "inbound" and call.status in ("initiated", "ringing")
            if not self.carrier.end(call, "busy" if declined else "completed", ("phone-hangup",)):
                raise ControlError(409, f"call {call.sid} has already ended")
            return call_snapshot(call)

        return await self._guard(hang_up)

    async def phones(self, request: Request) -> JSONResponse:
        phones = self.carrier.phones
        return JSONResponse(
            {"default": phones.default.script(), "phones": {number: phone.script() for number, phone in phones.items()}}
        )

    async def phone(self, request: Request) -> JSONResponse:
        async def handle():
            number = request.path_params["number"]
            phones = self.carrier.phones
            if request.method == "PUT":
                try:
                    script = Phone.from_script(await _json(request)).script()
                    phones.set(number, **script)
                except (TypeError, ValueError) as exc:
                    raise ControlError(400, str(exc)) from None
            phone = phones[number]
            return {"number": number, **phone.script(), "inbox": [m.sid for m in phone.inbox]}

        return await self._guard(handle)

    async def ring(self, request: Request) -> JSONResponse:
        async def handle():
            data = await _json(request)
            if not data.get("from") or not data.get("to"):
                raise ControlError(400, "give 'from' (the handset) and 'to' (the service number)")
            try:
                call = await self.carrier.ring(data["from"], data["to"], wait=False)
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
            return call_snapshot(call)

        return await self._guard(handle, status=201)

    async def text(self, request: Request) -> JSONResponse:
        async def handle():
            data = await _json(request)
            if not data.get("from") or not data.get("to"):
                raise ControlError(400, "give 'from' (the handset), 'to' (the service number) and 'body'")
            try:
                message = await self.carrier.text(data["from"], data["to"], str(data.get("body", "")))
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
            return {"message": message_snapshot(message), "replies": [message_snapshot(r) for r in message.replies]}

        return await self._guard(handle, status=201)

    async def messages(self, request: Request) -> JSONResponse:
        messages = list(self.carrier.messages.values())
        number = request.query_params.get("number")
        if number:
            messages = [m for m in messages if number in (m.to, m.from_)]
        messages.sort(key=lambda m: m.date_created, reverse=True)
        return JSONResponse({"messages": [message_snapshot(m) for m in messages]})

    async def faults(self, request: Request) -> JSONResponse:
        async def handle():
            if request.method == "PUT":
                try:
                    self.carrier.faults.update(await _json(request))
                except (TypeError, ValueError) as exc:
                    raise ControlError(400, str(exc)) from None
            return self.carrier.faults.settings()

        return await self._guard(handle)

    async def clock(self, request: Request) -> JSONResponse:
        async def handle():
            clock = self.carrier.clock
            if request.method == "PUT":
                try:
                    clock.speed = float((await _json(request))["speed"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise ControlError(400, f"give a positive 'speed': {exc}") from None
            return {"now": _iso(clock.now()), "speed": clock.speed}

        return await self._guard(handle)

    async def webhooks(self, request: Request) -> JSONResponse:
        try:
            limit = int(request.query_params.get("limit", 100))
        except ValueError:
            limit = 100
        log = list(self.carrier.webhooks.log)[-limit:] if limit > 0 else []
        return JSONResponse({"webhooks": [delivery.json() for delivery in reversed(log)]})

    def _call(self, request: Request) -> Call:
        call = self.carrier.calls.get(request.path_params["sid"])
        if call is None:
            raise ControlError(404, "no such call")
        return call

    async def _guard(self, handler, status: int = 200) -> JSONResponse:
        try:
            result = handler()
            if hasattr(result, "__await__"):
                result = await result
        except ControlError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return JSONResponse(result, status_code=status)


# Unauthenticated (see above), so nobody may make it hold more than this, or
# make json recurse past Python's limit.
MAX_BODY = 64 * 1024


async def _json(request: Request) -> dict:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ControlError(413, f"body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise ControlError(400, f"body is not JSON: {exc}") from None
    except (UnicodeDecodeError, RecursionError):
        raise ControlError(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None
