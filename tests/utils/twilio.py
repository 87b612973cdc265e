"""Realistic provider payloads, signatures, and TwiML parsing: the one factory the tests share."""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
_sequence = itertools.count(1)


def call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def voice_params(*, From: str, To: str, CallSid: str | None = None, CallStatus: str = "ringing",
                 Direction: str = "inbound", **extra) -> dict[str, str]:
    """What Twilio posts to a voice URL (the fields the app uses, and the noise around them)."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": CallSid or call_sid(),
        "CallStatus": CallStatus,
        "Called": To,
        "Caller": From,
        "Direction": Direction,
        "From": From,
        "FromCountry": "US",
        "To": To,
        "ToCountry": "US",
    }
    params.update({k: str(v) for k, v in extra.items()})
    return params


def status_params(*, CallSid: str, CallStatus: str, From: str, To: str, SequenceNumber: int,
                  CallDuration: int | None = None, **extra) -> dict[str, str]:
    params = voice_params(From=From, To=To, CallSid=CallSid, CallStatus=CallStatus, Direction="outbound-api",
                          SequenceNumber=SequenceNumber, CallbackSource="call-progress-events",
                          Timestamp="Thu, 26 Nov 2026 03:40:00 +0000", **extra)
    if CallDuration is not None:
        params["CallDuration"] = str(CallDuration)
        params["Duration"] = str(-(-CallDuration // 60))
    return params


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@dataclass
class Verb:
    name: str
    attrs: dict[str, str]
    text: str
    children: list[Verb]

    def find(self, name: str) -> Verb | None:
        return next((child for child in self.children if child.name == name), None)

    def says(self) -> list[str]:
        return [child.text for child in self.children if child.name == "Say"]


def _verb(element: ET.Element) -> Verb:
    return Verb(element.tag, dict(element.attrib), (element.text or "").strip(), [_verb(c) for c in element])


def parse_twiml(text: str) -> list[Verb]:
    root = ET.fromstring(text)
    assert root.tag == "Response", f"TwiML root is {root.tag}"
    return [_verb(child) for child in root]


def spoken(verbs: list[Verb]) -> str:
    """Everything <Say> says, nested ones included, as one string."""
    parts = []
    for verb in verbs:
        if verb.name == "Say":
            parts.append(verb.text)
        parts.extend(spoken(verb.children).split("\n") if verb.children else [])
    return "\n".join(p for p in parts if p)


def message_sid() -> str:
    return "SM" + uuid.uuid4().hex


def sms_params(*, From: str, To: str, Body: str, MessageSid: str | None = None) -> dict[str, str]:
    """What Twilio posts to a messaging webhook."""
    sid = MessageSid or message_sid()
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "Body": Body,
        "From": From,
        "FromCountry": "US",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": To,
        "ToCountry": "US",
    }


def parse_messages(text: str) -> list[str]:
    """The bodies of the <Message> verbs of a messaging TwiML response."""
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return [(element.text or "") for element in root if element.tag == "Message"]
