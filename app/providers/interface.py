"""What the call engine knows of a voice/SMS provider: this interface, and the events of app/providers/events.py.

app/providers/twilio.py implements it for Twilio and Twilio-compatible APIs
(the sandbox carrier; signalwire.py for SignalWire), and app/providers/registry.py
builds the one PROVIDER names; the engine (app.calls, app.billing, app.fraud) imports
only this module and the events, never an adapter (import-linter checks it).
Ids and statuses are the provider's, passed through as opaque strings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import AsyncIterator, Protocol


class ProviderError(Exception):
    """The provider refused or failed a request.

    `retryable` is True only when the request certainly did not take effect
    (5xx, 429): retrying then cannot place a call twice. `not_found`: the
    provider says it has no such resource (the adapter decides what says so).
    """

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None, retryable: bool,
                 not_found: bool = False):
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable
        self.not_found = not_found


class ProviderTimeout(Exception):
    """No answer from the provider: the request may or may not have taken effect."""


def is_not_found(exc: BaseException) -> bool:
    """The provider certainly has no such call (not merely an error on the way to it)."""
    return isinstance(exc, ProviderError) and exc.not_found


def error_kind(exc: Exception) -> str:
    """The `kind` label of the provider-errors metric: the HTTP status, or what went wrong without one."""
    if isinstance(exc, ProviderTimeout):
        return "timeout"
    if isinstance(exc, ProviderError):
        return str(exc.status or "unreachable")
    return "other"


@dataclass(frozen=True)
class Credentials:
    """An account at the provider: its id, its REST token, its API's base URL, and the key that signs
    its webhooks when that is not the REST token (SignalWire's signing key)."""

    account_sid: str
    auth_token: str
    api_base: str
    signing_key: str | None = None


@dataclass(frozen=True)
class ProviderCall:
    """One call as the provider's record shows it (a fetch of the call resource).

    `price` is the provider's figure as given: Twilio states a charge as a
    negative amount ("-0.01500") and fills it in some time after the call has
    ended, so it is None until then. Times are naive UTC, like the database's.
    """

    sid: str
    status: str
    duration: int | None  # seconds, once ended
    price: Decimal | None
    price_unit: str | None  # ISO 4217, upper case
    start_time: dt.datetime | None
    end_time: dt.datetime | None


@dataclass
class RecordingMedia:
    """A recording's audio as the provider serves it: read `chunks` to the end (or close it) once."""

    content_type: str  # audio/mpeg or audio/wav
    chunks: AsyncIterator[bytes]
    length: int | None = None  # bytes, when the provider says


class Provider(Protocol):
    """The provider client: place, inspect and end calls, send texts, fetch and delete call recordings.

    Every method raises ProviderError (refused or failed) or ProviderTimeout (no answer).
    """

    async def create_call(self, *, to: str, from_: str, url: str, status_callback: str, timeout: int,
                          time_limit: int | None = None, machine_detection: bool = False) -> str:
        """Place a call whose TwiML is at `url`; its id."""

    async def fetch_call(self, sid: str) -> ProviderCall: ...

    async def end_call(self, sid: str) -> None: ...

    async def send_sms(self, *, to: str, from_: str, body: str) -> str:
        """Send a text; its id."""

    async def fetch_recording_media(self, sid: str, *, audio_format: str = "mp3") -> RecordingMedia:
        """A recording's audio ("mp3" or "wav"), fetched with the platform's provider credentials."""

    async def delete_recording(self, sid: str) -> None:
        """Delete a recording at the provider (ProviderError with not_found if it is gone already)."""

    async def aclose(self) -> None: ...
