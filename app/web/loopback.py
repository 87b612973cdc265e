"""Pages only this machine may open: the embedded sandbox's control API (/sandbox) and the demo softphone (/demo).

They have no authentication by design (a local demo), so they answer only a client whose
socket address (the ASGI scope's "client") is loopback. The Host header proves nothing: a
remote client can write `Host: 127.0.0.1`. Behind a trusted proxy uvicorn puts the address
the proxy reports there, which is the remote client's, so such requests are refused too.
"""

from __future__ import annotations

import functools
import ipaddress

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

REFUSED = "This page is served only to this machine (loopback)."


def is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client or not isinstance(client[0], str):
        return False
    try:
        address = ipaddress.ip_address(client[0].split("%", 1)[0])
    except ValueError:
        return False  # a name, "testclient", a unix socket path: not an address on this machine's loopback
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class LoopbackOnly:
    """An ASGI app answering 403 to every client that is not on loopback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_loopback(scope):
            await PlainTextResponse(REFUSED, status_code=403)(scope, receive, send)
            return
        if scope["type"] == "websocket" and not is_loopback(scope):
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


def loopback_only(endpoint):
    """A request-response endpoint answering 403 to every client that is not on loopback."""

    @functools.wraps(endpoint)
    async def guarded(request: Request):
        if not is_loopback(request.scope):
            return PlainTextResponse(REFUSED, status_code=403)
        return await endpoint(request)

    return guarded
