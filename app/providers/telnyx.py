"""The Telnyx adapter of app/providers/interface.py: TeXML calls and the Messaging API.

Requests are the JSON (and, for a call update, form) bodies Telnyx's API
reference gives, sent with httpx and Bearer auth; tests/providers/specs/ keeps
the subset relied on, with its source. The `telnyx` SDK is not used: its
client retries a request that timed out by default, which could place a call
twice behind the dispatcher's own retry budget, and everything used here is
four plain requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from urllib.parse import quote

import httpx

from app.core.settings import Settings
from app.providers import call_fields
from app.providers.interface import ProviderCall, ProviderError, ProviderTimeout

# Status callback events asked for on every leg (TeXML takes them space-separated, as Twilio's SDK sends them).
LEG_EVENTS = "initiated ringing answered completed"


def _utc(value) -> dt.datetime | None:
    """TeXML's call resource gives RFC 2822 times ("Thu, 15 Jun 2023 09:56:45 +0000"); naive UTC out."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return call_fields.naive_utc(parsed)


def provider_call(resource: dict) -> ProviderCall:
    """A ProviderCall from TeXML's call resource (Twilio's field names, Telnyx's `v3:` sids)."""
    return ProviderCall(sid=str(resource.get("sid") or resource.get("call_sid") or ""),
                        status=str(resource.get("status") or ""),
                        duration=call_fields.seconds(resource.get("duration")),
                        price=call_fields.price(resource.get("price")),
                        price_unit=call_fields.unit(resource.get("price_unit")),
                        start_time=_utc(resource.get("start_time")), end_time=_utc(resource.get("end_time")))


def _error(response: httpx.Response) -> ProviderError:
    """Telnyx's error body: {"errors": [{"code": "10005", "title": ..., "detail": ...}]}."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = str(first.get("code") or "")
    message = first.get("detail") or first.get("title") or f"HTTP {response.status_code}"
    status = response.status_code
    return ProviderError(str(message), code=int(code) if code.isdigit() else None, status=status,
                         retryable=status >= 500 or status == 429,
                         # Telnyx's own error body, not a proxy's 404: the call is certainly unknown to it.
                         not_found=status == 404 and bool(first))


class TelnyxProvider:  # implements interface.Provider
    name = "telnyx"

    def __init__(self, *, api_key: str, api_base: str, account_sid: str, application_id: str,
                 timeout: float = 10.0):
        self.account_sid = account_sid
        self.application_id = application_id
        self.timeout = timeout
        self.http = httpx.AsyncClient(base_url=api_base.rstrip("/"), timeout=timeout, follow_redirects=False,
                                      headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

    def _call_path(self, sid: str | None = None) -> str:
        path = f"/texml/Accounts/{quote(self.account_sid, safe='')}/Calls"
        return path if sid is None else f"{path}/{quote(sid, safe=':')}"

    async def _request(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = await asyncio.wait_for(self.http.request(method, path, **kwargs), self.timeout)
        except (asyncio.TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            raise ProviderTimeout(f"no answer from Telnyx within {self.timeout:g} s") from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Refused or never connected: the request did not take effect.
            raise ProviderError(f"provider unreachable: {exc}", retryable=True) from None
        except httpx.HTTPError as exc:
            raise ProviderTimeout(f"no usable answer from Telnyx: {exc}") from None
        if response.status_code >= 400:
            raise _error(response)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(f"Telnyx answered HTTP {response.status_code} without JSON", status=response.status_code,
                                retryable=False) from None
        if not isinstance(body, dict):
            raise ProviderError("Telnyx answered with JSON that is not an object", retryable=False)
        # The Messaging API wraps its resource in "data"; TeXML's call resources are flat.
        return body["data"] if isinstance(body.get("data"), dict) else body

    async def create_call(self, *, to: str, from_: str, url: str, status_callback: str, timeout: int,
                          time_limit: int | None = None, machine_detection: bool = False) -> str | None:
        # TeXML's create takes neither Timeout nor TimeLimit: leg A rings for the TeXML application's
        # time, and its length is bounded by the IVR (each step times out) and the <Dial timeLimit>.
        body = {"ApplicationSid": self.application_id, "To": to, "From": from_, "Url": url, "UrlMethod": "POST",
                "StatusCallback": status_callback, "StatusCallbackEvent": LEG_EVENTS,
                "StatusCallbackMethod": "POST"}
        if machine_detection:
            body["MachineDetection"] = "Enable"
        created = await self._request("POST", self._call_path(), json=body)
        # The documented answer is {"from", "to", "status": "queued"}, without the call's id: the leg's
        # first webhook (its "initiated" status callback) names it, and the engine attaches it then.
        sid = created.get("call_sid") or created.get("sid")
        return sid if isinstance(sid, str) and sid else None

    async def fetch_call(self, sid: str) -> ProviderCall:
        return provider_call(await self._request("GET", self._call_path(sid)))

    async def end_call(self, sid: str) -> None:
        # TeXML's update takes a form body, as Twilio's does.
        await self._request("POST", self._call_path(sid), data={"Status": "completed"})

    async def send_sms(self, *, to: str, from_: str, body: str) -> str:
        message = await self._request("POST", "/messages", json={"from": from_, "to": to, "text": body})
        message_id = message.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise ProviderError("Telnyx accepted the message without an id", retryable=False)
        return message_id

    async def fetch_recording_media(self, sid: str, *, audio_format: str = "mp3"):
        # Recording on Telnyx is not wired to its Recordings API yet: the portal says the audio is unavailable.
        raise ProviderError("call recordings are not supported on Telnyx yet", retryable=False)

    async def delete_recording(self, sid: str) -> None:
        raise ProviderError("call recordings are not supported on Telnyx yet", retryable=False)

    async def aclose(self) -> None:
        await self.http.aclose()

