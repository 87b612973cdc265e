"""`POST /telnyx/sms`: Telnyx's Messaging webhooks. Texts in as `message.received` events, replies out by its API.

Telnyx's messaging is not TeXML: the event is JSON, signed like every Telnyx
webhook, and the answer to it carries nothing; a reply is a new message sent
through the Messaging API (the provider's send_sms).
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.calls import texts as sms
from app.core.ids import is_provider_id
from app.providers import telnyx_events
from app.providers.interface import ProviderError, ProviderTimeout
from app.providers.telnyx_signatures import signed_body

log = logging.getLogger(__name__)

MAX_TEXT = 1600


async def telnyx_sms(request: Request) -> Response:
    key = getattr(request.app.state, "telnyx_key", None)
    if key is None:
        raise HTTPException(404, "Telnyx is not the configured provider")
    body = await signed_body(request, key)
    p = request.app.state.platform
    try:
        event = telnyx_events.event(body)
    except telnyx_events.NotAnEvent as exc:
        return JSONResponse({"error": {"code": "bad_request", "message": str(exc)}}, status_code=400)
    if event["event_type"] != telnyx_events.RECEIVED:
        # Delivery reports (message.sent, message.finalized) come here too when the profile says so: nothing to do.
        return Response(status_code=204)
    try:
        text = telnyx_events.incoming_text(event, base_url=p.callback_base(request), max_length=MAX_TEXT)
    except telnyx_events.NotAnEvent as exc:
        return JSONResponse({"error": {"code": "bad_request", "message": str(exc)}}, status_code=400)
    if not is_provider_id(text.message_id):
        return JSONResponse({"error": {"code": "bad_request", "message": "payload.id is required"}}, status_code=400)
    reply = await sms.handle_text(p, text)
    if reply is not None and reply.deliver and text.to:
        try:
            await p.provider.send_sms(to=reply.to, from_=text.to, body=reply.body)
        except (ProviderError, ProviderTimeout) as exc:
            # The text was acted on and is recorded; answering 2xx keeps Telnyx from delivering it again.
            log.warning("text %s: reply not sent: %s", text.message_id, exc)
    return Response(status_code=204)
