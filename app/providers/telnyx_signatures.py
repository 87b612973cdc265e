"""Telnyx's webhook signatures: Ed25519 over `timestamp|body`, checked with the account's public key.

Telnyx signs every webhook (TeXML's form posts and the Messaging API's JSON
events alike) with `telnyx-signature-ed25519` (base64) over the bytes
`{telnyx-timestamp}|{raw body}`. A signature is only as fresh as its
timestamp: one more than five minutes away from our clock, either way, is
refused, so a captured request cannot be replayed later. The check is PyNaCl's;
nothing about Ed25519 is written here.
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import parse_qsl

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from starlette.exceptions import HTTPException
from starlette.requests import Request

from app.core.numbers import ascii_int

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_SECONDS = 300
MAX_BODY = 64 * 1024
MAX_FIELDS = 200


def verify_key(public_key: str) -> VerifyKey:
    """TELNYX_PUBLIC_KEY (base64, 32 bytes; settings.check has refused anything else)."""
    return VerifyKey(base64.b64decode(public_key.strip(), validate=True))


def verified(key: VerifyKey, *, body: bytes, timestamp: str | None, signature: str | None,
             now: float | None = None) -> bool:
    """Whether `body` was signed by the key's owner at `timestamp`, within the tolerance of `now`."""
    if not timestamp or not signature:
        return False
    seconds = ascii_int(timestamp)
    if seconds is None or abs((time.time() if now is None else now) - seconds) > TOLERANCE_SECONDS:
        return False
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 64:
        return False
    try:
        key.verify(timestamp.encode("ascii") + b"|" + body, raw)
    except BadSignatureError:
        return False
    return True


async def _body(request: Request) -> bytes:
    if (ascii_int(request.headers.get("content-length")) or 0) > MAX_BODY:
        raise HTTPException(413, "body too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, "body too large")
    return body


async def signed_body(request: Request, key: VerifyKey) -> bytes:
    """The raw body of a request Telnyx signed; 403 otherwise (before anything in it is looked at)."""
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise HTTPException(403, "missing telnyx-signature-ed25519 or telnyx-timestamp")
    body = await _body(request)
    if not verified(key, body=body, timestamp=timestamp, signature=signature):
        raise HTTPException(403, "invalid or stale telnyx-signature-ed25519")
    return body


async def signed_form(request: Request, key: VerifyKey) -> dict[str, str]:
    """The form parameters of a TeXML webhook Telnyx signed; 403 otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await signed_body(request, key)
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(415, "expected a form-encoded body")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "malformed form body") from None


class TelnyxWebhooks:
    """The TeXML webhook check app.main hands the voice and SMS handlers for PROVIDER=telnyx."""

    headers = (SIGNATURE_HEADER, TIMESTAMP_HEADER)
    signs_body = True  # over the raw body, not the URL and form: signatures.Webhooks asks it alone

    def __init__(self, public_key: str):
        self.key = verify_key(public_key)

    async def form(self, request: Request, callback_base: str) -> dict[str, str]:
        # The signature covers the body only, not the URL: callback_base plays no part.
        return await signed_form(request, self.key)
