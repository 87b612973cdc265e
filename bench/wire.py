"""A minimal HTTP/1.1 keep-alive client for load generation.

One asyncio Protocol per connection, requests sent as prebuilt bytes, and the
response read by Content-Length: a few microseconds of Python per request, so
a single load process can saturate a uvicorn server on the same machine
(an httpx or aiohttp client would itself be the bottleneck).
"""

from __future__ import annotations

import asyncio
import socket


class HttpError(Exception):
    pass


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.keep_alive = True  # False once the server answered `Connection: close` (gunicorn's sync workers)
        self._body_at = -1
        self._end = -1
        self._status = 0

    # asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None:
            self._parse()

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection closed: {exc or 'by the server'}"))
            self.waiter = None

    # Responses

    def _parse(self) -> None:
        if self._end < 0:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buffer[:head_end]).lower()
            try:
                self._status = int(head[9:12])
            except ValueError:
                return self._fail(f"bad status line: {head[:40]!r}")
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                if self._status in (204, 304):
                    length = 0
                else:
                    return self._fail("response without Content-Length")
            else:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17: stop if stop >= 0 else None])
            if b"\r\nconnection: close" in head:
                self.keep_alive = False
            self._body_at = head_end + 4
            self._end = self._body_at + length
        if len(self.buffer) >= self._end:
            body = bytes(self.buffer[self._body_at: self._end])
            del self.buffer[: self._end]
            self._end = -1
            waiter, self.waiter = self.waiter, None
            waiter.set_result((self._status, body))

    def _fail(self, why: str) -> None:
        waiter, self.waiter = self.waiter, None
        waiter.set_exception(HttpError(why))
        self.transport.close()

    # Requests

    def send(self, data: bytes) -> asyncio.Future:
        if self.closed:
            raise HttpError("connection is closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Client:
    """One keep-alive connection, opened again when the server closed it while idle or said it would."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.conn: Connection | None = None

    async def send(self, data: bytes) -> tuple[int, bytes]:
        if self.conn is None or self.conn.closed or not self.conn.keep_alive:
            if self.conn is not None:
                self.conn.close()
            self.conn = await connect(self.host, self.port)
        try:
            return await self.conn.send(data)
        except HttpError:
            self.conn = None
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


async def connect(host: str, port: int) -> Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(Connection, host, port)
    return protocol


def request_bytes(method: str, host: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def fetch(host: str, port: int, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """One request on a connection of its own (for control calls, not for load)."""
    conn = await connect(host, port)
    try:
        return await asyncio.wait_for(conn.send(request_bytes(method, f"{host}:{port}", path, body, headers)), timeout)
    finally:
        conn.close()
