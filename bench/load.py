"""The load generator: a process of its own, so its CPU is not counted as the server's.

    python -m bench.load SPEC.json

Modes (SPEC's "mode"):

- closed: a fixed number of keep-alive connections, each sending its next
  request as soon as the previous answer arrived, for `duration` seconds
  after `warmup` seconds (or until the prebuilt requests run out);
- rate:   open loop, one trigger every 1/rate seconds for `duration` seconds;
- burst:  `count` triggers at the same instant, one connection each;
- e2e:    rings the access number from the carrier's handsets, keeping
  `in_flight` callbacks under way, until `total` requests have ended.

Progress lines and the result are JSON lines on stdout; the last one is
{"result": ...}. Every mode stops by itself (bounded in count and time).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time

from bench import scenario as sc
from bench import wire

HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "User-Agent": "TwilioProxy/1.1",
    "Accept": "*/*",
}


def emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def latency_summary(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {
        "p50_ms": _ms(percentile(ordered, 50)),
        "p90_ms": _ms(percentile(ordered, 90)),
        "p99_ms": _ms(percentile(ordered, 99)),
        "max_ms": _ms(ordered[-1] if ordered else None),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


# Requests -----------------------------------------------------------------


def _check_signing() -> None:
    from twilio.request_validator import RequestValidator

    params = sc.trigger_params(1)
    url = "http://127.0.0.1:1/twilio/voice"
    if sc.sign(url, params) != RequestValidator(sc.AUTH_TOKEN).compute_signature(url, params):
        raise SystemExit("bench signing disagrees with the twilio SDK")


def trigger_requests(spec: dict, count: int) -> list[bytes]:
    """`count` trigger webhooks, each a new CallSid from a caller of its own, signed over the public URL."""
    url = spec["public_base"] + "/twilio/voice"
    host = f"{spec['host']}:{spec['port']}"
    first = spec.get("first_caller", 0)
    out = []
    for n in range(first, first + count):
        params = sc.trigger_params(n)
        headers = dict(HEADERS, **{"X-Twilio-Signature": sc.sign(url, params)})
        out.append(wire.request_bytes("POST", host, "/twilio/voice", sc.form(params), headers))
    return out


def pin_requests(spec: dict) -> list[bytes]:
    """One PIN <Gather> action per prepared request: [id, leg A sid, leg A number, digits typed]."""
    with open(spec["legs_file"]) as f:
        legs = json.load(f)
    host = f"{spec['host']}:{spec['port']}"
    out = []
    for request_id, sid, number, digits in legs:
        path = f"/legs/{request_id}/pin"
        params = sc.pin_params(leg_a_sid=sid, leg_a_number=number, pin=digits)
        headers = dict(HEADERS, **{"X-Twilio-Signature": sc.sign(spec["public_base"] + path, params)})
        out.append(wire.request_bytes("POST", host, path, sc.form(params), headers))
    return out


class Tally:
    def __init__(self, expect: bytes | None):
        self.expect = expect
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.unexpected = 0
        self.errors = 0
        self.samples: list[str] = []

    def note(self, status: int, body: bytes, seconds: float) -> None:
        self.latencies.append(seconds)
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if status != 200 or (self.expect is not None and self.expect not in body):
            self.unexpected += 1
            if len(self.samples) < 3:
                self.samples.append(f"{status} {body[:300]!r}")

    def failed(self, exc: Exception) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(f"{type(exc).__name__}: {exc}")

    def summary(self) -> dict:
        return {"responses": len(self.latencies), "statuses": self.statuses, "unexpected": self.unexpected,
                "errors": self.errors, "samples": self.samples, **latency_summary(self.latencies)}


# Modes --------------------------------------------------------------------


async def closed(spec: dict) -> dict:
    if spec["kind"] == "trigger":
        requests = trigger_requests(spec, spec["max_requests"])
    else:
        requests = pin_requests(spec)
    cycle = spec.get("cycle", False)
    expect = spec.get("expect")
    host, port = spec["host"], spec["port"]
    conns = [await wire.connect(host, port) for _ in range(spec["connections"])]
    tally = Tally(expect.encode() if expect else None)
    warm = Tally(None)
    state = {"next": 0}
    total = len(requests)
    loop_clock = time.perf_counter
    start = loop_clock()
    measure_from = start + spec["warmup"]
    end = measure_from + spec["duration"]
    cpu_at = {}

    async def worker(conn: wire.Connection) -> None:
        while True:
            now = loop_clock()
            if now >= end:
                return
            i = state["next"]
            if i >= total:
                if not cycle:
                    return
                i %= total
            state["next"] += 1
            try:
                if not conn.keep_alive:
                    # The server closes after each answer (gunicorn's sync workers): a new connection,
                    # counted in this request's time, as a client of such a server pays for it.
                    conn.close()
                    conn = await wire.connect(host, port)
                status, body = await conn.send(requests[i])
            except (wire.HttpError, OSError) as exc:
                (tally if now >= measure_from else warm).failed(exc)
                conn.close()
                conn = await wire.connect(host, port)
                continue
            done = loop_clock()
            if now >= measure_from and done <= end:
                tally.note(status, body, done - now)
            elif now < measure_from:
                warm.note(status, body, done - now)

    async def mark_cpu() -> None:
        await asyncio.sleep(max(0.0, measure_from - loop_clock()))
        cpu_at["start"] = (time.time(), cpu_seconds())
        emit({"mark": "start"})  # the orchestrator reads the server's CPU time here

    marker = asyncio.create_task(mark_cpu())
    await asyncio.gather(*(worker(c) for c in conns))
    await marker
    finished = min(loop_clock(), end)
    wall_end, cpu_end = time.time(), cpu_seconds()
    emit({"mark": "end"})
    for conn in conns:
        conn.close()
    elapsed = max(1e-9, finished - measure_from)
    summary = tally.summary()
    summary.update(
        rps=round(summary["responses"] / elapsed, 1), seconds=round(elapsed, 3), sent=state["next"],
        ran_out=state["next"] >= total and not cycle, warmup_responses=len(warm.latencies),
        warmup_errors=warm.errors + warm.unexpected, load_cpu_seconds=round(cpu_end - cpu_at["start"][1], 3),
        window=[cpu_at["start"][0], wall_end],
    )
    return summary


async def rate(spec: dict) -> dict:
    """Open loop: trigger i is sent at start + i/rate, whatever the earlier ones are doing."""
    count = int(spec["rate"] * spec["duration"])
    requests = trigger_requests(spec, count)
    host, port = spec["host"], spec["port"]
    idle: list[wire.Connection] = [await wire.connect(host, port) for _ in range(8)]
    opened = len(idle)
    tally = Tally(b"<Reject")
    late = 0
    tasks = set()

    async def one(conn: wire.Connection, data: bytes) -> None:
        sent = time.perf_counter()
        try:
            status, body = await conn.send(data)
        except (wire.HttpError, OSError) as exc:
            tally.failed(exc)
            conn.close()
            return
        tally.note(status, body, time.perf_counter() - sent)
        idle.append(conn)

    wall_start, cpu_start = time.time(), cpu_seconds()
    start = time.perf_counter()
    for i, data in enumerate(requests):
        delay = start + i / spec["rate"] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late += 1
        if idle:
            conn = idle.pop()
        elif opened < spec.get("max_connections", 256):
            conn = await wire.connect(host, port)
            opened += 1
        else:
            while not idle:
                await asyncio.sleep(0.001)
            conn = idle.pop()
        task = asyncio.create_task(one(conn, data))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_for = time.perf_counter() - start
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    for conn in idle:
        conn.close()
    summary = tally.summary()
    summary.update(sent=len(requests), offered_rate=round(len(requests) / max(sent_for, 1e-9), 2), late=late,
                   connections=opened, window=[wall_start, time.time()],
                   load_cpu_seconds=round(cpu_seconds() - cpu_start, 3))
    return summary


async def burst(spec: dict) -> dict:
    requests = trigger_requests(spec, spec["count"])
    conns = [await wire.connect(spec["host"], spec["port"]) for _ in requests]
    tally = Tally(b"<Reject")
    sent_at = time.time()

    async def one(conn, data):
        started = time.perf_counter()
        try:
            status, body = await conn.send(data)
            tally.note(status, body, time.perf_counter() - started)
        except (wire.HttpError, OSError) as exc:
            tally.failed(exc)
        finally:
            conn.close()

    await asyncio.gather(*(one(c, d) for c, d in zip(conns, requests)))
    return dict(tally.summary(), sent=len(requests), sent_at=sent_at)


METRIC_LINE = re.compile(r'^callback_requests\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)$', re.MULTILINE)
LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_counts(text: str) -> dict[str, dict[str, int]]:
    """{state: {reason: count}} from the app's /metrics."""
    counts: dict[str, dict[str, int]] = {}
    for match in METRIC_LINE.finditer(text):
        labels = dict(LABEL.findall(match["labels"]))
        counts.setdefault(labels.get("state", ""), {})[labels.get("reason", "")] = int(float(match["value"]))
    return counts


async def e2e(spec: dict) -> dict:
    """Ring the access number from scripted handsets and count requests that ended.

    Callbacks are kept under way by the carrier's count of callback legs ended (`/_bench/ended`, read
    every `poll` seconds): the app's /metrics counts are kept for seconds per worker, and pacing on them
    would leave far fewer than `in_flight` callbacks under way. /metrics is read every `scrape` seconds,
    for the requests that end without a leg (the larger of the two counts is taken).
    """
    carrier = (spec["carrier_host"], spec["carrier_port"])
    app = (spec["app_host"], spec["app_port"])
    total, in_flight = spec["total"], spec["in_flight"]
    checkpoints = sorted(spec.get("checkpoints", []))
    deadline = time.perf_counter() + spec["timeout"]
    first = spec.get("first_caller", 0)
    poll, scrape_every = spec.get("poll", 0.05), spec.get("scrape", 1.0)
    ring_conns = [wire.Client(*carrier) for _ in range(4)]
    ended_conn = wire.Client(*carrier)
    metrics_conn = wire.Client(*app)
    ring_failures = 0
    samples: list[str] = []
    rung = 0
    next_caller = 0
    counts: dict = {}
    marks = []

    async def ring(conn: wire.Client, n: int) -> None:
        nonlocal ring_failures
        body = json.dumps({"from": sc.caller(first + n), "to": sc.PIN_NUMBER}).encode()
        data = wire.request_bytes("POST", f"{carrier[0]}:{carrier[1]}", "/_sandbox/ring", body,
                                  {"Content-Type": "application/json"})
        try:
            status, answer = await conn.send(data)
        except (wire.HttpError, OSError) as exc:
            status, answer = 0, str(exc).encode()
        if status != 201:
            ring_failures += 1
            if len(samples) < 3:
                samples.append(f"ring {status} {answer[:200]!r}")
            return False
        return True

    async def get(conn: wire.Client, host: tuple, path: str) -> bytes:
        data = wire.request_bytes("GET", f"{host[0]}:{host[1]}", path)
        try:
            status, body = await conn.send(data)
        except (wire.HttpError, OSError):
            status, body = await conn.send(data)  # reopened: a GET may be sent again
        if status != 200:
            raise wire.HttpError(f"{path} answered {status}: {body[:200]!r}")
        return body

    def ended(c: dict) -> tuple[int, int]:
        return sum(c.get("completed", {}).values()), sum(c.get("failed", {}).values())

    wall_start, cpu_start = time.time(), cpu_seconds()
    started = time.perf_counter()
    done = legs = completed = failed = 0
    scrape_failures = 0
    next_scrape = started
    while True:
        now = time.perf_counter()
        if now >= next_scrape:
            next_scrape = now + scrape_every
            try:
                counts = request_counts((await get(metrics_conn, app, "/metrics")).decode())
            except (wire.HttpError, OSError) as exc:
                # A busy app may fail a scrape now and then; the counts come with the next one.
                scrape_failures += 1
                if len(samples) < 5:
                    samples.append(f"scrape: {exc}")
            completed, failed = ended(counts)
        try:
            legs = json.loads(await get(ended_conn, carrier, "/_bench/ended"))["ended"]
        except (wire.HttpError, OSError, ValueError) as exc:
            scrape_failures += 1
            if len(samples) < 5:
                samples.append(f"carrier: {exc}")
        if scrape_failures > 100:
            break
        done = max(legs, completed + failed)
        now = time.perf_counter()
        while checkpoints and done >= checkpoints[0]:
            mark = {"checkpoint": checkpoints.pop(0), "ended": done, "completed": completed, "failed": failed,
                    "t": round(now - started, 3), "wall": time.time(), "load_cpu_seconds": cpu_seconds() - cpu_start}
            marks.append(mark)
            emit(mark)
        if done >= total or now >= deadline or ring_failures > 100:
            break
        want = min(total - rung, in_flight - (rung - done))
        for i in range(max(0, want)):
            if await ring(ring_conns[i % len(ring_conns)], next_caller):
                rung += 1
            next_caller += 1
        await asyncio.sleep(poll)
    elapsed = time.perf_counter() - started
    final = {"checkpoint": "final", "ended": done, "completed": completed, "failed": failed,
             "t": round(elapsed, 3), "wall": time.time(), "load_cpu_seconds": cpu_seconds() - cpu_start}
    marks.append(final)
    emit(final)
    for conn in ring_conns + [ended_conn, metrics_conn]:
        conn.close()
    return {"rung": rung, "ended": done, "legs_ended": legs, "completed": completed, "failed": failed,
            "by_state": counts, "timed_out": done < total, "seconds": round(elapsed, 3),
            "ring_failures": ring_failures, "scrape_failures": scrape_failures,
            "samples": samples, "marks": marks, "window": [wall_start, time.time()],
            "load_cpu_seconds": round(cpu_seconds() - cpu_start, 3)}


MODES = {"closed": closed, "rate": rate, "burst": burst, "e2e": e2e}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        spec = json.load(f)
    _check_signing()
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    result = runner(MODES[spec["mode"]](spec))
    emit({"result": result})


if __name__ == "__main__":
    main()
