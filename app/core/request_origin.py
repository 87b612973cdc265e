"""What a request says about where it was sent and where it came from, and how much of it is believed.

The Host header, X-Forwarded-* and the client's address are written by whoever
sends the request. Callback URLs handed to the provider must never come from
them (a forged Host would send the provider's TwiML fetches and status
callbacks to a server of the sender's choosing), so the base of every callback
URL is configuration (PUBLIC_BASE_URL), the address `serve` bound, or the
socket the request arrived on (the ASGI scope's "server", which the client
cannot change).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse

# A DNS name is at most 253 characters; with a port and IPv6 brackets, 300 is generous.
MAX_HOST = 300
# An IP address (v4, v6 with a zone) or a host name, as a client address can be.
CLIENT_ADDRESS = re.compile(r"[0-9A-Za-z.:%_-]{1,64}")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_UNSPECIFIED = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def http_base(host: str, port: int | None) -> str:
    """http://host:port for a bound address; the wildcard address means this machine's loopback,
    since the embedded carrier that calls it runs on the same machine."""
    host = _UNSPECIFIED.get(host, host)
    default = port in (None, 80)
    return f"http://{_url_host(host)}" + ("" if default else f":{port}")


def socket_base(scope) -> str:
    """The base URL of the socket the request arrived on (not the Host header the client wrote)."""
    server = scope.get("server")
    if not server or server[1] is None:  # a Unix socket: nothing reachable over TCP to name
        return "http://127.0.0.1"
    return http_base(str(server[0]), int(server[1]))


def host_of(header: str) -> str:
    """The name in a Host header, without its port: `example.com`, `127.0.0.1`, `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.split(":", 1)[0]


def default_allowed_hosts(public_base_url: str | None, listen_url: str | None) -> tuple[str, ...]:
    hosts = list(LOOPBACK_HOSTS)
    for url in (public_base_url, listen_url):
        if url:
            hosts.append(host_of(urlsplit(url).netloc.rpartition("@")[2]))
    return tuple(dict.fromkeys(hosts))


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    for pattern in allowed:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


class TrustedHostMiddleware:
    """400 for a request whose Host is not one of ours, or is absurdly long (`*` lifts only the first).

    Starlette's own middleware splits the port off at the first colon, which
    cuts an IPv6 literal to "[": this one knows brackets.
    """

    def __init__(self, app, allowed_hosts: tuple[str, ...]):
        self.app = app
        self.allowed = tuple(host.lower() for host in allowed_hosts)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        raw = b""
        for name, value in scope["headers"]:
            if name == b"host":
                raw = value
                break
        if len(raw) > MAX_HOST:
            return await PlainTextResponse("Host header too long", status_code=400)(scope, receive, send)
        host = host_of(raw.decode("latin-1"))
        if not host_allowed(host, self.allowed):
            return await PlainTextResponse("Invalid host header", status_code=400)(scope, receive, send)
        return await self.app(scope, receive, send)


def client_address(request) -> str:
    """The client's address, or "unknown": behind a trusted proxy uvicorn takes it from
    X-Forwarded-For, so it is checked to look like an address before it is stored or keyed on."""
    client = request.client
    host = client.host if client is not None else None
    return host if host and CLIENT_ADDRESS.fullmatch(host) else "unknown"
