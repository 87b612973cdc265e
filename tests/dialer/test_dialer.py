"""The Callback Dialer's command line, `callback-platform dial`, against the platform on a loopback server.

The platform and its sandbox carrier serve in the test's event loop; the
dialer, a synchronous program, runs in a worker thread as it would in a
terminal, and its output and exit status are checked.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from app.data import accounts
from app.cli import main as cli
from dialer import cli as dialer, client as dialer_client
from app.core import states
from dialer.client import ConfigError, load_config
from app.core.settings import Settings
from tests.utils import scenario as sc
from tests.utils.live import live_platform

NY = "+12125550123"
# The dialer is a client: these commands never open the platform's database.
NO_PLATFORM = Settings(database_url="sqlite:////nonexistent/never-opened.db")


@pytest.fixture(autouse=True)
def no_dialer_config(monkeypatch, tmp_path):
    """Neither the environment nor a config file of whoever runs the tests leaks in."""
    monkeypatch.delenv(dialer_client.ENV_SERVER, raising=False)
    monkeypatch.delenv(dialer_client.ENV_TOKEN, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
async def live(settings, engine):
    async with live_platform(settings, engine) as live:
        alice = await accounts.get_account_by_login(live.db, login="alice")
        live.token = await accounts.create_token(live.db, account_id=alice["id"], name="dialer")
        live.carrier.phones.set(sc.ALICE_HOME, keys=["1", None])  # press 1 to be connected
        yield live
        await asyncio.sleep(0.1)


async def dial(live, settings, *argv: str) -> int:
    """`callback-platform dial ...` in a thread; its exit status."""
    def run() -> int:
        try:
            return cli.main(["dial", *argv, "--interval", "0.05"], settings=settings)
        except SystemExit as exc:
            return exc.code

    return await asyncio.to_thread(run)


async def test_dial_prints_the_progress_until_the_call_is_completed(live, settings, capsys):
    status = await dial(live, settings, "212 555 0123", "--server", live.platform_url, "--token", live.token)
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.strip().splitlines()
    request_id = int(re.match(r"callback (\d+): calling \+14155550100, then \+12125550123$", lines[0]).group(1))
    shown = [line.split()[1] for line in lines[1:-1]]
    assert shown[0] in (states.QUEUED, states.CALLING_A) and shown[-1] == states.COMPLETED
    assert states.CONNECTED in shown and shown.index(states.CONNECTED) < shown.index(states.COMPLETED)
    assert any(re.search(r"A connected +B connected", line) for line in lines)
    legs = live.legs(request_id)
    cost = sum(leg["cost"] for leg in legs)
    assert cost > 0 and len(legs) == 2
    assert lines[-1].startswith(f"completed: cost {cost / 100:.2f} USD (your phone ")
    assert live.request_for(f"{live.requests()[0]['trigger_id']}")["state"] == states.COMPLETED


async def test_a_failed_call_exits_1_with_the_reason(live, settings, capsys, monkeypatch):
    live.carrier.phones.set(NY, answer="busy", answer_after=0.5)
    monkeypatch.setenv(dialer_client.ENV_SERVER, live.platform_url)
    monkeypatch.setenv(dialer_client.ENV_TOKEN, live.token)
    status = await dial(live, settings, NY)
    out = capsys.readouterr().out
    assert status == 1 and out.strip().splitlines()[-1] == "failed: b_busy", out


async def test_a_refused_request_exits_1_and_a_bad_token_2(live, settings, capsys, tmp_path):
    config = tmp_path / "dialer.ini"
    config.write_text(f"[dialer]\nserver = {live.platform_url}\ntoken = {live.token}\n")
    assert await dial(live, settings, "+33123456789", "--config", str(config)) == 1
    assert "refused: calls to that number are not available: +33123456789 (destination_blocked)" in \
        capsys.readouterr().err
    assert await dial(live, settings, NY, "--config", str(config), "--token", "cbp_wrong") == 2
    assert "(invalid_token)" in capsys.readouterr().err
    assert live.requests() == []


async def test_interrupting_the_dialer_cancels_the_callback(live, settings, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, like the real one

    monkeypatch.setattr(dialer, "follow", interrupted)
    status = await dial(live, settings, NY, "--server", live.platform_url, "--token", live.token)
    assert status == 130 and "canceled" in capsys.readouterr().out
    (row,) = live.requests()
    assert (row["state"], row["reason"]) == (states.FAILED, states.CANCELED)


@pytest.mark.parametrize("argv, message", [
    (["dial", NY], "no server"),
    (["dial", NY, "--server", "http://127.0.0.1:9"], "no API token"),
    (["dial", NY, "--server", "ftp://example.com", "--token", "t"], "the server is a URL"),
    (["dial", NY, "--config", "/nonexistent/dialer.ini"], "no such config file"),
    (["dial"], "the following arguments are required: TO"),
    (["dial", NY, "--timeout", "-1"], "is not a positive number of seconds"),
    (["dialer"], "no server"),
])
def test_usage_errors_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv, settings=NO_PLATFORM)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_an_unreachable_server_exits_1(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["dial", NY, "--server", "http://127.0.0.1:9", "--token", "t"], settings=NO_PLATFORM)
    assert exit_info.value.code == 1 and "cannot reach http://127.0.0.1:9" in capsys.readouterr().err


def test_options_beat_the_environment_which_beats_the_config_file(tmp_path):
    path = tmp_path / "dialer.ini"
    path.write_text("[dialer]\nserver = https://file.example\ntoken = from-file\n")
    assert load_config(path=path, environ={}) == dialer_client.DialerConfig("https://file.example", "from-file")
    env = {"CALLBACK_SERVER": "https://env.example/", "CALLBACK_TOKEN": "from-env"}
    assert load_config(path=path, environ=env) == dialer_client.DialerConfig("https://env.example", "from-env")
    assert load_config(server="http://opt.example", token="from-option", path=path, environ=env) == \
        dialer_client.DialerConfig("http://opt.example", "from-option")
    (tmp_path / "bad.ini").write_text("not an ini file")
    with pytest.raises(ConfigError):
        load_config(path=tmp_path / "bad.ini", environ={})


def test_the_window_without_a_display_exits_2(capsys, monkeypatch):
    pytest.importorskip("tkinter", reason="Python was built without Tk")
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["dialer", "--server", "http://127.0.0.1:9", "--token", "t"], settings=NO_PLATFORM)
    assert exit_info.value.code == 2 and "cannot open a window" in capsys.readouterr().err
