"""Serving the carrier with uvicorn: in-process for tests, or standalone.

    python -m sandbox --port 8100 --voice-url http://127.0.0.1:8000/twilio/voice

`serve()` runs any ASGI app on a loopback port inside the current event
loop, which is what end-to-end tests want: the carrier, the application and
the test share one loop, so the test can both drive the carrier directly and
talk to both over real HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from decimal import Decimal
from typing import AsyncIterator

import uvicorn

from .carrier import Carrier
from .clock import Clock
from .pricing import CallPricing
from .sids import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_PROJECT_ID


@contextlib.asynccontextmanager
async def serve(app, host: str = "127.0.0.1", port: int = 0, lifespan: str = "off") -> AsyncIterator[str]:
    """Run `app` with uvicorn until the block exits; yields its base URL."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that
    # say so, and without it every response waits ~40 ms on delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # surface the startup error
            await asyncio.sleep(0.005)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        await _stop(server, task, sock)


async def _stop(server: uvicorn.Server, task: asyncio.Task, sock: socket.socket) -> None:
    # uvicorn's own exit polls every 0.1 s and then sleeps 0.1 s more; tests
    # start and stop servers by the dozen, so stop it directly: cancel the
    # main loop, close the listener and hang up on every connection.
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    for listener in server.servers:
        listener.close()
    for connection in list(server.server_state.connections):
        connection.shutdown()
    sock.close()
    for listener in server.servers:
        await listener.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="A local Twilio-compatible carrier.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--dialect", choices=("twilio", "signalwire"), default="twilio",
                        help="the provider it stands in for (signalwire: /api/laml, UUID ids, a signing key)")
    parser.add_argument("--account-sid", help="the account (SignalWire: project id); a fixed one by default")
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--signing-key", default="sandbox-signing-key", help="signs webhooks in the signalwire dialect")
    parser.add_argument("--voice-url", help="voice webhook for inbound calls to any service number")
    parser.add_argument("--sms-url", help="SMS webhook for inbound messages to any service number")
    parser.add_argument("--cps", type=float, default=1.0, help="outbound calls started per second")
    parser.add_argument("--speed", type=float, default=1.0, help="virtual seconds per real second")
    parser.add_argument("--price-per-minute", type=Decimal, default=Decimal("0.014"),
                        help="what a connected call costs per started minute")
    parser.add_argument("--price-unit", default="USD", help="the currency of call prices")
    parser.add_argument("--price-delay", type=float, default=0.0,
                        help="virtual seconds after a call ends before its price shows, as on Twilio")
    args = parser.parse_args(argv)

    signalwire = args.dialect == "signalwire"
    carrier = Carrier(
        args.account_sid or (DEFAULT_PROJECT_ID if signalwire else DEFAULT_ACCOUNT_SID),
        args.auth_token,
        dialect=args.dialect,
        signing_key=args.signing_key if signalwire else None,
        clock=Clock(speed=args.speed),
        cps=args.cps,
        voice_url=args.voice_url,
        sms_url=args.sms_url,
        pricing=CallPricing(args.price_per_minute, args.price_unit.upper(), args.price_delay),
    )
    print(f"sandbox carrier ({args.dialect}): account {carrier.account_sid}, auth token {carrier.auth_token}"
          + (f", signing key {carrier.signing_key}" if signalwire else ""))
    print(f"REST base URL: http://{args.host}:{args.port}{carrier.dialect.rest_prefix}  control API: /_sandbox/state")
    uvicorn.run(carrier.app, host=args.host, port=args.port, log_level="info")
