"""Provider webhooks: the trigger, status callbacks, and the callback leg's IVR steps."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.data import callbacks, recordings, service_numbers
from app.calls import call_recordings, ivr, leg_status, triggers
from app.core.ids import is_provider_id
from app.core.phone import InvalidNumber, to_e164
from app.providers import twilio_events
from twiml import voice
from twiml.prompts import Speaker

log = logging.getLogger(__name__)


def twiml_response(twiml: str, request: Request | None = None) -> Response:
    # The provider's dialect of TwiML (Telnyx's TeXML differs in a few attributes: app/providers/telnyx_texml.py):
    # that of the provider a leg's URL names, else the first provider's.
    dialect = None
    if request is not None:
        dialects = getattr(request.app.state, "voice_dialects", {})
        dialect = dialects.get(_provider(request) or request.app.state.platform.settings.provider_name)
    return Response(dialect(twiml) if dialect is not None else twiml, media_type="application/xml")


def _provider(request: Request) -> str | None:
    """The provider a webhook URL was given to, when several are configured (app/core/urls.py)."""
    name = request.query_params.get("provider")
    return name if name in request.app.state.platform.providers else None


async def _signed(request: Request) -> dict[str, str]:
    """The signed form: signed by the provider the URL names, else by any configured one."""
    p = request.app.state.platform
    return await request.app.state.webhooks.of(_provider(request)).form(request, p.callback_base(request))


async def voice_trigger(request: Request) -> Response:
    call = twilio_events.incoming_call(await _signed(request))
    p = request.app.state.platform
    call_sid = call.call_id
    if not is_provider_id(call_sid):
        raise HTTPException(400, "CallSid is required")
    try:
        number = await service_numbers.cached_number(p.db, to_e164(call.called, "US"))
    except InvalidNumber:
        number = None
    if number is None:
        log.warning("trigger %s to %r: not a service number", call_sid, call.called)
    else:
        await triggers.accept_voice_trigger(p, number=number, call_sid=call_sid, caller_raw=call.caller,
                                            base_url=p.callback_base(request))
    # Always reject, whatever the outcome: the trigger is never answered, so never billed.
    return twiml_response(voice.reject_busy(), request)


MAX_ID = 2**31 - 1  # the smallest INTEGER of the two backends


def _positive_int(text: str | None) -> int | None:
    if text and text.isascii() and text.isdigit() and len(text) < 12 and int(text) <= MAX_ID:
        return int(text)
    return None


async def status(request: Request) -> Response:
    event = twilio_events.leg_status(await _signed(request))
    request_id = _positive_int(request.query_params.get("request"))
    leg = request.query_params.get("leg")
    if request_id is not None and leg in ("a", "b"):
        await leg_status.record_status(request.app.state.platform, request_id=request_id, leg=leg, event=event,
                                       provider=_provider(request))
    return Response(status_code=204)


async def recording(request: Request) -> Response:
    """The provider's recording status callback for a request's dial (signed; 403 otherwise)."""
    event = twilio_events.recording_status(await _signed(request))
    request_id = _positive_int(request.query_params.get("request"))
    if request_id is not None:
        await call_recordings.status_reported(request.app.state.platform, request_id=request_id, event=event)
    return Response(status_code=204)


# What each IVR step's webhook reports; the other steps report a gather's keys.
STEP_EVENTS = {"answer": twilio_events.call_answered, "dialed": twilio_events.dial_result}


async def leg_step(request: Request) -> Response:
    form = await _signed(request)
    name = request.path_params["step"]
    step = ivr.STEPS.get(name)
    if step is None:
        raise HTTPException(404, "no such step")
    event = STEP_EVENTS.get(name, twilio_events.gather_result)(form)
    p = request.app.state.platform
    request_id = request.path_params["request_id"]
    # Every step but the PIN's (which finds its account by the PIN) has an account to read with its request;
    # leg A's answer time comes with it, for the steps that hold money.
    read = callbacks.get_request_with_leg_a if name == "pin" else callbacks.get_request_with_account
    row = await read(p.db, request_id=request_id) if request_id <= MAX_ID else None
    if row is None:
        return twiml_response(voice.goodbye(speaker=Speaker(), keys=("session_over",)), request)
    # Leg A's answer URL names its provider when there are several (ivr.answer: a call of a provider
    # the request was failed over from is hung up).
    provider = _provider(request) if name == "answer" else None
    return twiml_response(await step(p, row, event, **({"provider": provider} if provider else {})), request)


async def prompt_audio(request: Request) -> Response:
    """An operator's recording of a prompt, fetched by the provider for <Play>."""
    p = request.app.state.platform
    row = await recordings.fetch(p.db, prompt=request.path_params["prompt"][:40],
                                 language=request.path_params["language"][:8])
    if row is None:
        raise HTTPException(404, "no such recording")
    return Response(row["audio"], media_type=row["content_type"], headers={"Cache-Control": "public, max-age=300"})
