"""The Callback Dialer window (Tkinter) on a virtual X display, calling through the live platform.

Xvfb gives the window a screen; the test types a number, presses Call and
pumps the Tk loop until the status line says the call completed and the
recent calls list shows it. Skipped without Xvfb or a working Tk.

Set SCREENSHOT_DIR to save the window there as dialer.png (ImageMagick's
`import`); the README's is made with SCREENSHOT_DIR=docs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from app.web.demo import seed as demo
from dialer.client import DialerClient, DialerConfig

XVFB = shutil.which("Xvfb")
ALICE = next(account for account in demo.ACCOUNTS if account[0] == "alice")
ALICE_HOME, NY = "+14155550100", "+12125550123"


@pytest.fixture(scope="module")
def display():
    if XVFB is None:
        pytest.skip("Xvfb is not installed (apt install xvfb)")
    read_end, write_end = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it once it is ready for clients.
    server = subprocess.Popen([XVFB, "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as ready:
            number = ready.readline().strip()
        if not number.isdigit():
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def token(platform_url) -> str:
    """An API token made the way a subscriber makes one: in the portal's settings."""
    with httpx.Client(base_url=platform_url, timeout=10, follow_redirects=True) as client:
        csrf = lambda page: re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        page = client.post("/login", data={"csrf": csrf(client.get("/login")), "login": "alice", "password": ALICE[1]})
        page = client.post("/settings/tokens", data={"csrf": csrf(client.get("/settings")), "name": "desktop dialer",
                                                     "current_password": ALICE[1]})
        control = platform_url + "/sandbox/_sandbox"
        client.put(f"{control}/phones/{quote(ALICE_HOME)}", json={"keys": ["1", None], "answer_after": 2.0})
        client.put(f"{control}/phones/{quote(NY)}", json={"answer_after": 2.0, "talk_seconds": 20.0})
        client.put(f"{control}/clock", json={"speed": 20})
        return re.search(r'id="new-token">(cbp_[^<]+)<', page.text).group(1)


def pump(root, until, what: str, status=None, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"; status: {status.get()}" if status else ""))
        root.update()
        time.sleep(0.02)


def test_the_window_places_a_call_follows_it_and_lists_it(display, platform_url, token, monkeypatch):
    monkeypatch.setenv("DISPLAY", display)
    tk = pytest.importorskip("tkinter", reason="Python was built without Tk")
    from dialer.window import DialerWindow

    try:
        root = tk.Tk()
    except tk.TclError as exc:
        pytest.skip(f"Tk cannot open {display}: {exc}")
    client = DialerClient(DialerConfig(platform_url, token))
    try:
        window = DialerWindow(root, client, interval=0.1)
        assert window.status.get() == "Ready."
        window.call_button.invoke()
        assert window.status.get() == "Type the number to call."
        window.number_entry.insert(0, "212 555 0123")
        window.number_entry.focus_force()
        root.update()
        window.number_entry.event_generate("<Return>")  # Enter in the number field calls, as the button does
        pump(root, lambda: window.current is not None, "the callback to be queued", window.status)
        assert "disabled" in window.call_button.state() and "disabled" not in window.cancel_button.state()
        seen = set()

        def completed() -> bool:
            seen.add(window.status.get())
            return "completed" in window.status.get()

        pump(root, completed, "the call to complete", window.status)
        assert re.fullmatch(r"Call \d+ completed: cost \d+\.\d\d USD \(your phone \d+ s, other number \d+ s\)",
                            window.status.get()), window.status.get()
        assert any("connected — your phone connected, other number connected" in line for line in seen), seen
        pump(root, lambda: any(window.recent.set(row, "state") == "completed"
                               for row in window.recent.get_children()), "the recent calls list")
        (row,) = window.recent.get_children()
        assert window.recent.set(row, "to") == NY
        assert "disabled" not in window.call_button.state()
        if os.environ.get("SCREENSHOT_DIR"):
            if shutil.which("import") is None:
                pytest.fail("SCREENSHOT_DIR is set but ImageMagick's import is not installed")
            target = Path(os.environ["SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            root.update()
            subprocess.run(["import", "-display", display, "-window", str(root.winfo_id()), str(target / "dialer.png")],
                           check=True, timeout=30)
    finally:
        root.destroy()
        client.close()
