"""What the carrier's Telnyx dialect does differently: ids, Ed25519 webhook signatures, the inbound text event.

In the Telnyx dialect (`Carrier(dialect="telnyx")`) call ids are `v3:` and
URL-safe base64, message ids are UUIDs, and every webhook is signed as Telnyx
signs it: `telnyx-signature-ed25519`, the base64 Ed25519 signature of
`{telnyx-timestamp}|{raw body}`, with the carrier's own private key; the
application is given `Signer.public_key`. The REST API is telnyx_rest.py.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from datetime import datetime

from nacl.signing import SigningKey

DIALECTS = ("twilio", "telnyx")
# Telnyx's account ids and TeXML application ids are UUIDs and digits; fixed ones keep logs comparable.
DEFAULT_ACCOUNT_ID = "5a5a5a5a-0000-4000-8000-5a5a5a5a5a5a"
DEFAULT_APPLICATION_ID = "2846281629469442048"


def call_id() -> str:
    """Like `v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ`."""
    return "v3:" + base64.urlsafe_b64encode(secrets.token_bytes(40)).decode().rstrip("=")


def message_id() -> str:
    return str(uuid.uuid4())


class Signer:
    """Signs webhook bodies as Telnyx does. `now` is real time: the receiver compares it with its own clock."""

    def __init__(self, seed: bytes | None = None) -> None:
        self.key = SigningKey(seed) if seed is not None else SigningKey.generate()

    @property
    def public_key(self) -> str:
        """Base64, as Mission Control shows it (TELNYX_PUBLIC_KEY)."""
        return base64.b64encode(bytes(self.key.verify_key)).decode()

    def headers(self, body: bytes, *, now: float | None = None) -> dict[str, str]:
        timestamp = str(int(time.time() if now is None else now))
        signature = self.key.sign(timestamp.encode() + b"|" + body).signature
        return {"telnyx-timestamp": timestamp, "telnyx-signature-ed25519": base64.b64encode(signature).decode()}


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds") + "Z" if at.tzinfo is None else at.isoformat(timespec="milliseconds")


def message_received(*, message_id: str, from_: str, to: str, text: str, at: datetime, url: str) -> dict:
    """The `message.received` event Telnyx posts for an inbound text."""
    return {
        "data": {
            "event_type": "message.received",
            "id": str(uuid.uuid4()),
            "occurred_at": _iso(at),
            "record_type": "event",
            "payload": {
                "id": message_id,
                "record_type": "message",
                "direction": "inbound",
                "type": "SMS",
                "text": text,
                "from": {"phone_number": from_, "carrier": "Sandbox", "line_type": "Wireless"},
                "to": [{"phone_number": to, "status": "webhook_delivered", "carrier": "Telnyx", "line_type": "Wireless"}],
                "received_at": _iso(at),
                "parts": 1,
                "media": [],
                "errors": [],
            },
        },
        "meta": {"attempt": 1, "delivered_to": url},
    }
