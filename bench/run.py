"""The benchmark: `make bench` (or `python -m bench`), `--quick` for a smoke run.

For each database backend (SQLite always; PostgreSQL when BENCH_DATABASE_URL
is set) it measures, with every server a process of its own on loopback:

1. the ceiling: a bare Starlette endpoint answering constant TwiML, served as the app is;
2. the trigger webhook and the PIN step of the IVR: requests/s and latency at
   32 connections, as a fraction of the ceiling; the trigger also against two
   peers doing its core work the plain way (bench/peers/: Starlette, Flask + gunicorn);
3. dispatch lag at 50 triggers/s, and the pacing of creates at a 1 call/s provider limit;
4. complete PIN callbacks per second, end to end on the sandbox carrier, with each process's CPU;
5. the app's resident memory after warm-up and after half and all of 10,000 callbacks.

It prints one table and writes the numbers, and how they were obtained, to JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from app.data.db import sync_engine
from app.core.settings import normalize_database_url
from app.data.tables import callback_requests, events
from bench import data, procs, report
from bench import scenario as sc
from sandbox.cps import most_in_window

HERE = Path(__file__).resolve().parent
PACING_JITTER = 0.020  # seconds of arrival-time jitter tolerated by the pacing verdict

# The trigger webhook's peers (bench/peers/), in the order they run and are reported.
PEERS = ("naive_starlette", "flask_gunicorn")

FULL = dict(duration=10.0, warmup=2.0, connections=32, lag_rate=50.0, lag_seconds=10.0, pacing_triggers=10,
            callbacks=10_000, in_flight=64, speed=100.0, e2e_timeout=240.0)
QUICK = dict(duration=3.0, warmup=1.0, connections=32, lag_rate=50.0, lag_seconds=3.0, pacing_triggers=4,
             callbacks=300, in_flight=64, speed=100.0, e2e_timeout=60.0)


class Bench:
    def __init__(self, args, work_dir: Path):
        self.args = args
        self.work = work_dir
        self.p = dict(QUICK if args.quick else FULL)
        for key in ("duration", "callbacks", "connections", "in_flight", "speed", "e2e_timeout"):
            if getattr(args, key) is not None:
                self.p[key] = getattr(args, key)
        self.workers = args.workers

    # Servers ------------------------------------------------------------------

    def app_server(self, name: str, url: str, port: int, *, dispatcher: bool, carrier_url: str | None = None,
                   cps: float = 1000.0) -> procs.Server:
        env = procs.base_env(
            DATABASE_URL=url,
            TWILIO_ACCOUNT_SID=sc.ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=sc.AUTH_TOKEN,
            # Nothing listens there when the dispatcher is off: no call is ever placed.
            TWILIO_API_BASE=carrier_url or "http://127.0.0.1:9",
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            SECRET_KEY=sc.SECRET_KEY,
            DISPATCHER="on" if dispatcher else "off",
            DISPATCH_DELAY_SECONDS=0,
            PROVIDER_CPS=cps,
            DESTINATION_DAILY_LIMIT=1_000_000_000,
        )
        args = ["-m", "bench.serve", "app", "--port", str(port), "--workers", str(self.workers),
                "--http", self.args.http]
        return procs.Server(name, args, env, self.work, port, self.workers, ready_path="/healthz").wait_ready()

    def ceiling_server(self, name: str) -> procs.Server:
        port = procs.free_port()
        args = ["-m", "bench.serve", "ceiling", "--port", str(port), "--workers", str(self.workers),
                "--http", self.args.http]
        return procs.Server(name, args, procs.base_env(), self.work, port, self.workers).wait_ready()

    def peer_server(self, name: str, peer: str, url: str) -> procs.Server:
        """A peer of the trigger webhook (bench/peers/) on the database `url`, with the app's settings."""
        port = procs.free_port()
        env = procs.base_env(DATABASE_URL=url, TWILIO_AUTH_TOKEN=sc.AUTH_TOKEN,
                             PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
        if peer == "naive_starlette":
            args = ["-m", "bench.serve", "naive", "--port", str(port), "--workers", str(self.workers),
                    "--http", self.args.http]
            return procs.Server(name, args, env, self.work, port, self.workers).wait_ready()
        # gunicorn's defaults: sync workers, no access log; the same graceful stop as uvicorn's in serve.py.
        args = ["-m", "gunicorn", "--workers", str(self.workers), "--bind", f"127.0.0.1:{port}",
                "--graceful-timeout", "5", *_gunicorn_quiet(), "bench.peers.flask_app:app"]
        return procs.Server(name, args, env, self.work, port, self.workers, ready_text=b"peer worker").wait_ready()

    def carrier_server(self, name: str, app_port: int) -> procs.Server:
        port = procs.free_port()
        args = ["-m", "bench.carrier", "--port", str(port), "--voice-url", f"http://127.0.0.1:{app_port}/twilio/voice",
                "--speed", str(self.p["speed"]), "--cps", "1000"]
        return procs.Server(name, args, procs.base_env(), self.work, port, 1, ready_path="/_sandbox/state").wait_ready()

    def closed_load(self, name: str, server: procs.Server, **spec) -> dict:
        spec = dict(mode="closed", host="127.0.0.1", port=server.port, public_base=server.url,
                    connections=self.p["connections"], duration=self.p["duration"], warmup=self.p["warmup"], **spec)
        marks: dict[str, tuple[float, float]] = {}

        def mark(payload: dict, load_pid: int) -> None:
            if "mark" in payload:
                marks[payload["mark"]] = (time.time(), server.cpu())

        result = procs.run_load(spec, self.work, name, timeout=spec["duration"] + spec["warmup"] + 120, on_line=mark)
        if "start" in marks and "end" in marks and marks["end"][0] > marks["start"][0]:
            (t0, c0), (t1, c1) = marks["start"], marks["end"]
            result["server_cpu_percent"] = round(100 * (c1 - c0) / (t1 - t0), 1)
        result["load_cpu_percent"] = round(100 * result["load_cpu_seconds"] / max(result["seconds"], 1e-9), 1)
        return result

    # Phases -------------------------------------------------------------------

    def webhooks(self, dbs: data.Databases) -> dict:
        out = {}
        with self.ceiling_server(f"{dbs.backend}-ceiling") as ceiling:
            out["ceiling"] = self.closed_load(f"{dbs.backend}-ceiling-load", ceiling, kind="trigger",
                                              max_requests=5000, cycle=True, expect="<Response>")
        url = dbs.fresh()
        port = procs.free_port()
        # Enough prebuilt triggers and prepared callbacks for 6,000 and 3,000 requests/s.
        expected = int(self.p["duration"] + self.p["warmup"]) * 6000
        legs = data.answered_callbacks(url, max(2000, expected // 2), f"http://127.0.0.1:{port}")
        legs_file = self.work / f"{dbs.backend}-legs.json"
        legs_file.write_text(json.dumps(legs))
        with self.app_server(f"{dbs.backend}-app-webhooks", url, port, dispatcher=False) as app:
            out["trigger"] = self.closed_load(f"{dbs.backend}-trigger-load", app, kind="trigger",
                                              max_requests=expected, expect="<Reject")
            out["trigger"]["outbox_rows"] = self._count(url, callback_requests.c.trigger_id.like("CA%")) - len(legs)
            out["ivr_pin"] = self.closed_load(f"{dbs.backend}-ivr-load", app, kind="ivr", legs_file=str(legs_file),
                                              expect="<Gather")
            out["ivr_pin"]["prepared"] = len(legs)
            out["memory_after"] = app.memory()
            out["app_errors"] = app.log_errors()
        # The peers, with the app stopped, each on a fresh database, loaded with the same triggers.
        out["peers"] = {}
        for peer in PEERS:
            try:
                out["peers"][peer] = self.peer_trigger(dbs, peer, expected)
            except Exception as exc:  # a peer that cannot run leaves the app's numbers standing
                out["peers"][peer] = {"error": f"{type(exc).__name__}: {exc}"}
                traceback.print_exc()
        # The ceiling again after the app, on the same (possibly shared) machine: the ratios are
        # taken against the higher of the two, so a noisy first measurement cannot flatter the app.
        with self.ceiling_server(f"{dbs.backend}-ceiling-after") as ceiling:
            again = self.closed_load(f"{dbs.backend}-ceiling-load-after", ceiling, kind="trigger",
                                     max_requests=5000, cycle=True, expect="<Response>")
        out["ceiling_runs_rps"] = [out["ceiling"]["rps"], again["rps"]]
        if again["rps"] > out["ceiling"]["rps"]:
            out["ceiling"] = again
        for r in (out["trigger"], out["ivr_pin"], *out["peers"].values()):
            if "rps" in r:
                r["ratio"] = round(r["rps"] / max(out["ceiling"]["rps"], 1e-9), 3)
        naive = out["peers"].get("naive_starlette", {})
        if naive.get("rps"):
            out["trigger"]["ratio_to_naive"] = round(out["trigger"]["rps"] / naive["rps"], 3)
        return out

    def peer_trigger(self, dbs: data.Databases, peer: str, max_requests: int) -> dict:
        url = dbs.fresh()
        with self.peer_server(f"{dbs.backend}-{peer}", peer, url) as server:
            result = self.closed_load(f"{dbs.backend}-{peer}-load", server, kind="trigger",
                                      max_requests=max_requests, expect="<Reject")
            result["memory_after"] = server.memory()
            result["server_errors"] = server.log_errors()
        result["outbox_rows"] = self._scalar(url, "SELECT count(*) FROM peer_outbox")
        return result

    def lag(self, dbs: data.Databases) -> dict:
        url = dbs.fresh()
        port = procs.free_port()
        with (self.carrier_server(f"{dbs.backend}-carrier-lag", port) as carrier,
              self.app_server(f"{dbs.backend}-app-lag", url, port, dispatcher=True, carrier_url=carrier.url) as app):
            warmup = 1.0
            spec = dict(mode="rate", host="127.0.0.1", port=port, public_base=app.url, rate=self.p["lag_rate"],
                        duration=self.p["lag_seconds"] + warmup, first_caller=0)
            result = procs.run_load(spec, self.work, f"{dbs.backend}-lag-load", timeout=spec["duration"] + 60)
            time.sleep(2.0)  # the last creates of the run
            app_errors = app.log_errors()
            # The app goes first: a carrier still waiting on hundreds of slow webhooks answers late.
            app.stop()
            creates = _get_json(carrier, "/_bench/creates")["creates"]
            due = self._due_times(url)
            measured_from = result["window"][0] + warmup
            lags = sorted(arrived - due[sid] for arrived, sid, status in creates
                          if sid in due and due[sid] >= measured_from)
            out = {
                "offered_rate": result["offered_rate"], "triggers": result["sent"],
                "trigger_p50_ms": result["p50_ms"], "trigger_p99_ms": result["p99_ms"],
                "trigger_unexpected": result["unexpected"] + result["errors"],
                "creates_measured": len(lags), "creates_refused": sum(1 for c in creates if c[2] != 201),
                "p50_ms": _pct_ms(lags, 50), "p99_ms": _pct_ms(lags, 99), "max_ms": _pct_ms(lags, 100),
                "carrier": _get_json(carrier, "/_bench/stats"),
                "app_errors": app_errors,
            }
        return out

    def pacing(self, dbs: data.Databases) -> dict:
        url = dbs.fresh()
        port = procs.free_port()
        count = self.p["pacing_triggers"]
        with (self.carrier_server(f"{dbs.backend}-carrier-pacing", port) as carrier,
              self.app_server(f"{dbs.backend}-app-pacing", url, port, dispatcher=True, carrier_url=carrier.url,
                              cps=1.0) as app):
            spec = dict(mode="burst", host="127.0.0.1", port=port, public_base=app.url, count=count, first_caller=0)
            result = procs.run_load(spec, self.work, f"{dbs.backend}-pacing-load", timeout=60)
            deadline = time.monotonic() + count + 15
            creates = []
            while time.monotonic() < deadline:
                creates = [c for c in _get_json(carrier, "/_bench/creates")["creates"] if c[2] == 201]
                if len(creates) >= count:
                    break
                time.sleep(0.25)
            times = sorted(c[0] for c in creates)
            gaps = [b - a for a, b in itertools.pairwise(times)]
            out = {
                "triggers": count, "trigger_unexpected": result["unexpected"] + result["errors"],
                "creates": len(times), "max_in_1s": most_in_window(times, 1.0),
                # Arrival times carry some jitter (timers, the carrier's event loop): also counted with
                # windows 20 ms short of a second, which is what the verdict uses.
                "max_in_1s_with_jitter": most_in_window(times, 1.0 - PACING_JITTER),
                "mean_spacing_s": round((times[-1] - times[0]) / (len(times) - 1), 3) if len(times) > 1 else None,
                "min_spacing_s": round(min(gaps), 3) if gaps else None,
                "first_after_s": round(times[0] - result["sent_at"], 3) if times else None,
                "app_errors": app.log_errors(),
            }
        return out

    def end_to_end(self, dbs: data.Databases) -> dict:
        url = dbs.fresh()
        port = procs.free_port()
        total = self.p["callbacks"]
        warm = max(50, total // 20)
        # 0: the start, the fallback for the rates when fewer than `warm` requests end in time.
        checkpoints = sorted({0, warm, total // 2, total})
        samples: dict[int, dict] = {}
        pg = dbs.backend == "postgresql"
        with (self.carrier_server(f"{dbs.backend}-carrier-e2e", port) as carrier,
              self.app_server(f"{dbs.backend}-app-e2e", url, port, dispatcher=True, carrier_url=carrier.url) as app):

            def sample(mark: dict, load_pid: int) -> None:
                samples[mark["checkpoint"]] = dict(
                    mark, memory=app.memory(), app_cpu=app.cpu(), carrier_cpu=carrier.cpu(),
                    carrier_rss_mb=round(procs.status_kb(carrier.proc.pid, "VmRSS") / 1024, 1),
                    postgres_cpu=sum(procs.cpu_seconds(pid) for pid in procs.processes_named("postgres")) if pg
                    else None)

            spec = dict(mode="e2e", carrier_host="127.0.0.1", carrier_port=carrier.port, app_host="127.0.0.1",
                        app_port=port, total=total, in_flight=self.p["in_flight"], checkpoints=checkpoints,
                        timeout=self.p["e2e_timeout"], poll=0.05, scrape=1.0, first_caller=0)
            result = procs.run_load(spec, self.work, f"{dbs.backend}-e2e-load", on_line=sample,
                                    timeout=spec["timeout"] + 60)
            final_memory = app.memory()
            errors = app.log_errors()
            app.stop()
            stats = _get_json(carrier, "/_bench/stats")
        # Counted from the database once the app has stopped: /metrics keeps its counts for seconds.
        ends = self._ends(url)
        by_state = self._by_state(url)
        out = {"callbacks": total, "in_flight": self.p["in_flight"], "speed": self.p["speed"],
               "completed": sum(by_state.get("completed", {}).values()),
               "failed": sum(by_state.get("failed", {}).values()), "by_state": by_state,
               "legs_ended": result.get("legs_ended"),
               "timed_out": result["timed_out"], "seconds": result["seconds"], "ring_failures": result["ring_failures"],
               "carrier": stats, "app_errors": errors, "checkpoints": {}}
        for n, s in samples.items():
            if n not in ("final", 0):
                out["checkpoints"][str(n)] = {"ended": s["ended"], "completed": s["completed"], "t": s["t"],
                                              "memory": s["memory"], "carrier_rss_mb": s["carrier_rss_mb"]}
        first, last = samples.get(warm) or samples.get(0), samples.get("final")
        if first and last and last["wall"] > first["wall"] + 1:
            wall = last["wall"] - first["wall"]
            # The requests that ended between the two samples, by the time of their last transition.
            window = [state for at, state in ends if first["wall"] <= at <= last["wall"]]
            out["callbacks_per_s"] = round(len(window) / wall, 1)
            out["completed_per_s"] = round(window.count("completed") / wall, 1)
            out["cpu_percent"] = {
                "app": round(100 * (last["app_cpu"] - first["app_cpu"]) / wall, 1),
                "carrier": round(100 * (last["carrier_cpu"] - first["carrier_cpu"]) / wall, 1),
                "load": round(100 * (last["load_cpu_seconds"] - first["load_cpu_seconds"]) / wall, 1),
            }
            if pg:
                out["cpu_percent"]["postgres"] = round(100 * (last["postgres_cpu"] - first["postgres_cpu"]) / wall, 1)
            out["measured_between"] = [first["ended"], last["ended"]]
            out["measured_seconds"] = round(wall, 2)
        out["memory_final"] = final_memory
        return out

    # Helpers ------------------------------------------------------------------

    @staticmethod
    def _count(url: str, condition) -> int:
        engine = sync_engine(data.settings(url))
        with engine.connect() as c:
            n = c.execute(sa.select(sa.func.count()).where(condition)).scalar_one()
        engine.dispose()
        return n

    @staticmethod
    def _scalar(url: str, sql: str):
        engine = sync_engine(data.settings(url))
        with engine.connect() as c:
            value = c.execute(sa.text(sql)).scalar_one()
        engine.dispose()
        return value

    @staticmethod
    def _ends(url: str) -> list[tuple[float, str]]:
        """(when, state) of every request that ended: the time of its move to completed or failed."""
        engine = sync_engine(data.settings(url))
        with engine.connect() as c:
            rows = c.execute(sa.select(events.c.at, callback_requests.c.state)
                             .join(callback_requests, callback_requests.c.id == events.c.request_id)
                             .where(events.c.to_state == callback_requests.c.state,
                                    callback_requests.c.state.in_(("completed", "failed")))).all()
        engine.dispose()
        return sorted((at.replace(tzinfo=dt.UTC).timestamp(), state) for at, state in rows)

    @staticmethod
    def _by_state(url: str) -> dict[str, dict[str, int]]:
        """{state: {reason: count}}, as /metrics reports them."""
        engine = sync_engine(data.settings(url))
        with engine.connect() as c:
            rows = c.execute(sa.select(callback_requests.c.state, callback_requests.c.reason, sa.func.count())
                             .group_by(callback_requests.c.state, callback_requests.c.reason)).all()
        engine.dispose()
        out: dict[str, dict[str, int]] = {}
        for state, reason, count in rows:
            out.setdefault(state, {})[reason or ""] = count
        return out

    @staticmethod
    def _due_times(url: str) -> dict[str, float]:
        engine = sync_engine(data.settings(url))
        with engine.connect() as c:
            rows = c.execute(sa.select(callback_requests.c.leg_a_sid, callback_requests.c.due_at)
                             .where(callback_requests.c.leg_a_sid.is_not(None))).all()
        engine.dispose()
        return {sid: due.replace(tzinfo=dt.UTC).timestamp() for sid, due in rows}


def scrub_paths(text: str) -> str:
    """No paths of this machine in the results: files relative to the project or to site-packages."""
    text = re.sub(r"[^\s\"'(]*/(site-packages|lib/python3\.\d+)/", r"\1/", text)
    return text.replace(str(procs.ROOT) + "/", "")


def _gunicorn_quiet() -> list[str]:
    """Recent gunicorns open a control socket in the home directory unless told not to; older ones have none."""
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


def _get_json(server: procs.Server, path: str, attempts: int = 3) -> dict:
    import urllib.request

    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(server.url + path, timeout=30) as response:
                return json.loads(response.read())
        except OSError:
            if attempt == attempts - 1:
                raise
            time.sleep(2.0)
    raise AssertionError("unreachable")


def _pct_ms(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index] * 1000, 1)


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    total_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "memory_mb": total_mb, "python": platform.python_version(),
            "kernel": platform.release(), "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg_at_start": procs.loadavg()}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("uvicorn", "httptools", "uvloop", "starlette", "SQLAlchemy", "asyncpg",
                 "twilio", "aiohttp", "flask", "gunicorn", "psycopg"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


PHASES = ("webhooks", "lag", "pacing", "e2e")


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # Stopped from outside (Ctrl-C, a CI timeout): unwind so that every server started is stopped.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about a minute)")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4),
                        help="uvicorn workers for the app and the ceiling (default: cores, at most 4)")
    parser.add_argument("--backends", default=None,
                        help="sqlite,postgresql (default: sqlite, and postgresql when BENCH_DATABASE_URL is set)")
    parser.add_argument("--phases", default=",".join(PHASES), help="which of " + ",".join(PHASES))
    parser.add_argument("--duration", type=float, help="seconds measured per webhook run")
    parser.add_argument("--connections", type=int, help="connections for the webhook runs (default 32)")
    parser.add_argument("--callbacks", type=int, help="callbacks in the end-to-end run (default 10000)")
    parser.add_argument("--in-flight", type=int, help="callbacks under way at once end to end (default 64)")
    parser.add_argument("--speed", type=float, help="the carrier's clock speed (default 100)")
    parser.add_argument("--e2e-timeout", type=float, help="seconds the end-to-end run may take at most (default 240)")
    parser.add_argument("--http", default="httptools", help="uvicorn's HTTP implementation (httptools or h11)")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results.json; quick: results-quick.json)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (databases, server logs)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    postgres_raw = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    backends = args.backends.split(",") if args.backends else (["sqlite"] + (["postgresql"] if postgres_raw else []))
    if "postgresql" in backends and not postgres_raw:
        parser.error("postgresql needs BENCH_DATABASE_URL")
    phases = [p for p in args.phases.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    out_path = args.out or HERE / ("results-quick.json" if args.quick else "results.json")

    work = Path(tempfile.mkdtemp(prefix="callback-bench-"))
    bench = Bench(args, work)
    results = {"machine": machine(), "versions": versions(), "workers": args.workers, "http": args.http,
               "quick": args.quick, "parameters": bench.p, "backends": {}}
    failed = False
    started = time.monotonic()
    try:
        for backend in backends:
            dbs = data.Databases(backend, work, normalize_database_url(postgres_raw) if backend == "postgresql" else None)
            got = results["backends"][backend] = {}
            for phase in phases:
                print(f"[{backend}] {phase} ...", file=sys.stderr, flush=True)
                t0 = time.monotonic()
                try:
                    got[phase] = {"webhooks": bench.webhooks, "lag": bench.lag, "pacing": bench.pacing,
                                  "e2e": bench.end_to_end}[phase](dbs)
                except Exception as exc:
                    failed = True
                    got[phase] = {"error": f"{type(exc).__name__}: {exc}"}
                    traceback.print_exc()
                got[phase]["phase_seconds"] = round(time.monotonic() - t0, 1)
                got[phase]["loadavg_after"] = procs.loadavg()
    finally:
        results["total_seconds"] = round(time.monotonic() - started, 1)
        out_path.write_text(scrub_paths(json.dumps(results, indent=2)) + "\n")
        if args.keep:
            print(f"working directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    table, missed = report.table(results)
    print(table)
    print(f"\nresults: {out_path}")
    if failed:
        return 2
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
