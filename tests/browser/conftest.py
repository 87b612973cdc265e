"""Browser tests: the platform as a subprocess on a free port, and Debian's Chromium driven by Playwright.

The one helper every browser test uses: `launch` starts a migrated platform
(the demo data, an operator, anything else a test adds) and serves it;
`watch_for_problems` fails a page on any script error or request elsewhere;
`log_in` and `sign_in` log a page in as a subscriber or an operator.

Nothing is downloaded: without /usr/bin/chromium (apt install chromium) or
the playwright package these tests are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.core.settings import Settings
from app.data.db import make_database
from app.data.migrations import upgrade
from app.web.demo import seed as demo

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
OPERATOR, OPERATOR_PASSWORD = "ops", "ops-browser-password"
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


async def _seed_demo(settings: Settings) -> None:
    db = make_database(settings)
    await db.connect()
    try:
        await demo.seed(db, secret_key=settings.secret_key)
    finally:
        await db.disconnect()


def launch(tmp_path_factory, name: str, *, demo_data: bool = True, operator: bool = False,
           env: dict[str, str] | None = None, prepare: Callable[[str], None] | None = None):
    """A migrated platform served by uvicorn until the generator is closed; yields its base URL.

    With the demo data (`demo_data`), the operator OPERATOR (`operator`), the
    environment changed by `env`, and `prepare(database_url)` run last.
    """
    workdir = tmp_path_factory.mktemp(name)
    database_url = f"sqlite:///{workdir / (name + '.db')}"
    env = {**_platform_env(database_url), **(env or {})}
    # Migrations and the demo data in this process (saving two interpreter starts), the operator by the CLI.
    settings = Settings(database_url=database_url, secret_key=env["SECRET_KEY"])
    upgrade(settings)
    if demo_data:
        with ThreadPoolExecutor(1) as thread:  # away from any browser's event loop
            thread.submit(asyncio.run, _seed_demo(settings)).result()
    if operator:
        _cli(env, "operator", "create", OPERATOR, "--password", OPERATOR_PASSWORD)
    if prepare is not None:
        prepare(database_url)
    yield from serve_platform(env, workdir / "server.log")


@pytest.fixture(scope="module")
def platform_url(tmp_path_factory):
    """A migrated platform with the demo data, served by uvicorn; yields its base URL."""
    yield from launch(tmp_path_factory, "browser")


def watch_for_problems(page, base_url: str, *, allowed_console: str | None = None) -> list[str]:
    """What went wrong on `page`: script errors, console errors (but those containing `allowed_console`),
    requests anywhere but `base_url`. The test asserts the list stays empty."""
    problems: list[str] = []

    def console(message) -> None:
        if message.type == "error" and not (allowed_console and allowed_console in message.text):
            problems.append(f"console: {message.text}")

    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", console)
    page.on("request", lambda request: None if request.url.startswith(base_url)
            else problems.append(f"request elsewhere: {request.url}"))
    return problems


def log_in(page, base_url: str, login: str, password: str) -> None:
    """Log `page` in to the portal as the subscriber `login`."""
    page.goto(base_url + "/")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def sign_in(page, base_url: str, path: str = "/admin", login: str = OPERATOR, password: str = OPERATOR_PASSWORD):
    """Open the admin page `path`, which asks for the operator's sign-in first, and sign in."""
    from playwright.sync_api import expect

    page.goto(base_url + path)
    expect(page.get_by_role("heading", name="Operator sign-in")).to_be_visible()
    page.get_by_label("Operator login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


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
