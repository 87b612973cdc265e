"""With no provider credentials the sandbox carrier's control API is mounted at /sandbox and the demo at /demo;
`serve --host 0.0.0.0` makes them reachable from other machines. They answer only a loopback client (the socket's
address, not the Host header or X-Forwarded-For)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app

FORGED = {"Host": "127.0.0.1", "X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}
PATHS = [("GET", "/sandbox/_sandbox/messages"), ("GET", "/sandbox/_sandbox/state"), ("GET", "/demo"),
         ("GET", "/demo/state?trigger=1")]


@pytest.fixture
def sandbox_app(database_url):
    return create_app(Settings(database_url=database_url, secret_key="test", dispatcher_enabled=False))


@pytest.mark.parametrize("remote", [("203.0.113.7", 40000), ("10.0.0.2", 40000), ("::ffff:198.51.100.1", 40000),
                                    ("testclient", 50000)])
def test_a_remote_client_is_refused_the_sandbox_and_the_demo(sandbox_app, remote):
    with TestClient(sandbox_app, base_url="http://127.0.0.1:8000", client=remote) as client:
        for method, path in PATHS:
            assert client.request(method, path, headers=FORGED).status_code == 403, path
        texted = client.post("/sandbox/_sandbox/text", json={"from": "+14155550101", "to": "+18005550000",
                                                            "body": "CALL 442071234567"}, headers=FORGED)
        assert texted.status_code == 403
        ring = client.post("/demo/ring", json={"from": "+14155550199", "to": "+18005550000"}, headers=FORGED)
        assert ring.status_code == 403
        assert client.get("/healthz").status_code == 200  # the rest of the app is not affected


@pytest.mark.parametrize("local", [("127.0.0.1", 40000), ("::1", 40000), ("127.0.0.2", 40000)])
def test_a_loopback_client_opens_the_sandbox_and_the_demo(sandbox_app, local):
    with TestClient(sandbox_app, base_url="http://127.0.0.1:8000", client=local) as client:
        assert client.get("/sandbox/_sandbox/messages").status_code == 200
        assert client.get("/demo").status_code == 200
