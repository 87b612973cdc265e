"""The demo softphone page (sandbox carrier only).

`GET /demo` is a simulated handset: ring a service number from one of the demo
subscribers' phones, let the callback ring, type the PIN and the number to
call on the keypad, and watch the request move through its states and its
legs get billed. The page polls `/demo/state`; keys and hang-ups go to the
sandbox carrier. With real Twilio credentials none of this is mounted.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timezone
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from app.data import accounts, callbacks, request_lookup, service_numbers
from app.web.demo import seed as demo
from app.web.loopback import loopback_only
from app.core import states
from app.core.ids import is_provider_id
from app.core.money import format_amount

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[3] / "templates"))

STRANGER = "+14155550199"
DESTINATIONS = [
    # number, where, what to type on the keypad (the demo accounts are in the US)
    ("+442071234567", "London", "00442071234567#"),
    ("+33123456789", "Paris", "0033123456789#"),
    ("+12125550123", "New York", "2125550123#"),
]
MODES = {
    "pin": "Anyone with a caller ID. Calls the caller back and asks for a PIN.",
    "ani": "Registered caller IDs only. Calls the account's default number (else the caller), no PIN.",
    "ani-then-pin": "Registered caller IDs as in ani; anyone else is called back and asked for a PIN.",
    "ani-and-pin": "Registered caller IDs only. Calls the caller back and asks for that account's PIN.",
    "did": "Anyone, even a withheld caller ID. Always calls {owner}'s default number, no PIN.",
    "did-direct": "Anyone, even a withheld caller ID. Calls {owner}'s default number and connects the DID's "
                  "fixed destination, no IVR.",
}
STATE_TEXT = {
    states.QUEUED: "the callback rings in a moment",
    states.CALLING_A: "the platform is calling the subscriber back (leg A)",
    states.A_ANSWERED: "leg A answered: follow the voice prompts",
    states.CALLING_B: "ringing the number you typed (leg B)",
    states.CONNECTED: "both legs are talking",
    states.COMPLETED: "the session is over and billed",
}
# The carrier's scripts for the demo: subscribers' phones wait at every prompt
# for keys from the page; the sample destinations answer and talk a little.
HANDSET = dict(interactive=True, answer_after=3.0)
DESTINATION = dict(answer_after=2.0, talk_seconds=20.0)
MAX_BODY = 4096
DIGITS = re.compile(r"[0-9*#]{1,32}")


def _demo_phones() -> list[dict]:
    """The subscribers' phones from the demo data, and a stranger's."""
    phones = []
    for login, _password, _pin, default_number, anis, _balance in demo.ACCOUNTS:
        if default_number:
            phones.append(dict(number=default_number, label=f"{login}'s home",
                               note=f"{login}'s default number: ANI and DID callbacks ring here"))
        for ani in anis:
            note = f"a registered ANI of {login}"
            note += "; ANI modes call the home phone back" if default_number else \
                f"; {login} has no default number, so callbacks ring this phone"
            phones.append(dict(number=ani, label=f"{login}'s mobile", note=note))
    phones.append(dict(number=STRANGER, label="a stranger", note="no account: only PIN numbers call it back"))
    return phones


PHONES = _demo_phones()
PHONE_LABELS = {phone["number"]: phone["label"] for phone in PHONES}
PINS = [dict(login=login, pin=pin) for login, _password, pin, *_rest in demo.ACCOUNTS if pin]


class BadInput(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _json_endpoint(handler):
    """Runs `handler(request, carrier)`; bad input becomes a 4xx JSON error."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> JSONResponse:
        carrier = request.app.state.carrier
        if carrier is None:
            return _error(404, "not_found", "the demo runs only on the sandbox carrier")
        try:
            return await handler(request, carrier)
        except BadInput as exc:
            return _error(exc.status, exc.code, exc.message)

    return endpoint


async def _body(request: Request, *names: str) -> dict[str, str]:
    """The JSON object in the body, with each of `names` a non-empty string."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadInput(413, "too_large", "the body is too large")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # 4 KB of '[' nests deeper than Python recurses
        raise BadInput(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadInput(400, "invalid_json", "the body must be a JSON object")
    values = {}
    for name in names:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise BadInput(400, "invalid_field", f"'{name}' must be a non-empty string")
        values[name] = value.strip()
    return values


def _handset_call(carrier, sid: str):
    """A call whose handset is one of the demo phones (the page is that handset)."""
    call = carrier.calls.get(sid) if is_provider_id(sid) else None
    if call is not None and (
        (call.direction == "inbound" and call.from_ in PHONE_LABELS)
        or (call.direction == "outbound-api" and call.to in PHONE_LABELS)
    ):
        return call
    raise BadInput(404, "unknown_call", f"no demo call {sid[:40]!r}")


# The page -----------------------------------------------------------------


async def page(request: Request):
    if request.app.state.carrier is None:
        raise HTTPException(404, "Not Found")
    p = request.app.state.platform
    numbers = []
    for row in await service_numbers.list_numbers(p.db):
        owner = await accounts.get_account(p.db, account_id=row["account_id"]) if row["account_id"] else None
        login = owner["login"] if owner is not None else "its account"
        numbers.append(dict(number=row["number"], mode=row["mode"],
                            note=MODES.get(row["mode"], "").format(owner=login)))
    context = dict(
        numbers=numbers,
        phones=PHONES,
        pins=PINS,
        destinations=[dict(number=n, place=place, digits=digits) for n, place, digits in DESTINATIONS],
        default_to=next((n["number"] for n in numbers if n["mode"] == "pin"), None),
        default_from=STRANGER,
        root=request.scope.get("root_path", ""),
        speed=request.app.state.carrier.clock.speed,
    )
    return templates.TemplateResponse(request, "softphone.html", context)


# JSON endpoints ------------------------------------------------------------


@_json_endpoint
async def ring(request: Request, carrier) -> JSONResponse:
    data = await _body(request, "from", "to")
    from_, to = data["from"], data["to"]
    if from_ not in PHONE_LABELS:
        raise BadInput(400, "unknown_phone", f"'from' must be one of the demo phones: {', '.join(PHONE_LABELS)}")
    p = request.app.state.platform
    numbers = [row["number"] for row in await service_numbers.list_numbers(p.db)]
    if to not in numbers:
        raise BadInput(400, "unknown_service_number",
                       f"'to' must be a service number: {', '.join(numbers) or 'none yet (run demo seed)'}")
    base = p.callback_base(request)
    carrier.voice_url = base + "/twilio/voice"
    carrier.sms_url = base + "/twilio/sms"
    for number in PHONE_LABELS:
        carrier.phones.set(number, **HANDSET)
    for number, _place, _keys in DESTINATIONS:
        carrier.phones.set(number, **DESTINATION)
    call = await carrier.ring(from_, to, wait=False)
    return JSONResponse({"trigger_sid": call.sid})


@_json_endpoint
async def keys(request: Request, carrier) -> JSONResponse:
    data = await _body(request, "call_sid", "digits")
    if not DIGITS.fullmatch(data["digits"]):
        raise BadInput(400, "invalid_digits", "'digits' must be 1 to 32 of 0-9, * and #")
    call = _handset_call(carrier, data["call_sid"])
    if call.ended:
        raise BadInput(409, "call_ended", "that call has ended")
    if call.status != "in-progress":
        raise BadInput(409, "not_answered", "keys can be pressed once the call is answered")
    carrier.press(call, data["digits"])
    return JSONResponse({"call_sid": call.sid, "pressed": data["digits"]})


@_json_endpoint
async def hangup(request: Request, carrier) -> JSONResponse:
    data = await _body(request, "call_sid")
    call = _handset_call(carrier, data["call_sid"])
    # Hanging up a callback that is still ringing declines it, as on a real phone.
    declined = call.direction != "inbound" and call.status in ("initiated", "ringing")
    if not carrier.end(call, "busy" if declined else "completed", ("phone-hangup",)):
        raise BadInput(409, "call_ended", "that call has already ended")
    return JSONResponse({"call_sid": call.sid, "hung_up": True})


@_json_endpoint
async def state(request: Request, carrier) -> JSONResponse:
    sid = request.query_params.get("trigger", "")
    if not sid:
        raise BadInput(400, "missing_trigger", "give ?trigger=<the CallSid /demo/ring returned>")
    trigger = _handset_call(carrier, sid)
    if trigger.direction != "inbound":
        raise BadInput(404, "unknown_call", "that call is not a trigger")
    p = request.app.state.platform
    row = await request_lookup.by_trigger(p.db, kind="voice", trigger_id=trigger.sid)
    legs, account, leg_a = [], None, None
    if row is not None:
        legs = await callbacks.list_legs(p.db, request_id=row["id"])
        if row["account_id"] is not None:
            account = await accounts.get_account(p.db, account_id=row["account_id"])
        # After a retry leg_a_sid is cleared; the latest leg A still tells the story.
        leg_a_sid = row["leg_a_sid"] or next((leg["provider_sid"] for leg in reversed(legs) if leg["leg"] == "a"), None)
        leg_a = carrier.calls.get(leg_a_sid) if leg_a_sid else None
    leg_b = carrier.calls.get(leg_a.children[-1]) if leg_a is not None and leg_a.children else None
    currency = account["currency"] if account is not None else "USD"
    body = {
        "trigger": _trigger_json(trigger),
        "request": await _request_json(p.db, row) if row is not None else None,
        "legs": [_leg_json(leg, currency) for leg in legs],
        "total_cost": _money(sum(leg["cost"] or 0 for leg in legs), currency),
        "account": _account_json(account),
        "leg_a_call": _call_json(leg_a, carrier) if leg_a is not None else None,
        "leg_b_call": _call_json(leg_b, carrier, transcript=False) if leg_b is not None else None,
        "screen": _screen(trigger, row, leg_a, leg_b),
        "status": _status_line(trigger, row),
        "calls_over": _calls_over(trigger, legs, leg_a, leg_b),
        "done": row is not None and row["state"] in states.TERMINAL and _calls_over(trigger, legs, leg_a, leg_b),
    }
    return JSONResponse(body)


# Snapshots for /demo/state -------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # the database keeps naive UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _seconds(moment: datetime | None, since: datetime | None) -> float | None:
    if moment is None or since is None:
        return None
    return round((moment - since).total_seconds(), 1)


def _money(minor: int | None, currency: str) -> str | None:
    return None if minor is None else f"{format_amount(minor, currency)} {currency}"


def _trigger_json(call) -> dict:
    return {
        "sid": call.sid, "from": call.from_, "to": call.to, "status": call.status,
        "rejected": call.rejected, "billed": call.answered, "at": _iso(call.date_created),
    }


async def _request_json(db, row) -> dict:
    created = row["created_at"]
    timeline = [
        {"state": e["to_state"], "from": e["from_state"], "reason": e["reason"], "detail": e["detail"],
         "at": _iso(e["at"]), "t": _seconds(e["at"], created)}
        for e in await callbacks.list_events(db, request_id=row["id"])
    ]
    if not timeline or timeline[0]["from"] is not None:
        # A request that starts queued has no event of its own for that.
        timeline.insert(0, {"state": states.QUEUED, "from": None, "reason": None,
                            "detail": "trigger rejected busy (not billed)", "at": _iso(created), "t": 0.0})
    return {
        "id": row["id"], "state": row["state"], "reason": row["reason"], "mode": row["mode"],
        "service_number": row["service_number"], "caller_id": row["caller_id"],
        "leg_a_number": row["leg_a_number"], "leg_b_number": row["leg_b_number"],
        "needs_pin": row["needs_pin"], "calls_connected": row["calls_connected"],
        "terminal": row["state"] in states.TERMINAL, "created_at": _iso(created), "events": timeline,
    }


def _leg_json(leg, currency: str) -> dict:
    return {
        "leg": leg["leg"], "sid": leg["provider_sid"], "number": leg["to_number"], "status": leg["status"],
        "duration_seconds": leg["duration_seconds"], "billed_seconds": leg["billed_seconds"],
        "cost_minor": leg["cost"], "cost": _money(leg["cost"], currency), "ended": leg["ended_at"] is not None,
    }


def _account_json(account) -> dict | None:
    if account is None:
        return None
    return {"login": account["login"], "balance": _money(account["balance"], account["currency"]),
            "balance_minor": account["balance"], "currency": account["currency"]}


def _call_json(call, carrier, *, transcript: bool = True) -> dict:
    answered = call.answer_time
    end = call.end_time or carrier.clock.now()
    data = {
        "sid": call.sid, "from": call.from_, "to": call.to, "direction": call.direction,
        "status": call.status, "activity": call.activity, "waiting_for_keys": call.waiting_for_keys,
        "prompts": list(call.prompts), "ended": call.ended,
        "seconds": round((end - answered).total_seconds()) if answered else None,
    }
    if transcript:
        # Times on the call's own clock, from when it was answered (the phone's call timer).
        data["transcript"] = [_line(entry, answered or call.date_created) for entry in call.transcript]
    return data


def _line(entry, since: datetime) -> dict:
    fields = [list(f) if isinstance(f, tuple) else f for f in entry[1:]]
    kind = entry.kind
    if kind == "say":
        text = f"Heard: \u201c{fields[0]}\u201d"
    elif kind == "gather":
        pressed = (fields[1] or "") + (getattr(entry, "finished_on_key", "") or "")
        text = f"Heard: \u201c{' '.join(fields[0])}\u201d \u2014 pressed {pressed or 'nothing'}"
    elif kind == "dial":
        text = f"Dialling {fields[0]}"
    elif kind == "dial-status":
        text = f"The other party's call ended ({fields[0]}, {fields[1]} s)"
    elif kind == "press":
        text = f"Pressed {fields[0]}"
    elif kind == "hangup":
        text = "The platform hung up"
    elif kind == "phone-hangup":
        text = "You hung up"
    elif kind == "time-limit":
        text = f"Time limit reached ({fields[0]} s)"
    elif kind == "reject":
        text = f"Rejected ({fields[0]})"
    elif kind == "error":
        text = f"Error {fields[0]}: {fields[1]}"
    else:
        text = " ".join(str(f) for f in [kind, *fields])
    return {"kind": kind, "fields": fields, "text": text, "t": _seconds(entry.at, since)}


def _who(number: str) -> str:
    label = PHONE_LABELS.get(number)
    return f"{label} ({number})" if label else number


def _screen(trigger, row, leg_a, leg_b) -> dict:
    """What the handset's display shows: a title and a line of text."""
    if leg_a is not None and not leg_a.ended:
        if leg_a.status in ("queued", "initiated"):
            return {"title": "Callback on its way", "text": f"The platform is calling {_who(leg_a.to)} back."}
        if leg_a.status == "ringing":
            return {"title": "Incoming call",
                    "text": f"{leg_a.from_} is calling {_who(leg_a.to)}. It answers by itself in a moment."}
        if leg_b is not None and not leg_b.ended:
            if leg_b.activity == "bridged":
                return {"title": "Connected",
                        "text": f"Talking to {leg_b.to}. Press * to end this call and make another."}
            return {"title": "Calling", "text": f"Ringing {leg_b.to}\u2026"}
        if leg_a.prompts:
            title = "Your turn: type on the keypad" if leg_a.waiting_for_keys else "Listening"
            return {"title": title, "text": " ".join(leg_a.prompts)}
        said = [entry[1] for entry in leg_a.transcript if entry.kind == "say"]
        return {"title": "On the call", "text": said[-1] if said and leg_a.activity == "listening" else "\u2026"}
    if leg_a is not None:
        return {"title": "Call ended", "text": f"The callback lasted {leg_a.duration or 0} s. Press Call to ring again."}
    if row is not None and row["state"] == states.FAILED:
        return {"title": "No callback", "text": f"The request failed: {row['reason']}."}
    if not trigger.ended:
        return {"title": "Calling", "text": f"Ringing {trigger.to}\u2026"}
    if trigger.rejected:
        return {"title": "Busy",
                "text": "The service number rejected the call, so it cost nothing. Keep the page open: "
                        "the platform calls you back."}
    return {"title": "Call ended", "text": "The service number did not reject the call; see the server log."}


def _status_line(trigger, row) -> str:
    if row is None:
        if not trigger.ended:
            return f"Ringing {trigger.to}\u2026"
        return "Rejected busy (not billed); waiting for the platform\u2026"
    if row["state"] == states.FAILED:
        return f"Request {row['id']}: failed \u2014 {row['reason']}"
    return f"Request {row['id']}: {row['state']} \u2014 {STATE_TEXT.get(row['state'], '')}"


def _calls_over(trigger, legs, leg_a, leg_b) -> bool:
    """Every call has ended and every leg's CDR is written."""
    calls = (trigger, leg_a, leg_b)
    return all(call is None or call.ended for call in calls) and all(leg["ended_at"] is not None for leg in legs)


# No sign-in: a demo on this machine only (app/web/loopback.py).
routes = [
    Route("/demo", loopback_only(page), methods=["GET"], name="softphone"),
    Route("/demo/ring", loopback_only(ring), methods=["POST"]),
    Route("/demo/state", loopback_only(state), methods=["GET"]),
    Route("/demo/keys", loopback_only(keys), methods=["POST"]),
    Route("/demo/hangup", loopback_only(hangup), methods=["POST"]),
]
