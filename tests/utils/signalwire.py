"""A SignalWire project for the tests: its ids and keys, and requests signed the way SignalWire signs them."""

from __future__ import annotations

import uuid

from twilio.request_validator import RequestValidator

PROJECT_ID = "b3877c40-da60-4998-90ad-b792e98472af"
API_TOKEN = "PT" + "0123456789abcdef" * 3  # the REST credential: never a webhook key
SIGNING_KEY = "PSK_" + "fedcba9876543210" * 2


def call_sid() -> str:
    return str(uuid.uuid4())


def headers(url: str, params: dict[str, str], key: str = SIGNING_KEY) -> dict[str, str]:
    """Both headers SignalWire sends a Compatibility webhook with: one signature, keyed by the signing key."""
    signature = RequestValidator(key).compute_signature(url, params)
    return {"X-SignalWire-Signature": signature, "X-Twilio-Signature": signature}
