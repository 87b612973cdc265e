"""Starting and stopping the servers, and reading their CPU time and memory from /proc."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The environment of every child: this project importable, nothing read from a .env file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TWILIO_", "PUBLIC_BASE_URL",
                                                                    "SECRET_KEY", "SANDBOX_", "PROVIDER_"))}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


# /proc ----------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    return raw[raw.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree = children_map()
    out, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_named(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# Servers --------------------------------------------------------------------


class Server:
    """A server process (uvicorn or gunicorn, maybe with worker processes) started by the benchmark.

    It is ready once its log holds `ready_text` once per worker and it answers HTTP.
    """

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, port: int,
                 workers: int = 1, ready_path: str | None = None,
                 ready_text: bytes = b"Application startup complete"):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workers = workers
        self.ready_path = ready_path
        self.ready_text = ready_text
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, *args], env=env, cwd=log_dir, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._stopped = False

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 60.0) -> Server:
        """This server once it answers; a server that does not is stopped, and RuntimeError says why."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            started = self.log_path.read_bytes().count(self.ready_text)
            if started >= self.workers and self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start within {timeout:g}s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        path = self.ready_path or "/"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                return sock.recv(16).startswith(b"HTTP/1.1 ")
        except OSError:
            return False

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the workers, or the one process when there are none."""
        kids = descendants(self.proc.pid)
        # uvicorn's workers are spawned by multiprocessing (beside its resource tracker); gunicorn's are forks.
        spawned = [pid for pid in kids if "multiprocessing" in cmdline(pid) and "resource_tracker" not in cmdline(pid)]
        return spawned or kids or [self.proc.pid]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def memory(self) -> dict:
        workers = self.worker_pids()
        rss = [status_kb(pid, "VmRSS") for pid in workers]
        return {
            "workers": len(workers),
            "rss_mb_per_worker": [round(kb / 1024, 1) for kb in rss],
            "rss_mb_max_worker": round(max(rss) / 1024, 1) if rss else None,
            "rss_mb_workers_total": round(sum(rss) / 1024, 1),
            "pss_mb_all_processes": round(sum(pss_kb(pid) for pid in self.pids()) / 1024, 1),
        }

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_errors(self, limit: int = 5) -> list[str]:
        """ERROR/CRITICAL lines of the server's log (JSON lines from the app's logging)."""
        found = []
        try:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line or "Traceback" in line:
                    found.append(line[:400])
        except OSError:
            pass
        return found[:limit] + ([f"... {len(found) - limit} more"] if len(found) > limit else [])

    def stop(self) -> None:
        """Stop it and what is left of its process group; again is a no-op."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of this server's own process group (workers of a killed master).
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self._log.close()


def run_load(spec: dict, work_dir: Path, name: str, on_line=None, timeout: float = 900.0) -> dict:
    """Run `python -m bench.load` on `spec`; return its result (progress lines go to on_line)."""
    spec_path = work_dir / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    with open(work_dir / f"{name}.stderr", "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "bench.load", str(spec_path)], env=base_env(), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True,
                                start_new_session=True)
    result = None
    watchdog = threading.Timer(timeout, proc.kill)  # the load stops by itself; this is the backstop
    watchdog.start()
    try:
        for line in proc.stdout:
            payload = json.loads(line)
            if "result" in payload:
                result = payload["result"]
            elif on_line is not None:
                on_line(payload, proc.pid)
        proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if result is None:
        raise RuntimeError(f"load generator {name} failed:\n{(work_dir / f'{name}.stderr').read_text()[-3000:]}")
    return result
