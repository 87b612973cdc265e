"""The sandbox carrier as a process of its own, with the benchmark's handsets.

    python -m bench.carrier --port 8100 --voice-url http://127.0.0.1:8000/twilio/voice --speed 100

Each caller's handset (bench/scenario.py) answers the callback after 0.1 s,
types its account's PIN, then its destination, then stays silent at the
"another call?" prompt; every destination answers after 0.5 s and talks for
`--talk-seconds`. The clock runs `--speed` times faster than real time.

On top of the carrier's REST and control APIs, `GET /_bench/creates` lists
the wall-clock time each Calls.create request arrived with the sid it
created (dispatch lag and pacing are measured from these),
`GET /_bench/stats` counts webhooks, their failures and their latencies, and
`GET /_bench/ended` counts the callback legs (leg A, the REST-created calls)
whose final status callback the app has answered: the load generator keeps
its callbacks under way by this count, which is never stale.
"""

from __future__ import annotations

import argparse
import json
import time

import uvicorn

from bench import scenario as sc
from sandbox import Carrier, Clock, Phone, Phones
from sandbox.calls import TERMINAL
from sandbox.webhooks import WebhookError


class BenchPhones(Phones):
    """The handsets: a script per caller from its number, the default for everyone else."""

    def __getitem__(self, number: str) -> Phone:
        account = sc.caller_account(number)
        if account is None or number in self:
            return super().__getitem__(number)
        return Phone(answer_after=0.1, keys=[sc.account_pin(account) + "#", sc.destination(account) + "#", None])


class Recorder:
    """ASGI wrapper: when each Calls.create arrived, and the bench's read-only endpoints."""

    def __init__(self, app, carrier: Carrier):
        self.app = app
        self.carrier = carrier
        self.creates: list[tuple[float, str | None, int]] = []
        self.webhooks: dict[str, list[float]] = {}
        self.failures: dict[str, int] = {}
        self.failure_samples: list[str] = []
        self.legs_ended = 0  # leg A calls whose final status callback was delivered (or given up on)
        original = carrier.webhooks.request

        async def timed(kind, url, params, method="POST", call_sid=None):
            started = time.perf_counter()
            try:
                return await original(kind, url, params, method, call_sid)
            except WebhookError as exc:
                self.failures[kind] = self.failures.get(kind, 0) + 1
                if len(self.failure_samples) < 5:
                    self.failure_samples.append(f"{kind} {url}: {exc.message}")
                raise
            finally:
                self.webhooks.setdefault(kind, []).append(time.perf_counter() - started)
                if kind == "status" and params.get("Direction") == "outbound-api" \
                        and params.get("CallStatus") in TERMINAL:
                    self.legs_ended += 1

        carrier.webhooks.request = timed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/_bench/creates":
            return await self._json(send, {"creates": self.creates})
        if path == "/_bench/ended":
            return await self._json(send, {"ended": self.legs_ended})
        if path == "/_bench/stats":
            return await self._json(send, self.stats())
        if scope["method"] == "POST" and path.endswith("/Calls.json"):
            arrived = time.time()
            body = bytearray()
            status = 0

            async def capture(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body":
                    body.extend(message.get("body", b""))
                await send(message)

            await self.app(scope, receive, capture)
            try:
                sid = json.loads(body).get("sid") if status == 201 else None
            except ValueError:
                sid = None
            self.creates.append((arrived, sid, status))
            return
        await self.app(scope, receive, send)

    def stats(self) -> dict:
        def summary(values: list[float]) -> dict:
            ordered = sorted(values)
            pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)
            return {"count": len(ordered), "p50_ms": pick(0.50), "p99_ms": pick(0.99)} if ordered else {"count": 0}

        return {
            "webhooks": {kind: summary(values) for kind, values in self.webhooks.items()},
            "failures": self.failures,
            "failure_samples": self.failure_samples,
            "carrier_errors": [repr(e) for e in self.carrier.errors[:5]],
            "calls": len(self.carrier.calls),
            "live_calls": sum(1 for c in self.carrier.calls.values() if not c.ended),
        }

    @staticmethod
    async def _json(send, payload) -> None:
        data = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.carrier")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--voice-url", required=True)
    parser.add_argument("--cps", type=float, default=1000.0)
    parser.add_argument("--speed", type=float, default=100.0)
    parser.add_argument("--talk-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    carrier = Carrier(sc.ACCOUNT_SID, sc.AUTH_TOKEN, clock=Clock(speed=args.speed), cps=args.cps,
                      voice_url=args.voice_url)
    carrier.phones = BenchPhones(Phone(answer_after=0.5, talk_seconds=args.talk_seconds))
    app = Recorder(carrier.app, carrier)
    # Idle REST connections are kept longer than the app's client keeps them (aiohttp: 15 s), as an API
    # behind a load balancer does: with uvicorn's 5 s, a create call sent as the carrier closes its
    # connection is reset, and the app fails the request over.
    uvicorn.run(app, host=args.host, port=args.port, http="httptools", access_log=False, log_level="info",
                lifespan="on", timeout_graceful_shutdown=2, timeout_keep_alive=75)


if __name__ == "__main__":
    main()
