"""The carrier's HTTP/1.1 client for webhooks to plain-HTTP URLs: kept-alive connections, little CPU.

A webhook through httpx costs the carrier about half a millisecond of CPU (its
request and response models, httpcore's pool and anyio's streams), which at
fifteen webhooks a callback is most of what the carrier does. Here a request is
written as bytes on a connection kept from the last one to the same origin, and
the answer is read by httptools' parser (the one uvicorn serves with): tens of
microseconds. HTTPS, redirects and proxies stay with httpx (webhooks.py).

A connection idle for longer than `keepalive` seconds is closed rather than
reused, well before the application's server would close it: a request sent on
a connection the server is closing at that moment fails, and its webhook is lost.
A server may also close a connection right after an answer that said it would
keep it (Starlette does after an exception): a request that finds its kept
connection closed before any byte of the answer came is sent once more, on a new
connection; the server had closed without reading it.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

IDLE_PER_ORIGIN = 256  # connections kept open per origin, beyond which an idle one is closed


class HttpError(Exception):
    """The connection failed or closed before a whole answer came."""


@dataclass
class Response:
    status_code: int
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._response: Response | None = None
        self._body: list[bytes] = []
        self.answered = False  # some of the current request's answer has come

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HttpError(f"bad answer: {exc}"))
            self.close()

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail(HttpError(f"connection closed: {exc or 'by the server'}"))

    # httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response, parser = self._response, self._parser
        response.status_code = parser.get_status_code()
        response.content = b"".join(self._body)
        keep = parser.should_keep_alive()
        self._parser = None
        waiter, self._waiter = self._waiter, None
        if not keep:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    # Use

    async def send(self, data: bytes) -> Response:
        self._response, self._body, self.answered = Response(0), [], False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self._waiter

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self._parser = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Client:
    """Requests to plain-HTTP URLs, each on an idle connection to its origin or a new one."""

    def __init__(self, *, keepalive: float = 2.0) -> None:
        self.keepalive = keepalive
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()

    @staticmethod
    def handles(url: str) -> bool:
        return url.startswith("http://")

    async def request(self, method: str, url: str, *, headers: dict[str, str], body: bytes,
                      timeout: float) -> Response:
        """Send one request; raise TimeoutError after `timeout` seconds, HttpError or OSError if it fails."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if body or method not in ("GET", "HEAD"):
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        async with asyncio.timeout(timeout):
            connection, kept = await self._connection(host, port)
            try:
                response = await self._send(connection, data)
            except HttpError:
                if not kept or connection.answered:
                    raise
                connection, _ = await self._connection(host, port, new=True)
                response = await self._send(connection, data)
        if not connection.closed:
            self._put_back((host, port), connection)
        return response

    async def _send(self, connection: _Connection, data: bytes) -> Response:
        self._busy.add(connection)
        try:
            return await connection.send(data)
        except BaseException:
            connection.close()  # cancelled, timed out or failed mid-answer: never reused
            raise
        finally:
            self._busy.discard(connection)

    async def _connection(self, host: str, port: int, *, new: bool = False) -> tuple[_Connection, bool]:
        """An idle connection to the origin, or a new one; and whether it was kept from an earlier request."""
        idle = self._idle.get((host, port))
        now = time.monotonic()
        while idle and not new:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive:
                return connection, True
            connection.close()
        _, connection = await asyncio.get_running_loop().create_connection(_Connection, host, port)
        return connection, False

    def _put_back(self, origin: tuple[str, int], connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= IDLE_PER_ORIGIN:
            idle.pop(0).close()  # the one idle longest
        idle.append(connection)  # reused last in, first out

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()
        self._busy.clear()
