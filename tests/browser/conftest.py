"""Browser tests: the platform as a subprocess on a free port, and Debian's Chromium driven by Playwright.

Nothing is downloaded: without /usr/bin/chromium (apt install chromium) or
the playwright package these tests are skipped with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _platform_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"):
        # Empty rather than absent, so a .env in the checkout cannot supply them either.
        env[name] = ""
    env.update(DATABASE_URL=database_url, DISPATCH_DELAY_SECONDS="0", SANDBOX_SPEED="5", SECRET_KEY="test")
    return env


def _cli(env: dict[str, str], *argv: str) -> None:
    # The `callback-platform` command, run as a module so this checkout is what gets imported.
    result = subprocess.run([sys.executable, "-m", "app.cli.main", *argv], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"callback-platform {' '.join(argv)} failed:\n{result.stdout}{result.stderr}"


def serve_platform(env: dict[str, str], log_path: Path):
    """Serve the platform with uvicorn in a subprocess until the generator is closed; yields its base URL."""
    port = _free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"the platform exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the platform did not answer /healthz within 30 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def platform_url(tmp_path_factory):
    """A migrated, seeded platform served by uvicorn in a subprocess; yields its base URL."""
    workdir = tmp_path_factory.mktemp("browser")
    env = _platform_env(f"sqlite:///{workdir / 'demo.db'}")
    _cli(env, "db", "upgrade")
    _cli(env, "demo", "seed")
    yield from serve_platform(env, workdir / "server.log")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt install chromium); browsers are never downloaded")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
