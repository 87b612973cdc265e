"""The Callback Dialer's side of the REST API: where the server is, the token, and the calls it makes.

The dialer runs on a subscriber's computer, not next to the platform, so it
has its own small configuration, looked up in this order: command-line
options, then the environment (CALLBACK_SERVER, CALLBACK_TOKEN), then the
`[dialer]` section of ~/.config/callback-platform/dialer.ini:

    [dialer]
    server = https://callback.example.com
    token = cbp_...
"""

from __future__ import annotations

import configparser
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Self

import httpx

CONFIG_PATH = Path("~/.config/callback-platform/dialer.ini")
ENV_SERVER, ENV_TOKEN = "CALLBACK_SERVER", "CALLBACK_TOKEN"
LEG_WORDS = {"a": "your phone", "b": "other number"}


class ConfigError(ValueError):
    pass


class DialerError(Exception):
    """The API refused (status and code from its error body) or could not be reached (status 0)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.status else self.message


@dataclass(frozen=True)
class DialerConfig:
    server: str
    token: str


def load_config(*, server: str | None = None, token: str | None = None, environ: dict | None = None,
                path: str | Path | None = None) -> DialerConfig:
    environ = os.environ if environ is None else environ
    file_values: dict[str, str] = {}
    config_path = Path(path or CONFIG_PATH).expanduser()
    if config_path.is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(config_path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_path} is not a valid config file: {exc}") from None
        if parser.has_section("dialer"):
            file_values = dict(parser.items("dialer"))
    elif path:
        raise ConfigError(f"no such config file: {config_path}")
    server = server or environ.get(ENV_SERVER) or file_values.get("server")
    token = token or environ.get(ENV_TOKEN) or file_values.get("token")
    if not server:
        raise ConfigError(f"no server: give --server, set {ENV_SERVER}, or add 'server =' to {CONFIG_PATH}")
    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"the server is a URL such as https://callback.example.com, not {server!r}")
    if not token:
        raise ConfigError(f"no API token: give --token, set {ENV_TOKEN}, or add 'token =' to {CONFIG_PATH} "
                          "(make one in the portal's settings)")
    return DialerConfig(server=server.rstrip("/"), token=token.strip())


class DialerClient:
    def __init__(self, config: DialerConfig, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None):
        self.config = config
        self.http = httpx.Client(base_url=config.server + "/api/v1", timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {config.token}",
                                          "User-Agent": "callback-dialer/1.0"})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, *, retries: int = 0, **kwargs) -> dict:
        for attempt in range(retries + 1):
            try:
                response = self.http.request(method, path, **kwargs)
                break
            except httpx.HTTPError as exc:
                if attempt == retries:
                    raise DialerError(0, "unreachable", f"cannot reach {self.config.server}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                raise DialerError(response.status_code, str(error.get("code")), str(error.get("message")))
            raise DialerError(response.status_code, f"http_{response.status_code}",
                              f"the server answered {response.status_code}")
        if not isinstance(body, dict):
            raise DialerError(response.status_code, "bad_response", "the server's answer is not JSON")
        return body

    def create(self, to: str, from_: str | None = None) -> dict:
        body = {"to": to}
        if from_:
            body["from"] = from_
        # The same key on the retry: a create whose answer was lost is not placed twice.
        key = uuid.uuid4().hex
        return self._request("POST", "/callbacks", json=body, headers={"Idempotency-Key": key}, retries=1)

    def get(self, callback_id: int) -> dict:
        return self._request("GET", f"/callbacks/{callback_id}", retries=2)

    def recent(self, limit: int = 10) -> list[dict]:
        return self._request("GET", "/callbacks", params={"limit": limit}, retries=1)["data"]

    def cancel(self, callback_id: int) -> dict:
        return self._request("POST", f"/callbacks/{callback_id}/cancel")

    def account(self) -> dict:
        return self._request("GET", "/account", retries=1)


def progress(view: dict) -> str:
    """What a callback is doing, in one line."""
    parts = [f"{view['state']:<10}", f"A {view['leg_a']:<9}", f"B {view['leg_b']:<9}"]
    if view["terminal"]:
        parts.append(f"cost {view['cost']} {view['currency']}")
        if view["reason"]:
            parts.append(f"reason {view['reason']}")
    return "  ".join(parts).rstrip()


def outcome(view: dict) -> str:
    if view["state"] == "completed":
        legs = ", ".join(f"{LEG_WORDS.get(leg['leg'], leg['leg'])} {leg['duration_seconds'] or 0} s"
                         for leg in view["legs"])
        return f"completed: cost {view['cost']} {view['currency']}" + (f" ({legs})" if legs else "")
    return f"failed: {view['reason'] or 'unknown reason'}"


def follow(client: DialerClient, callback_id: int, *, interval: float = 0.5, timeout: float = 600.0,
           settle_seconds: float = 10.0, sleep=time.sleep, clock=time.monotonic) -> Iterator[dict]:
    """Poll a callback, yielding it when its progress changes, until it is over and its legs' costs are known.

    The last view yielded is the final one.
    """
    started = clock()
    over_since = None
    shown = last = None
    while True:
        view = client.get(callback_id)
        if progress(view) != shown:
            shown, last = progress(view), view
            yield view
        if view["terminal"]:
            over_since = over_since or clock()
            if all(leg["ended_at"] for leg in view["legs"]) or clock() - over_since >= settle_seconds:
                if view != last:
                    yield view
                return
        if clock() - started >= timeout:
            raise DialerError(0, "timeout", f"callback {callback_id} did not end within {timeout:g} s")
        sleep(interval)


def clock_time() -> str:
    return datetime.now().strftime("%H:%M:%S")
