"""Provider-facing requests: a bounded form body, checked against X-Twilio-Signature."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from app.core.numbers import ascii_int

MAX_BODY = 64 * 1024
MAX_FIELDS = 200


def public_url(request: Request, callback_base: str) -> str:
    """The URL the provider signed: the callback base it was given (behind a TLS-terminating
    proxy, the public one), never one built from the Host or X-Forwarded-* headers."""
    query = request.url.query
    return callback_base + request.url.path + (f"?{query}" if query else "")


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(415, "expected a form-encoded body")
    declared = request.headers.get("content-length")
    if (ascii_int(declared) or 0) > MAX_BODY:
        raise HTTPException(413, "body too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, "body too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "malformed form body") from None
    return dict(pairs)


def signature_matches(validator: RequestValidator, url: str, params: dict[str, str], signature: str) -> bool:
    """Check the signature against the URL as we know it: one HMAC in the usual case.

    The SDK's `validate` always computes two (the URL with and without its
    default port, since providers differ in which they sign); that is only
    needed when the first guess fails.
    """
    # Bytes, not str: compare_digest raises TypeError on a non-ASCII str, and a header is whatever was sent.
    offered = signature.encode("utf-8", "surrogatepass")
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), offered):
        return True
    if not signature.isascii():
        return False  # no signature is: it is base64
    return validator.validate(url, params, signature)


async def signed_form(request: Request, validator: RequestValidator | Sequence[RequestValidator],
                      callback_base: str) -> dict[str, str]:
    """The form parameters of a request the provider signed; 403 otherwise.

    Several validators (several providers, each signing with its own token): any one may have signed it.
    """
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        raise HTTPException(403, "missing X-Twilio-Signature")
    params = await read_form(request)
    url = public_url(request, callback_base)
    validators = [validator] if isinstance(validator, RequestValidator) else validator
    if not any(signature_matches(one, url, params, signature) for one in validators):
        raise HTTPException(403, "invalid X-Twilio-Signature")
    return params
