"""A throwaway PostgreSQL server of the tests' own, which they may stop, restart or kill.

Restarting the machine's shared server (127.0.0.1:5432) would cut every other test session and
every other program using it. `PrivatePostgres` instead runs `initdb` into a temporary directory
and serves it on a free loopback port, its unix socket in that directory, with fsync off: nothing
in it outlives the tests, and nothing else loads it (a fault test's load runs in half the time
it takes on the machine's shared, durable server). `private_postgres()` stops it and removes the
directory afterwards, whatever happened, and a watchdog process does the same if the test
process itself is killed first.

initdb and postgres refuse to run as root: run as root, they run as the `postgres` OS user
(`runuser`, else `setpriv`); any other user runs them as itself. `unavailable()` says why the
server cannot be had here (no server binaries, or root without a `postgres` user), for a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
RUN_AS = "postgres"  # the OS user the server runs as when the tests run as root
START_TIMEOUT = 60  # seconds, for pg_ctl's -w waits (a loaded machine takes a while)
# Settings for a disposable server: it listens only on loopback and never syncs to disk (it need
# not outlive the machine), but a commit is written before it is acknowledged (synchronous_commit
# stays on), so killing or restarting the server loses nothing committed, as on a real one.
CONFIG = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "max_wal_size": "256MB",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


def _version(path: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: pg_config's, the newest Debian one, or PATH's."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in SERVER_BINARIES):
            return directory
    return None


def _run_as_prefix() -> list[str] | None:
    """The command prefix that runs the server's programs as a user they accept; None if there is none."""
    if os.geteuid() != 0:
        return []  # any user but root may run initdb and postgres
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        return None
    if shutil.which("runuser"):
        return ["runuser", "-u", RUN_AS, "--"]
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--init-groups", "--"]
    return None


def unavailable() -> str | None:
    """Why a private server cannot be started here, or None if it can."""
    if find_bindir() is None:
        return ("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in `pg_config --bindir`, "
                "/usr/lib/postgresql/*/bin or PATH")
    if _run_as_prefix() is None:
        return (f"running as root, which initdb and postgres refuse, and there is no `{RUN_AS}` OS user "
                "(or neither runuser nor setpriv) to run them as")
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivatePostgres:
    """One initdb'd cluster in `root` (owned by the server's user), served on 127.0.0.1:`port`."""

    bindir: Path
    root: Path
    prefix: list[str]
    port: int = 0
    user: str = "postgres"  # the database superuser initdb creates (trust authentication)
    watchdog: subprocess.Popen | None = field(default=None, repr=False)
    setup_seconds: float = 0.0  # initdb and the first start

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = START_TIMEOUT + 30, check: bool = True) -> subprocess.CompletedProcess:
        command = [*self.prefix, str(self.bindir / argv[0]), *argv[1:]]
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"})
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                               f"\n{self.log_tail()}")
        return done

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync", "--no-instructions")
        settings = {**CONFIG, "unix_socket_directories": f"'{self.root}'"}
        with open(self.data / "postgresql.conf", "a") as conf:  # appended: the file keeps its owner
            conf.write("\n# private test server\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))

    def _set_port(self, port: int) -> None:
        self.port = port
        with open(self.data / "postgresql.conf", "a") as conf:  # the last setting of a name wins
            conf.write(f"port = {port}\n")

    def start(self) -> None:
        """Start; the first time on a free port (another, should the one picked be taken meanwhile),
        after that on the same port, which its clients know."""
        first = not self.port
        for _ in range(3 if first else 1):
            if first:
                self._set_port(_free_port())
            done = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_path), "-w",
                             "-t", str(START_TIMEOUT), check=False)
            if done.returncode == 0:
                return
            if "already in use" not in self.log_tail(5):
                break
        raise RuntimeError(f"the private PostgreSQL server did not start on port {self.port}:\n"
                           f"{done.stdout}{done.stderr}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """Stop: "fast" closes every connection as a restart or a failover does, "immediate" as a crash."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT))

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again at once, on the same port."""
        self._run("pg_ctl", "restart", "-D", str(self.data), "-m", mode, "-w", "-t", str(START_TIMEOUT),
                  "-l", str(self.log_path))

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def create_database(self, name: str) -> str:
        import sqlalchemy as sa  # here, so that `unavailable()` costs no import

        engine = sa.create_engine(f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres",
                                  isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url(name)

    def _start_watchdog(self) -> None:
        """Stop the server and remove its directory once this process is gone, should it die first."""
        pg_ctl = " ".join([*self.prefix, str(self.bindir / "pg_ctl")])
        script = (f"while [ -d /proc/{os.getpid()} ]; do sleep 2; done; "
                  f"{pg_ctl} stop -D '{self.data}' -m immediate >/dev/null 2>&1; rm -rf '{self.root}'")
        self.watchdog = subprocess.Popen(["sh", "-c", script], cwd="/", start_new_session=True,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)

    def close(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and remove its directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", check=False)
        finally:
            if self.watchdog is not None and self.watchdog.poll() is None:
                os.killpg(self.watchdog.pid, signal.SIGKILL)
                self.watchdog.wait(timeout=10)
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private server; stopped and removed on the way out, even after a failure."""
    reason = unavailable()
    if reason is not None:
        raise RuntimeError(f"no private PostgreSQL server: {reason}")
    prefix = _run_as_prefix()
    # Not under pytest's tmp_path: the server's user must be able to reach its directory.
    root = Path(tempfile.mkdtemp(prefix="private-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(RUN_AS)
        os.chown(root, account.pw_uid, account.pw_gid)
    os.chmod(root, 0o700)
    server = PrivatePostgres(bindir=find_bindir(), root=root, prefix=prefix)
    try:
        server._start_watchdog()
        started = time.monotonic()
        server.initdb()
        server.start()
        server.setup_seconds = time.monotonic() - started
        yield server
    finally:
        server.close()
