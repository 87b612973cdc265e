"""Provider-facing requests: a bounded form body, checked against the provider's signature (Twilio, SignalWire;
Telnyx's Ed25519 scheme is in telnyx_signatures.py, behind the same `WebhookVerifier`)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from twilio.request_validator import (HMAC_SHA1, HMAC_SHA256, SIGNATURE_SETTINGS_HEADER, RequestValidator,
                                      get_signature_algorithm)

from app.core.numbers import ascii_int

MAX_BODY = 64 * 1024
MAX_FIELDS = 200


class WebhookVerifier(Protocol):
    """A provider's webhook signature scheme (app/providers/registry.py picks one per provider)."""

    async def form(self, request: Request, callback_base: str) -> dict[str, str]:
        """The form parameters of a webhook the provider signed; HTTPException 403 otherwise."""


class FormSignature:
    """The Twilio family's schemes: an HMAC over the URL and the sorted form parameters (`refusal`)."""

    headers: tuple[str, ...]  # the signature's headers, any one of which must be present

    def refusal(self, headers: Mapping[str, str], url: str, params: dict[str, str]) -> str | None:
        """None when the request is signed by the provider; else why it is refused (the 403's message)."""
        raise NotImplementedError

    async def form(self, request: Request, callback_base: str) -> dict[str, str]:
        return await signed_form(request, self, callback_base)


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


def signature_matches(validator: RequestValidator, url: str, params: dict[str, str], signature: str,
                      algorithm: str = HMAC_SHA1) -> bool:
    """Check the signature against the URL as we know it: one HMAC in the usual case.

    The SDK's `validate` always computes two (the URL with and without its
    default port, since providers differ in which they sign); that is only
    needed when the first guess fails.
    """
    # Bytes, not str: compare_digest raises TypeError on a non-ASCII str, and a header is whatever was sent.
    offered = signature.encode("utf-8", "surrogatepass")
    if hmac.compare_digest(validator.compute_signature(url, params, algorithm).encode(), offered):
        return True
    if not signature.isascii():
        return False  # no signature is: it is base64
    return validator.validate(url, params, signature, algorithm)


class TwilioSignatures(FormSignature):
    """Twilio's webhooks: X-Twilio-Signature, HMAC-SHA1 keyed by the auth token; or, when a Webhook Rule
    matched the URL, keyed by a SharedKey with the algorithm X-Twilio-Webhooks-Signature-Settings names.

    Also the scheme of the sandbox carrier in its Twilio dialect.
    """

    headers = ("X-Twilio-Signature",)

    def __init__(self, auth_token: str, shared_key: str | None = None):
        self.validator = RequestValidator(auth_token)
        self.shared = RequestValidator(shared_key) if shared_key else None

    def refusal(self, headers: Mapping[str, str], url: str, params: dict[str, str]) -> str | None:
        signature = headers.get("x-twilio-signature")
        if not signature:
            return "missing X-Twilio-Signature"
        settings = headers.get(SIGNATURE_SETTINGS_HEADER.lower())
        if settings is None:
            return None if signature_matches(self.validator, url, params, signature) else "invalid X-Twilio-Signature"
        # Signed under a Webhook Rule: only the SharedKey (never the auth token) and an algorithm we know.
        if self.shared is None:
            return "X-Twilio-Webhooks-Signature-Settings without TWILIO_WEBHOOK_SHARED_KEY"
        algorithm = get_signature_algorithm(settings).upper()
        if algorithm not in (HMAC_SHA256, HMAC_SHA1):
            return "unsupported webhook signature algorithm"
        if not signature_matches(self.shared, url, params, signature, algorithm):
            return "invalid X-Twilio-Signature"
        return None


class SignalWireSignatures(FormSignature):
    """SignalWire's Compatibility webhooks: Twilio's scheme (HMAC-SHA1 over the URL and the sorted form
    parameters) keyed by the project's signing key, in X-SignalWire-Signature and, for Twilio
    libraries, X-Twilio-Signature too. The API token is not a key: a request signed with it is refused.
    """

    headers = ("X-SignalWire-Signature", "X-Twilio-Signature")

    def __init__(self, signing_key: str):
        self.validator = RequestValidator(signing_key)

    def refusal(self, headers: Mapping[str, str], url: str, params: dict[str, str]) -> str | None:
        signature = headers.get("x-signalwire-signature") or headers.get("x-twilio-signature")
        if not signature:
            return "missing X-SignalWire-Signature"
        return None if signature_matches(self.validator, url, params, signature) else "invalid X-SignalWire-Signature"


class Webhooks:
    """The webhook verifiers of the configured providers, by name (PROVIDERS; one with a single provider).

    A webhook is accepted when any one of them signed it; a request that names its provider
    (`?provider=` on the URLs a leg was given) is checked against that provider's alone, so that
    one provider's key cannot speak for another's calls. The Twilio family's schemes sign the URL and
    the form, and share one reading of it; a scheme that signs the raw body (Telnyx's, `signs_body`)
    is asked alone, when its own headers are on the request.
    """

    def __init__(self, verifiers: Mapping[str, WebhookVerifier]):
        self.by_name = dict(verifiers)

    def __getitem__(self, name: str) -> WebhookVerifier:
        return self.by_name[name]

    def of(self, provider: str | None) -> WebhookVerifier:
        """The verifier for a request naming `provider` (any configured one when None); 403 for a name not configured."""
        if provider is None:
            return self
        verifier = self.by_name.get(provider)
        if verifier is None:
            raise HTTPException(403, "unknown provider")
        return verifier

    async def form(self, request: Request, callback_base: str) -> dict[str, str]:
        verifiers = list(self.by_name.values())
        if len(verifiers) == 1:
            return await verifiers[0].form(request, callback_base)
        for verifier in verifiers:
            if getattr(verifier, "signs_body", False) and any(request.headers.get(h) for h in verifier.headers):
                return await verifier.form(request, callback_base)
        family = [verifier for verifier in verifiers if isinstance(verifier, FormSignature)]
        if not family:
            raise HTTPException(403, "missing signature")
        return await signed_form(request, AnyOf(family), callback_base)


class AnyOf(FormSignature):
    """Several Twilio-family schemes: signed by any one of them."""

    def __init__(self, verifiers: list[FormSignature]):
        self.verifiers = verifiers
        self.headers = tuple(dict.fromkeys(header for verifier in verifiers for header in verifier.headers))

    def refusal(self, headers: Mapping[str, str], url: str, params: dict[str, str]) -> str | None:
        refusals = [verifier.refusal(headers, url, params) for verifier in self.verifiers]
        if any(refusal is None for refusal in refusals):
            return None
        # The message of a verifier whose header was present (its signature did not match), else the first.
        return next((refusal for refusal in refusals if refusal and refusal.startswith("invalid")), refusals[0])


async def signed_form(request: Request, verifier: FormSignature, callback_base: str) -> dict[str, str]:
    """The form parameters of a request the provider signed; 403 otherwise (before anything is read into the app)."""
    if not any(request.headers.get(name) for name in verifier.headers):
        raise HTTPException(403, f"missing {verifier.headers[0]}")
    params = await read_form(request)
    refusal = verifier.refusal(request.headers, public_url(request, callback_base), params)
    if refusal is not None:
        raise HTTPException(403, refusal)
    return params
