"""TwiML for SMS webhooks: one reply, or none."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse


def reply(text: str | None) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
