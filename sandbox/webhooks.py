"""Signed requests from the carrier to the application, and a log of each one.

Every request carries `X-Twilio-Signature`, computed exactly as Twilio does
(as the SDK's RequestValidator checks it): HMAC-SHA1 over the URL plus the
sorted POST parameters, or over the full URL with its query string for GET. In SignalWire's dialect
the same signature, keyed by the signing key, is also in X-SignalWire-Signature.
Given a `signer` (the Telnyx dialect, telnyx.py), requests are signed its way
instead: over the body bytes, which are then sent exactly as signed.

Requests to plain-HTTP URLs go through the carrier's own client (http_client.py),
the rest (HTTPS, or the client given, an ASGI transport in tests) through httpx.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import ssl
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from . import errors
from . import http_client
from .clock import Clock
from .dialects import TWILIO, Dialect

USER_AGENT_TELNYX = "Telnyx Webhooks"
# Webhook connection pools, and connections kept in each (see Webhooks.client).
POOLS = 16
POOL_CONNECTIONS = 8
# An idle connection is closed after this many seconds, well before the application's server closes it
# (uvicorn's keep-alive is 5 s): a request sent on a connection the server is closing at that moment
# fails with a ReadError, and the webhook is lost.
KEEPALIVE_SECONDS = 2.0


class WebhookError(Exception):
    def __init__(self, code: int, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code


@dataclass
class Delivery:
    at: datetime
    # voice | voice-fallback | gather | dial-action | redirect | whisper | status | recording-status | sms
    # | message-status
    kind: str
    method: str
    url: str
    params: dict
    call_sid: str | None = None
    status_code: int | None = None
    error: str | None = None
    body: str | None = None

    def json(self) -> dict:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "method": self.method,
            "url": self.url,
            "params": self.params,
            "call_sid": self.call_sid,
            "status_code": self.status_code,
            "error": self.error,
        }


class Webhooks:
    def __init__(
        self,
        auth_token: str,
        clock: Clock,
        timeout: float = 15.0,
        client: httpx.AsyncClient | None = None,
        log_limit: int = 10_000,
        *,
        dialect: Dialect = TWILIO,
        signer=None,
    ):
        self.key = auth_token  # what signs: the auth token, or a signing key
        self.dialect = dialect
        self.signer = signer  # has .headers(body) -> dict; None: the dialect's HMAC signature headers
        self.clock = clock
        self.timeout = timeout
        # Bounded so a long benchmark run does not grow without limit.
        self.log: deque[Delivery] = deque(maxlen=log_limit)
        self._client = client  # given (an ASGI transport in tests), it carries every webhook
        self._pools: list[httpx.AsyncClient] = []
        self._plain = http_client.Client(keepalive=KEEPALIVE_SECONDS)

    def client(self, call_sid: str | None = None) -> httpx.AsyncClient:
        """The client that carries this call's webhooks.

        httpcore's pool looks at every connection it holds for each request it sends,
        so one pool big enough for every handset under way would cost more CPU per
        webhook the more calls there are. Calls are spread over a few small pools
        instead; a call's webhooks come one after another, so each reuses a connection.
        """
        if self._client is not None:
            return self._client
        # Created on first use so that they bind to the loop that serves the carrier.
        if not self._pools:
            limits = httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS,
                                  keepalive_expiry=KEEPALIVE_SECONDS)
            self._pools = [httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, verify=_tls(), limits=limits)
                           for _ in range(POOLS)]
        return self._pools[zlib.crc32((call_sid or "").encode()) % POOLS]

    @property
    def key(self) -> str:
        return self._key

    @key.setter
    def key(self, value: str) -> None:
        self._key, self._key_bytes = value, value.encode()

    def sign(self, url: str, params: dict) -> str:
        """Twilio's signature: the URL and each parameter's name and value in the names' order."""
        data = url + "".join(name + params[name] for name in sorted(params))
        return base64.b64encode(hmac.new(self._key_bytes, data.encode(), hashlib.sha1).digest()).decode()

    async def request(
        self, kind: str, url: str, params: dict, method: str = "POST", call_sid: str | None = None
    ) -> httpx.Response | http_client.Response:
        """Send one webhook; raise WebhookError unless it answers 2xx in time."""
        params = {k: "" if v is None else str(v) for k, v in params.items()}
        delivery = Delivery(self.clock.now(), kind, method, url, params, call_sid)
        self.log.append(delivery)
        if self.signer is not None:
            body = b"" if method == "GET" else urlencode(params).encode()
            url = _with_query(url, params) if method == "GET" else url
            headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT_TELNYX,
                       "Accept": "*/*", **self.signer.headers(body)}
            send = dict(url=url, content=body)
        else:
            if method == "GET":
                url = _with_query(url, params)
                signature = self.sign(url, {})
                send = dict(url=url)
            else:
                signature = self.sign(url, params)
                send = dict(url=url, data=params)
            headers = {name: signature for name in self.dialect.signature_headers}
            headers.update({"User-Agent": self.dialect.user_agent, "Accept": "*/*"})
        return await self._send(delivery, method, headers, send, call_sid)

    async def post_json(self, kind: str, url: str, payload: dict) -> httpx.Response | http_client.Response:
        """A JSON event (Telnyx's Messaging webhooks), signed by `signer`."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = Delivery(self.clock.now(), kind, "POST", url, payload)
        self.log.append(delivery)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT_TELNYX, "Accept": "*/*",
                   **(self.signer.headers(body) if self.signer is not None else {})}
        return await self._send(delivery, "POST", headers, dict(url=url, content=body), None)

    async def _send(self, delivery: Delivery, method: str, headers: dict, send: dict,
                    call_sid: str | None) -> httpx.Response | http_client.Response:
        url = send["url"]
        if self._client is None and self._plain.handles(url):
            return await self._send_plain(delivery, method, headers, send)
        try:
            response = await self.client(call_sid).request(method, headers=headers, timeout=self.timeout, **send)
        except httpx.TimeoutException:
            delivery.error = f"no answer within {self.timeout:g}s"
            raise WebhookError(errors.HTTP_RETRIEVAL_FAILURE, f"{url}: {delivery.error}") from None
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
            raise WebhookError(errors.HTTP_RETRIEVAL_FAILURE, f"{url}: {delivery.error}") from None
        return self._answered(delivery, response, url)

    async def _send_plain(self, delivery: Delivery, method: str, headers: dict, send: dict) -> http_client.Response:
        url = send["url"]
        if "data" in send:
            body = urlencode(send["data"]).encode()
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        else:
            body = send.get("content", b"")
        try:
            response = await self._plain.request(method, url, headers=headers, body=body, timeout=self.timeout)
        except TimeoutError:
            delivery.error = f"no answer within {self.timeout:g}s"
            raise WebhookError(errors.HTTP_RETRIEVAL_FAILURE, f"{url}: {delivery.error}") from None
        except (http_client.HttpError, OSError) as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
            raise WebhookError(errors.HTTP_RETRIEVAL_FAILURE, f"{url}: {delivery.error}") from None
        return self._answered(delivery, response, url)

    @staticmethod
    def _answered(delivery: Delivery, response, url: str):
        delivery.status_code = response.status_code
        delivery.body = response.text[:2000]
        if not 200 <= response.status_code < 300:
            delivery.error = f"HTTP {response.status_code}"
            raise WebhookError(errors.HTTP_RETRIEVAL_FAILURE, f"{url}: HTTP {response.status_code}", response.status_code)
        return response

    async def aclose(self) -> None:
        await self._plain.aclose()
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.aclose()


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle blocks the loop for tens of milliseconds, which a
    # fast clock turns into tens of virtual seconds: do it once per process.
    return httpx.create_ssl_context()


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
