"""What a request's sender controls must not decide where the provider calls back, or crash a check.

The Host header, X-Forwarded-Host/-Proto and X-Forwarded-For are written by the
client. Each attack below is made over HTTP: a subscriber (API, portal, SMS
gateway), a provider-signed webhook or a demo visitor sends a forged Host, and
the callback URLs stored and handed to the provider must still be the
platform's own. Then the trusted-host check, the start-up refusals, the
constant-time compares fed non-ASCII values, and /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import base64
import re

import httpx
import pytest

from app.data import accounts, sms_log
from app.providers import credentials
from app.web.demo import seed as demo
from app.core import request_origin
from app.cli.main import main as cli_main
from app.main import create_app
from app.core.settings import Settings, load_settings
from app.data.tables import auth_failures, callback_requests
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.provider import TwilioRecorder
from sandbox import serve

EVIL = "evil.example"
FORGED = {"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}
PIN_NUMBER = "+18005550000"
STRANGER = "+14155550199"
ALICE_MOBILE = "+14155550101"


# The sandbox, on a real socket, with the host check switched off ("*") so the forged Host reaches the handlers.


def _no_evil(value) -> None:
    assert value and EVIL not in value and "https" not in value, value


@contextlib.asynccontextmanager
async def sandbox_platform(database_url: str, **changes):
    """The platform (sandbox carrier embedded, no PUBLIC_BASE_URL) served on loopback; yields (app, client, url)."""
    settings = Settings(database_url=database_url, secret_key="test", dispatch_delay_seconds=0,
                        dispatcher_enabled=False, allowed_hosts=("*",), **changes)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await demo.seed(app.state.platform.db, secret_key="test")
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield app, client, url
    await asyncio.sleep(0.05)  # let a cancelled dispatcher query in a worker thread report back


@pytest.fixture
async def live(database_url):
    async with sandbox_platform(database_url) as served:
        yield served


def _rows(app):
    return app.state.platform.db.fetch_all(callback_requests.select().order_by(callback_requests.c.id))


async def _dispatched_leg_a(app):
    """Dispatch the queued request; the carrier's record of the callback leg it was asked to place."""
    dispatcher = app.state.dispatcher
    assert await dispatcher.tick() == 1
    await dispatcher.settle()
    (row,) = await _rows(app)
    return app.state.carrier.calls[row["leg_a_sid"]]


async def _assert_callbacks_go_to(app, url: str) -> None:
    (row,) = await _rows(app)
    assert row["base_url"] == url
    leg_a = await _dispatched_leg_a(app)
    assert leg_a.url.startswith(url + "/legs/") and leg_a.status_callback.startswith(url + "/twilio/status")
    _no_evil(leg_a.url)
    _no_evil(leg_a.status_callback)


async def test_api_subscriber_cannot_choose_the_callback_host(live):
    app, client, url = live
    db = app.state.platform.db
    alice = await accounts.get_account_by_login(db, login="alice")
    token = await accounts.create_token(db, account_id=alice["id"])
    response = await client.post("/api/v1/callbacks", json={"to": "+12125550123"},
                                 headers={**FORGED, "Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    await _assert_callbacks_go_to(app, url)


async def test_portal_connect_two_cannot_choose_the_callback_host(live):
    app, client, url = live
    # Not X-Forwarded-Proto here: from loopback uvicorn believes it, and the session cookie becomes Secure.
    forged = {"Host": EVIL, "X-Forwarded-Host": EVIL}
    page = await client.get("/login", headers=forged)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    logged = await client.post("/login", data={"csrf": csrf, "login": "alice", "password": "alice-demo-password"},
                               headers=forged)
    assert logged.status_code == 303, logged.text
    home = await client.get("/", headers=forged)
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)
    nonce = re.search(r'name="nonce" value="([^"]+)"', home.text).group(1)
    queued = await client.post("/calls", data={"csrf": csrf, "nonce": nonce, "from": "", "to": "2125550123"},
                               headers=forged)
    assert queued.status_code == 303, queued.text
    await _assert_callbacks_go_to(app, url)


async def test_sms_gateway_cannot_choose_the_callback_host(live):
    app, client, url = live
    secret = await sms_log.add_gateway(app.state.platform.db, name="office-phone")
    response = await client.post("/sms/gateway", json={"from": ALICE_MOBILE, "text": "CALL 2125550123", "id": "1"},
                                 headers={**FORGED, "X-Gateway-Secret": secret})
    assert response.status_code == 200, response.text
    await _assert_callbacks_go_to(app, url)


def _sandbox_signed(app, url: str, params: dict) -> dict:
    token = credentials.sandbox_auth_token(app.state.platform.secret_key)
    return {**FORGED, "X-Twilio-Signature": tw.sign(url, params, token=token)}


async def test_signed_sms_webhook_cannot_choose_the_callback_host(live):
    app, client, url = live
    params = tw.sms_params(From=ALICE_MOBILE, To=PIN_NUMBER, Body="CALL 2125550123")
    # Signed for the URL the sandbox was given; what the Host header claims is neither checked nor used.
    response = await client.post("/twilio/sms", data=params, headers=_sandbox_signed(app, url + "/twilio/sms", params))
    assert response.status_code == 200, response.text
    await _assert_callbacks_go_to(app, url)


async def test_a_signature_for_the_forged_host_is_refused(live):
    app, client, url = live
    params = tw.sms_params(From=ALICE_MOBILE, To=PIN_NUMBER, Body="CALL 2125550123")
    for scheme in ("http", "https"):
        headers = _sandbox_signed(app, f"{scheme}://{EVIL}/twilio/sms", params)
        if scheme == "http":
            del headers["X-Forwarded-Proto"]
        forged = await client.post("/twilio/sms", data=params, headers=headers)
        assert forged.status_code == 403
    assert await _rows(app) == []


async def test_voice_trigger_and_twiml_actions_cannot_choose_the_callback_host(live):
    app, client, url = live
    params = tw.voice_params(From=STRANGER, To=PIN_NUMBER)
    response = await client.post("/twilio/voice", data=params, headers=_sandbox_signed(app, url + "/twilio/voice", params))
    assert response.status_code == 200, response.text
    await _assert_callbacks_go_to(app, url)
    # Every TwiML action the callback leg is given is on the platform's own address too.
    (row,) = await _rows(app)
    step = f"/legs/{row['id']}/answer"
    leg = tw.voice_params(From=row["leg_a_from"], To=row["leg_a_number"], CallSid=row["leg_a_sid"],
                          CallStatus="in-progress", Direction="outbound-api")
    answer = await client.post(step, data=leg, headers=_sandbox_signed(app, url + step, leg))
    assert answer.status_code == 200, answer.text
    actions = re.findall(r'action="([^"]+)"', answer.text)
    assert actions and all(action.startswith(url + "/legs/") for action in actions), answer.text


async def test_demo_visitor_cannot_point_the_carrier_elsewhere(live):
    app, client, url = live
    response = await client.post("/demo/ring", json={"from": STRANGER, "to": PIN_NUMBER}, headers=FORGED)
    assert response.status_code == 200, response.text
    carrier = app.state.carrier
    assert carrier.voice_url == url + "/twilio/voice" and carrier.sms_url == url + "/twilio/sms"


# With a real provider: PUBLIC_BASE_URL, whatever the request says.

PUBLIC = "https://callback.example.com"


@pytest.fixture
def open_p(settings, engine):
    """A platform with Twilio credentials, every Host accepted: the forged one reaches the handlers."""
    with PlatformUnderTest(settings.with_(public_base_url=PUBLIC, allowed_hosts=("*",)), engine) as platform:
        sc.seed(platform)
        yield platform


@pytest.fixture
def provider():
    recorder = TwilioRecorder()
    with recorder.cassette("calls_create.yaml"):
        yield recorder


def test_with_a_real_provider_the_callbacks_are_on_public_base_url(open_p, provider):
    p = open_p
    params = tw.voice_params(From=sc.ALICE_MOBILE, To=sc.ANI_NUMBER)
    response = p.client.post("/twilio/voice", data=params,
                             headers={**FORGED, "X-Twilio-Signature": tw.sign(PUBLIC + "/twilio/voice", params)})
    assert response.status_code == 200
    (row,) = p.requests()
    assert row["base_url"] == PUBLIC
    assert p.dispatch() == 1
    (sent,) = provider.sent
    assert sent["Url"][0].startswith(PUBLIC + "/legs/") and sent["StatusCallback"][0].startswith(PUBLIC + "/twilio/")


# Start-up refusals.


def test_real_credentials_without_public_base_url_refuse_to_start(settings, tmp_path):
    with pytest.raises(SystemExit, match="PUBLIC_BASE_URL is required"):
        create_app(settings.with_(public_base_url=None))
    with pytest.raises(SystemExit, match="PUBLIC_BASE_URL is required"):
        load_settings({"TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID, "TWILIO_AUTH_TOKEN": "t"}, env_file=tmp_path / "none")
    with pytest.raises(SystemExit, match="PUBLIC_BASE_URL must be an http"):
        load_settings({"PUBLIC_BASE_URL": "callback.example.com"}, env_file=tmp_path / "none")


def test_account_sid_without_auth_token_refuses_to_start(settings, tmp_path):
    with pytest.raises(SystemExit, match="TWILIO_AUTH_TOKEN"):
        create_app(settings.with_(twilio_auth_token=None))
    with pytest.raises(SystemExit, match="TWILIO_AUTH_TOKEN"):
        load_settings({"TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID, "PUBLIC_BASE_URL": PUBLIC}, env_file=tmp_path / "none")
    with pytest.raises(SystemExit, match="TWILIO_AUTH_TOKEN"):
        credentials.twilio_credentials(settings.with_(twilio_auth_token=None))


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


def test_a_request_signed_with_an_empty_key_is_refused(p):
    params = tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)
    response = p.post("/twilio/voice", params, signature=tw.sign(BASE + "/twilio/voice", params, token=""))
    assert response.status_code == 403 and p.requests() == []


# The trusted-host check.


@pytest.mark.parametrize("path", ["/healthz", "/login", "/api/v1/account", "/twilio/voice"])
def test_a_foreign_host_gets_400(p, path):
    response = p.client.get(path, headers={"Host": EVIL})
    assert response.status_code == 400 and "Traceback" not in response.text


def test_an_overlong_host_gets_400_and_reaches_no_column(settings, engine):
    with PlatformUnderTest(settings.with_(allowed_hosts=("*",)), engine) as p:
        sc.seed(p)
        token = p.run(accounts.create_token, p.platform.db,
                      account_id=p.run(accounts.get_account_by_login, p.platform.db, login="alice")["id"])
        response = p.client.post("/api/v1/callbacks", json={"to": "2125550123"},
                                 headers={"Host": "a" * 10_000, "Authorization": f"Bearer {token}"})
        assert response.status_code == 400
        assert p.requests() == []


def test_default_hosts_are_public_base_urls_loopback_and_the_bound_address(settings, engine):
    configured = settings.with_(public_base_url="https://cb.example.com:8443", allowed_hosts=None)
    with PlatformUnderTest(configured, engine) as p:
        for host in ("cb.example.com", "cb.example.com:8443", "localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert p.client.get("/healthz", headers={"Host": host}).status_code == 200, host
        for host in ("testserver", EVIL, "cb.example.com.evil.example", "[::2]", ""):
            assert p.client.get("/healthz", headers={"Host": host}).status_code == 400, host
    assert request_origin.default_allowed_hosts(None, "http://192.0.2.7:8000") == (
        "localhost", "127.0.0.1", "[::1]", "192.0.2.7")


def test_allowed_hosts_setting(tmp_path):
    env = tmp_path / "none"
    assert load_settings({}, env_file=env).allowed_hosts is None
    assert load_settings({"ALLOWED_HOSTS": " Cb.Example.com, *.example.org ,"}, env_file=env).allowed_hosts == (
        "cb.example.com", "*.example.org")
    assert request_origin.host_allowed("a.example.org", ("*.example.org",))
    assert not request_origin.host_allowed("example.org.evil", ("*.example.org",))
    assert request_origin.host_allowed(EVIL, ("*",))


# Client addresses: the platform's own reading of the socket peer and X-Forwarded-For, which lockouts key on.

ROUTER = ("10.1.2.3", 5000)  # a PaaS router: an address the operator does not know
ATTACKER_IP, OWNER_IP = "203.0.113.7", "192.0.2.44"


@contextlib.contextmanager
def proxied_platform(settings, engine, **changes):
    with PlatformUnderTest(settings.with_(**changes), engine) as platform:
        sc.seed(platform)
        yield platform


def _sign_in(p, peer, forwarded_for: list[str] | None, password: str) -> int:
    """One portal sign-in as alice from the socket peer `peer`, with these X-Forwarded-For headers."""
    headers = [("X-Forwarded-For", value) for value in forwarded_for or []]

    async def go():
        transport = httpx.ASGITransport(app=p.app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            response = await client.post("/login", data={"csrf": csrf, "login": "alice", "password": password},
                                         headers=headers)
            return response.status_code

    return p.run(go)


def _sources(p) -> list[str]:
    with p.engine.connect() as c:
        return [row.requester for row in c.execute(auth_failures.select().order_by(auth_failures.c.id))]


def test_forged_forwarded_for_entries_do_not_change_the_source_a_lockout_keys_on(settings, engine, lockout_clock):
    """Behind a router (Heroku: one hop) each guess forges a new leftmost entry; the router's own entry decides."""
    from app.fraud import lockouts

    with proxied_platform(settings, engine, forwarded_trusted_hops=1) as p:
        statuses = []
        for n in range(lockouts.MAX_FAILURES + 2):
            lockout_clock.wait_out_backoff()
            forged = f"198.51.100.{n}, 127.0.0.1"  # written by the attacker; the router appends the real address
            statuses.append(_sign_in(p, ROUTER, [f"{forged}, {ATTACKER_IP}"], f"guess-{n}"))
        assert statuses == [401] * lockouts.MAX_FAILURES + [429, 429]
        assert set(_sources(p)) == {f"web:{ATTACKER_IP}"}
        # The attacker's lockout is the attacker's: the owner, through the same router, signs in.
        assert _sign_in(p, ROUTER, [OWNER_IP], "alice-password") == 303


def test_without_trusted_hops_a_router_does_not_lock_every_visitor_out(settings, engine, lockout_clock):
    """The router's address, trusted by network, is passed: visitors are not all one source."""
    from app.fraud import lockouts

    with proxied_platform(settings, engine, forwarded_allow_ips="10.0.0.0/8") as p:
        for n in range(lockouts.MAX_FAILURES + 1):
            lockout_clock.wait_out_backoff()
            _sign_in(p, ROUTER, [f"198.51.100.{n}", ATTACKER_IP], f"guess-{n}")
        assert set(_sources(p)) == {f"web:{ATTACKER_IP}"}
        assert _sign_in(p, ROUTER, [OWNER_IP], "alice-password") == 303


@pytest.mark.parametrize("changes, peer, forwarded_for, source", [
    # Proxies trusted by address are passed, right to left; the first other entry is the client.
    ({"forwarded_allow_ips": "10.0.0.0/8, 192.168.0.0/16"}, ("10.0.0.5", 1), ["1.2.3.4, 203.0.113.9, 192.168.1.1"],
     "203.0.113.9"),
    # Several X-Forwarded-For headers are one list, in order.
    ({"forwarded_allow_ips": "10.0.0.0/8"}, ("10.0.0.5", 1), ["1.2.3.4", "203.0.113.9"], "203.0.113.9"),
    # Two hops whose addresses are unknown (a CDN, then a router): the entry two places from the right.
    ({"forwarded_trusted_hops": 2}, ("10.9.9.9", 1), ["6.6.6.6, 203.0.113.9, 172.16.0.1"], "203.0.113.9"),
    # A local proxy trusted by address in front of a router believed by count.
    ({"forwarded_trusted_hops": 1}, ("127.0.0.1", 1), ["6.6.6.6, 203.0.113.9, 172.16.0.1"], "203.0.113.9"),
    # Fewer entries than hops: the leftmost a proxy wrote; ports and IPv6 brackets are not part of the address.
    ({"forwarded_trusted_hops": 3}, ("10.9.9.9", 1), ["203.0.113.9:4431"], "203.0.113.9"),
    ({"forwarded_allow_ips": "::1"}, ("::1", 1), ["[2001:DB8::1]:443"], "2001:db8::1"),
    # From a trusted proxy, an entry that is no address keys nothing of the client's choosing.
    ({}, ("127.0.0.1", 1), ["<script>" + "x" * 500], "unknown"),
])
def test_trusted_proxies_and_hops_pick_the_entry_they_appended(settings, engine, changes, peer, forwarded_for,
                                                               source):
    with proxied_platform(settings, engine, **changes) as p:
        assert _sign_in(p, peer, forwarded_for, "wrong") == 401
        assert _sources(p) == [f"web:{source}"]


@pytest.mark.parametrize("peer", [("203.0.113.7", 1), ("10.1.2.3", 1)])
def test_an_untrusted_peers_forwarded_for_is_ignored(settings, engine, peer):
    """By default only loopback is a proxy: anyone else's X-Forwarded-For, loopback named in it or not, is theirs."""
    with proxied_platform(settings, engine) as p:
        assert _sign_in(p, peer, ["127.0.0.1, 198.51.100.1"], "wrong") == 401
        assert _sources(p) == [f"web:{peer[0]}"]


async def test_forwarded_for_from_a_trusted_proxy_is_checked_before_it_is_stored(live):
    """On a real socket, loopback forwarding junk: it is checked to be an address before it is stored."""
    app, client, url = live
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    junk = "<script>" + "x" * 500
    response = await client.post("/login", data={"csrf": csrf, "login": "alice", "password": "wrong"},
                                 headers={"X-Forwarded-For": junk, "User-Agent": "u" * 5000, "Referer": "r" * 5000})
    assert response.status_code in (200, 401, 422)
    requesters = {row["requester"] for row in await app.state.platform.db.fetch_all(auth_failures.select())}
    assert "web:unknown" in requesters and not any("script" in r for r in requesters)


@pytest.mark.parametrize("value", ["*", "10.0.0.1, *", "not-an-address"])
def test_forwarded_allow_ips_star_refuses_to_start(tmp_path, value):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "FORWARDED_ALLOW_IPS": value}
    with pytest.raises(SystemExit) as refused:
        load_settings(env, env_file=None)
    assert "FORWARDED_ALLOW_IPS" in str(refused.value)
    if "*" in value:
        assert "FORWARDED_TRUSTED_HOPS" in str(refused.value) and "list your proxies" in str(refused.value)
    with pytest.raises(SystemExit):
        create_app(Settings(database_url=env["DATABASE_URL"], forwarded_allow_ips=value))
    with pytest.raises(SystemExit):
        load_settings({**env, "FORWARDED_ALLOW_IPS": "127.0.0.1", "FORWARDED_TRUSTED_HOPS": "-1"}, env_file=None)


# Constant-time compares fed what compare_digest cannot take: a non-ASCII str.

NON_ASCII = "é€".encode()


def test_a_non_ascii_twilio_signature_is_403_not_500(p):
    params = tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)
    for route in ("/twilio/voice", "/twilio/sms", "/twilio/status?request=1&leg=a", "/legs/1/answer"):
        response = p.client.post(route, data=params, headers=[(b"X-Twilio-Signature", NON_ASCII)])
        assert response.status_code == 403, route
    assert p.requests() == []


def test_a_non_ascii_api_token_is_401(p):
    response = p.client.get("/api/v1/account", headers=[(b"Authorization", b"Bearer " + NON_ASCII)])
    assert response.status_code == 401


def test_a_non_ascii_gateway_secret_is_403(p):
    p.run(sms_log.add_gateway, p.platform.db, name="office-phone")
    for headers, params in [([(b"X-Gateway-Secret", NON_ASCII)], None), ([(b"Authorization", b"Bearer " + NON_ASCII)], None),
                            ([], {"secret": "é€"})]:
        response = p.client.post("/sms/gateway", json={"from": sc.ALICE_MOBILE, "text": "BAL"}, headers=headers,
                                 params=params)
        assert response.status_code == 403  # a secret that matches no gateway, not a 500
    body = {"from": sc.ALICE_MOBILE, "text": "BAL", "secret": "é€"}
    assert p.client.post("/sms/gateway", json=body).status_code == 403


def _logged_in(p):
    page = p.client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = p.client.post("/login", data={"csrf": csrf, "login": "alice", "password": "alice-password"})
    assert response.status_code == 200 and "Log out" in response.text


def test_a_non_ascii_csrf_token_is_refused(p):
    _logged_in(p)
    response = p.client.post("/calls", data={"csrf": "é€", "nonce": "x" * 10, "from": "", "to": "2125550123"},
                             follow_redirects=False)
    assert 400 <= response.status_code < 500 and p.requests() == []


def test_a_non_ascii_caller_id_code_is_a_form_message(p, monkeypatch):
    async def send_sms(*, to, from_, body):
        return "SM" + "0" * 32

    monkeypatch.setattr(p.platform.provider, "send_sms", send_sms)
    _logged_in(p)
    page = p.client.get("/settings")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    p.client.post("/settings/anis", data={"csrf": csrf, "number": "+14155550142"})
    response = p.client.post("/settings/anis/verify", data={"csrf": csrf, "number": "+14155550142", "code": "é€"})
    assert response.status_code == 422 and "6-digit code" in response.text


async def test_a_non_ascii_sandbox_rest_password_is_401():
    from sandbox import Carrier

    carrier = Carrier()
    try:
        async with serve(carrier.app) as url, httpx.AsyncClient(base_url=url) as client:
            basic = base64.b64encode(f"{carrier.account_sid}:é€".encode())
            response = await client.get(f"/2010-04-01/Accounts/{carrier.account_sid}/Calls.json",
                                        headers={"Authorization": b"Basic " + basic})
            assert response.status_code == 401
    finally:
        await carrier.aclose()


# /metrics: a token when configured, and database counts cached between scrapes.


def test_metrics_token(settings, engine):
    with PlatformUnderTest(settings.with_(metrics_token="scrape-token"), engine) as p:
        assert p.client.get("/metrics").status_code == 401
        assert p.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert p.client.get("/metrics", headers=[(b"Authorization", b"Bearer " + NON_ASCII)]).status_code == 401
        response = p.client.get("/metrics", headers={"Authorization": "Bearer scrape-token"})
        assert response.status_code == 200 and "callback_queue_depth" in response.text


def _queued(p) -> float:
    text = p.client.get("/metrics").text
    found = re.search(r'^callback_requests\{reason="",state="queued"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_metrics_counts_are_cached_between_scrapes(p):
    now = [1000.0]
    p.app.state.metrics.counts.clock = lambda: now[0]
    assert _queued(p) == 0
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    assert _queued(p) == 0  # within the cache time: no new GROUP BY, the old count
    now[0] += 10
    assert _queued(p) == 1


# `serve`: the bound address and the trusted proxies come from it and the settings.


def test_serve_passes_the_bound_address_and_leaves_client_addresses_to_the_platform(monkeypatch, tmp_path):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kwargs: calls.append((target, kwargs)))
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "FORWARDED_ALLOW_IPS": "10.0.0.1",
                              "FORWARDED_TRUSTED_HOPS": "1"}, env_file=None)
    assert (settings.forwarded_allow_ips, settings.forwarded_trusted_hops) == ("10.0.0.1", 1)
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "8123"], settings=settings) == 0
    (target, kwargs), = calls
    assert target.state.listen_url == "http://127.0.0.1:8123"
    # uvicorn does not rewrite the client (its rule takes the leftmost entry once `*` is trusted): one rule, ours.
    assert kwargs["proxy_headers"] is False and "forwarded_allow_ips" not in kwargs
    defaults = load_settings({}, env_file=None)
    assert (defaults.forwarded_allow_ips, defaults.forwarded_trusted_hops) == ("127.0.0.1", 0)
    assert request_origin.http_base("::", 8000) == "http://[::1]:8000"
    assert request_origin.http_base("192.0.2.7", 80) == "http://192.0.2.7"


def test_served_by_uvicorn_the_forged_leftmost_entry_is_not_the_client(settings, engine, monkeypatch):
    """The app as `serve` hands it to uvicorn (its middleware included): the router's entry is the client."""
    import uvicorn

    import app.main

    with proxied_platform(settings, engine, forwarded_trusted_hops=1) as p:
        calls = []
        monkeypatch.setattr(uvicorn, "run", lambda target, **kwargs: calls.append((target, kwargs)))
        monkeypatch.setattr(app.main, "create_app", lambda *args, **kwargs: p.app)
        assert cli_main(["serve"], settings=p.settings) == 0
        (target, kwargs), = calls
        config = uvicorn.Config(target, **{**kwargs, "log_config": None})
        config.load()

        async def go():
            transport = httpx.ASGITransport(app=config.loaded_app, client=ROUTER)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                page = await client.get("/login")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                await client.post("/login", data={"csrf": csrf, "login": "alice", "password": "wrong"},
                                  headers={"X-Forwarded-For": f"198.51.100.1, {ATTACKER_IP}"})

        p.run(go)
        assert _sources(p) == [f"web:{ATTACKER_IP}"]
