"""Telnyx's Messaging webhooks (JSON events) as the typed events of app/providers/events.py.

An inbound text arrives as
`{"data": {"event_type": "message.received", "payload": {"id", "from": {"phone_number"},
"to": [{"phone_number"}], "text", ...}}}`. TeXML's voice webhooks are Twilio's
form fields and go through twilio_events.
"""

from __future__ import annotations

import json

from app.providers import events

RECEIVED = "message.received"


class NotAnEvent(ValueError):
    """The body is not a Telnyx webhook event."""


def event(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotAnEvent("malformed JSON") from None
    inner = data.get("data") if isinstance(data, dict) else None
    if not isinstance(inner, dict) or not isinstance(inner.get("event_type"), str):
        raise NotAnEvent("expected a Telnyx event: {\"data\": {\"event_type\": ..., \"payload\": {...}}}")
    return inner


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def incoming_text(inner: dict, *, base_url: str, max_length: int) -> events.IncomingText:
    """The IncomingText of a `message.received` event's payload."""
    payload = inner.get("payload")
    if not isinstance(payload, dict):
        raise NotAnEvent("message.received without a payload")
    sender = payload.get("from")
    recipients = payload.get("to")
    first = recipients[0] if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict) else {}
    return events.IncomingText(
        source="telnyx", message_id=_text(payload.get("id")),
        sender=_text(sender.get("phone_number")) if isinstance(sender, dict) else "",
        to=_text(first.get("phone_number")) or None,
        body=_text(payload.get("text"))[:max_length], base_url=base_url,
    )
