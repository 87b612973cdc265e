"""The Twilio adapter of app/providers/interface.py: create, fetch and end a call, send an SMS,
fetch and delete a call recording.

Twilio and the sandbox carrier are reached the same way, through the twilio
SDK's async REST client with its base URL set from TWILIO_API_BASE (SignalWire,
whose Compatibility API is a copy of it, through a subclass: signalwire.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import aiohttp
import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from app.core.ids import is_provider_id
from app.providers import call_fields
from app.providers.interface import (Credentials, ProviderCall, ProviderError, ProviderTimeout, RecordingMedia,
                                     error_kind)

__all__ = ["Credentials", "ProviderCall", "ProviderError", "ProviderTimeout", "TwilioProvider", "error_kind",
           "is_not_found", "provider_call"]

MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}
MEDIA_CHUNK = 64 * 1024

# Status callback events asked for on every leg we create.
LEG_EVENTS = ["initiated", "ringing", "answered", "completed"]


def is_not_found(exc: BaseException) -> bool:
    """Twilio says it has no such resource: HTTP 404 with its error 20404.

    The error code is required too: a 404 without it may be a wrong API base
    or a proxy, which says nothing about the call.
    """
    return isinstance(exc, ProviderError) and exc.status == 404 and exc.code == 20404


def _utc(value) -> dt.datetime | None:
    # The SDK parses RFC 2822 times into aware datetimes, and leaves what it cannot parse as given.
    if not isinstance(value, dt.datetime):
        return None
    return call_fields.naive_utc(value)


def provider_call(call) -> ProviderCall:
    """A ProviderCall from the SDK's CallInstance."""
    return ProviderCall(sid=call.sid, status=str(call.status or ""), duration=call_fields.seconds(call.duration),
                        price=call_fields.price(call.price), price_unit=call_fields.unit(call.price_unit),
                        start_time=_utc(call.start_time), end_time=_utc(call.end_time))


class TwilioProvider:  # implements interface.Provider
    """Twilio's 2010-04-01 REST API; app/providers/signalwire.py reuses it for SignalWire's copy of it."""

    name = "twilio"
    # Twilio caps a call's length on creation (TimeLimit); not every compatible API takes it.
    takes_time_limit = True

    def __init__(self, credentials: Credentials, *, timeout: float = 10.0):
        self.credentials = credentials
        self.timeout = timeout
        self.http = AsyncTwilioHttpClient()
        self.client = Client(credentials.account_sid, credentials.auth_token, http_client=self.http)
        self.client.api.base_url = credentials.api_base

    async def _call(self, coro):
        try:
            return await asyncio.wait_for(coro, self.timeout)
        except asyncio.TimeoutError:
            raise ProviderTimeout(f"no answer from the provider within {self.timeout:g} s") from None
        except TwilioRestException as exc:
            retryable = exc.status >= 500 or exc.status == 429 or exc.code == 20429
            # With no error body (a proxy's page), the SDK gives the HTTP status as the code; API codes
            # are five digits, so that one is no code at all.
            code = exc.code if exc.code != exc.status else None
            error = ProviderError(exc.msg or str(exc), code=code, status=exc.status, retryable=retryable)
            error.not_found = self.not_found(error)
            raise error from None
        except (aiohttp.ClientConnectionError, ConnectionError, OSError) as exc:
            # Refused or reset before a response: the request did not take effect.
            raise ProviderError(f"provider unreachable: {exc}", retryable=True) from None

    async def create_call(self, *, to: str, from_: str, url: str, status_callback: str, timeout: int,
                          time_limit: int | None = None, machine_detection: bool = False) -> str:
        kwargs = dict(
            to=to, from_=from_, url=url, method="POST", status_callback=status_callback,
            status_callback_event=LEG_EVENTS, status_callback_method="POST", timeout=timeout,
        )
        if time_limit and self.takes_time_limit:
            kwargs["time_limit"] = time_limit
        if machine_detection:
            kwargs["machine_detection"] = "Enable"
        call = await self._call(self.client.calls.create_async(**kwargs))
        return call.sid

    async def fetch_call(self, sid: str) -> ProviderCall:
        """The provider's record of a call: status, duration and, once rated, its price."""
        return provider_call(await self._call(self.client.calls(sid).fetch_async()))

    async def end_call(self, sid: str) -> None:
        await self._call(self.client.calls(sid).update_async(status="completed"))

    async def send_sms(self, *, to: str, from_: str, body: str) -> str:
        message = await self._call(self.client.messages.create_async(to=to, from_=from_, body=body))
        return message.sid

    def _recording_path(self, sid: str) -> str:
        # Ids are opaque, but one goes into a URL path here: only the characters a provider id is made of.
        if not is_provider_id(sid):
            raise ProviderError(f"not a recording id: {sid[:70]!r}", retryable=False, not_found=True)
        return f"{self.credentials.api_base}/2010-04-01/Accounts/{self.credentials.account_sid}/Recordings/{sid}"

    async def fetch_recording_media(self, sid: str, *, audio_format: str = "mp3") -> RecordingMedia:
        """The audio from the configured API base, never from a URL a webhook named, with the account's
        credentials; Twilio answers with a redirect to storage, which httpx follows without them."""
        if audio_format not in MEDIA_TYPES:
            raise ValueError(f"audio_format is one of {', '.join(MEDIA_TYPES)}")
        url = f"{self._recording_path(sid)}.{audio_format}"
        client = httpx.AsyncClient(auth=(self.credentials.account_sid, self.credentials.auth_token),
                                   follow_redirects=True, timeout=self.timeout)
        try:
            response = await client.send(client.build_request("GET", url), stream=True)
        except httpx.TimeoutException:
            await client.aclose()
            raise ProviderTimeout(f"no answer from the provider within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            await client.aclose()
            raise ProviderError(f"provider unreachable: {exc}", retryable=True) from None
        if response.status_code != 200:
            body = await response.aread()
            await response.aclose()
            await client.aclose()
            code = _error_code(body)
            error = ProviderError(f"recording media: HTTP {response.status_code}", code=code,
                                  status=response.status_code, retryable=response.status_code >= 500)
            error.not_found = is_not_found(error)
            raise error

        async def chunks():
            try:
                async for chunk in response.aiter_bytes(MEDIA_CHUNK):
                    yield chunk
            finally:
                await response.aclose()
                await client.aclose()

        length = response.headers.get("content-length")
        return RecordingMedia(content_type=MEDIA_TYPES[audio_format], chunks=chunks(),
                              length=int(length) if length and length.isdigit() else None)

    async def delete_recording(self, sid: str) -> None:
        self._recording_path(sid)
        await self._call(self.client.recordings(sid).delete_async())
    @staticmethod
    def not_found(error: ProviderError) -> bool:
        return is_not_found(error)

    async def aclose(self) -> None:
        await self.http.close()


def _error_code(body: bytes) -> int | None:
    """Twilio's error code from an error body ({"code": 20404, ...}), if it is one."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None
