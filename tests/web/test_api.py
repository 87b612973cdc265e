"""The REST API under /api/v1: every route and every error, the OpenAPI document against the routes,
and schemathesis fuzzing the running app from that document (no 5xx, responses as documented)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from urllib.parse import quote

import hypothesis
import hypothesis.errors
import pytest
import sqlalchemy as sa
import uvicorn
from starlette.routing import Route

from app.calls import account_requests
from app.data import accounts
from app.web import api, api_schema
from app.core import states
from app.data.db import make_database
from app.main import create_app
from app.data.tables import accounts as accounts_t
from app.data.tables import api_tokens, callback_requests
from tests.utils import scenario as sc
from tests.utils.harness import PlatformUnderTest
from tests.utils.live import seed

try:
    import schemathesis
except ImportError:  # in the test extras; without it only the fuzzing test is skipped
    schemathesis = None

NY = "+12125550123"
PARIS = "+33123456789"  # no rate for France in the test data: not available


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        yield platform


def account_id(p: PlatformUnderTest, login: str) -> int:
    return p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == login))


def token_for(p: PlatformUnderTest, login: str, name: str = "") -> str:
    return p.run(accounts.create_token, p.platform.db, account_id=account_id(p, login), name=name)


@pytest.fixture
def alice(p):
    return {"Authorization": f"Bearer {token_for(p, 'alice')}"}


@pytest.fixture
def bob(p):
    return {"Authorization": f"Bearer {token_for(p, 'bob')}"}


def post(p, path, body=None, headers=None, **kwargs):
    return p.client.post("/api/v1" + path, json=body, headers=headers, **kwargs)


def error_of(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"]


# Routes ---------------------------------------------------------------------------


def test_create_get_list_and_cancel_a_callback(p, alice):
    created = post(p, "/callbacks", {"to": "2125550123"}, alice)
    assert created.status_code == 201, created.text
    callback = created.json()
    assert created.headers["location"] == f"/api/v1/callbacks/{callback['id']}"
    assert callback | {"created_at": None, "updated_at": None} == {
        "id": callback["id"], "state": "queued", "reason": None, "from": sc.ALICE_HOME, "to": NY, "trigger": "api",
        "scheduled_at": None,
        "created_at": None, "updated_at": None, "terminal": False, "leg_a": "waiting", "leg_b": "waiting",
        "legs": [], "cost": "0.00", "cost_minor": 0, "currency": "USD", "provider": None,  # not routed yet
    }
    row = p.request(callback["id"])
    assert (row["trigger_kind"], row["leg_a_number"], row["leg_b_number"], row["notify_number"]) == \
        ("api", sc.ALICE_HOME, NY, sc.ALICE_HOME)

    assert p.client.get(f"/api/v1/callbacks/{callback['id']}", headers=alice).json() == callback
    listed = p.client.get("/api/v1/callbacks", headers=alice).json()
    assert listed == {"data": [callback], "next_cursor": None}

    canceled = post(p, f"/api/v1/callbacks/{callback['id']}/cancel".removeprefix("/api/v1"), headers=alice)
    assert canceled.status_code == 200
    assert (canceled.json()["state"], canceled.json()["reason"], canceled.json()["terminal"]) == \
        ("failed", "canceled", True)
    assert p.request(callback["id"])["notified_at"] is not None  # no "your callback failed" text for a cancel
    again = post(p, f"/callbacks/{callback['id']}/cancel", headers=alice)
    assert (again.status_code, error_of(again)) == (409, "not_cancelable")


def test_from_is_leg_a_and_required_without_a_default_number(p, alice, bob):
    created = post(p, "/callbacks", {"to": "+12125550123", "from": "(415) 555-0177"}, alice).json()
    assert (created["from"], created["to"]) == ("+14155550177", NY)
    refused = post(p, "/callbacks", {"to": NY}, bob)
    assert (refused.status_code, error_of(refused)) == (422, "from_required")
    assert post(p, "/callbacks", {"to": NY, "from": None}, bob).status_code == 422
    assert post(p, "/callbacks", {"to": NY, "from": sc.BOB_MOBILE}, bob).status_code == 201


def test_an_idempotency_key_makes_one_callback_per_account(p, alice, bob):
    key = {"Idempotency-Key": "order-42"}
    first = post(p, "/callbacks", {"to": NY}, alice | key)
    replay = post(p, "/callbacks", {"to": "2125550123"}, alice | key)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json()["id"] == first.json()["id"]
    conflict = post(p, "/callbacks", {"to": "2125550124"}, alice | key)
    assert (conflict.status_code, error_of(conflict)) == (409, "idempotency_conflict")
    other_account = post(p, "/callbacks", {"to": NY, "from": sc.BOB_MOBILE}, bob | key)
    assert other_account.status_code == 201 and other_account.json()["id"] != first.json()["id"]
    assert len(p.requests()) == 2


def created_and_canceled(p, headers, body) -> int:
    # Canceled at once: an account may have only a few callbacks in progress.
    callback_id = post(p, "/callbacks", body, headers).json()["id"]
    assert post(p, f"/callbacks/{callback_id}/cancel", headers=headers).status_code == 200
    return callback_id


def test_cursor_pagination_walks_every_callback_once_newest_first(p, alice, bob):
    ids = [created_and_canceled(p, alice, {"to": NY}) for _ in range(5)]
    created_and_canceled(p, bob, {"to": NY, "from": sc.BOB_MOBILE})
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = p.client.get("/api/v1/callbacks", params=params, headers=alice).json()
        seen += [item["id"] for item in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True) and pages == 3


def test_account_and_rates(p, alice):
    account = p.client.get("/api/v1/account", headers=alice).json()
    assert account == {"login": "alice", "status": "active", "balance": "10.00", "balance_minor": 1000,
                       "currency": "USD", "country": "US", "language": "en", "default_number": sc.ALICE_HOME,
                       "anis": [sc.ALICE_MOBILE]}
    uk = p.client.get("/api/v1/rates?number=" + quote("+442071234567"), headers=alice)
    assert uk.json() == {"number": "+442071234567", "prefix": "44", "price_per_minute": "0.05",
                         "price_per_minute_micros": 50_000, "currency": "USD", "first_increment": 30,
                         "next_increment": 6}
    # An unencoded "+" arrives as a space; a national number uses the account's country.
    assert p.client.get("/api/v1/rates?number=+442071234567", headers=alice).json()["prefix"] == "44"
    assert p.client.get("/api/v1/rates?number=2125550123", headers=alice).json()["price_per_minute"] == "0.01"


RATE_ERRORS = [
    ("", 400, "missing_parameter"),
    ("?number=", 400, "missing_parameter"),
    ("?number=banana", 422, "invalid_number"),
    ("?number=" + "1" * 41, 422, "invalid_number"),
    ("?number=" + quote(PARIS), 404, "no_rate"),
]


def test_rate_errors(p, alice):
    for query, status, code in RATE_ERRORS:
        response = p.client.get("/api/v1/rates" + query, headers=alice)
        assert (response.status_code, error_of(response)) == (status, code), query


# Errors ---------------------------------------------------------------------------

JSON = {"Content-Type": "application/json"}


BAD_BODIES = [
    (b'{"to": ', JSON, 400, "invalid_json"),
    (b"\xff\xfe", JSON, 400, "invalid_json"),
    (b"[1, 2]", JSON, 422, "invalid_body"),
    (b'"+12125550123"', JSON, 422, "invalid_body"),
    (b"{}", JSON, 422, "missing_field"),
    (b'{"to": 12125550123}', JSON, 422, "invalid_field"),
    (b'{"to": ["+12125550123"]}', JSON, 422, "invalid_field"),
    (b'{"to": "  "}', JSON, 422, "invalid_field"),
    (b'{"to": "+12125550123", "from": 5}', JSON, 422, "invalid_field"),
    (b'{"to": "+12125550123", "cc": "x"}', JSON, 422, "unknown_field"),
    (b'{"to": "not a number"}', JSON, 422, "invalid_number"),
    (b'{"to": "+12125550123", "from": "12"}', JSON, 422, "invalid_number"),
    (b'{"to": "\\u0000+1212"}', JSON, 422, "invalid_number"),
    (b'{"to": "' + b"1" * 41 + b'"}', JSON, 422, "invalid_field"),
    (b'{"to": "' + b"1" * 9000 + b'"}', JSON, 413, "too_large"),
    (b"to=%2B12125550123", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    (b'{"to": "+12125550123"}', {}, 415, "unsupported_media_type"),
    (b'{"to": "+12125550123"}', JSON | {"Idempotency-Key": "has space"}, 400, "invalid_idempotency_key"),
    (b'{"to": "+12125550123"}', JSON | {"Idempotency-Key": "k" * 51}, 400, "invalid_idempotency_key"),
]


def test_bad_bodies_get_clear_errors_and_write_nothing(p, alice):
    for body, headers, status, code in BAD_BODIES:
        response = p.client.post("/api/v1/callbacks", content=body, headers=alice | headers)
        assert (response.status_code, error_of(response)) == (status, code), (body[:60], response.text)
    assert p.requests() == []


WITHOUT_A_VALID_TOKEN = [
    (None, "unauthorized"),
    ("Basic YWxpY2U6cGFzc3dvcmQ=", "unauthorized"),
    ("Bearer ", "unauthorized"),
    ("Bearer cbp_not-a-real-token", "invalid_token"),
    ("Bearer " + "x" * 300, "invalid_token"),
    ("Bearer caf\u00e9", "invalid_token"),
]


def test_requests_without_a_valid_token_get_401(p):
    for authorization, code in WITHOUT_A_VALID_TOKEN:
        headers = {"Authorization": authorization.encode()} if authorization else {}
        for method, path in [("GET", "/callbacks"), ("POST", "/callbacks"), ("GET", "/callbacks/1"),
                             ("POST", "/callbacks/1/cancel"), ("GET", "/account"), ("GET", "/rates?number=1")]:
            response = p.client.request(method, "/api/v1" + path, headers=headers, json={"to": NY})
            assert (response.status_code, error_of(response)) == (401, code), (authorization, method, path)
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert p.requests() == []


def test_a_revoked_token_is_refused_and_a_used_one_is_stamped(p):
    token = token_for(p, "alice", "integration")
    headers = {"Authorization": f"Bearer {token}"}
    assert p.scalar(sa.select(api_tokens.c.last_used_at)) is None
    assert p.client.get("/api/v1/account", headers=headers).status_code == 200
    assert p.scalar(sa.select(api_tokens.c.last_used_at)) is not None
    (listed,) = p.run(accounts.list_tokens, p.platform.db, account_id=account_id(p, "alice"))
    assert listed["name"] == "integration"
    assert p.run(accounts.revoke_token, p.platform.db, account_id=account_id(p, "bob"), token_id=listed["id"]) is False
    assert p.run(accounts.revoke_token, p.platform.db, account_id=account_id(p, "alice"), token_id=listed["id"])
    response = p.client.get("/api/v1/account", headers=headers)
    assert (response.status_code, error_of(response)) == (401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_another_accounts_callbacks_are_not_found(p, alice, bob):
    mine = post(p, "/callbacks", {"to": NY}, alice).json()["id"]
    for method, path in [("GET", f"/callbacks/{mine}"), ("POST", f"/callbacks/{mine}/cancel")]:
        response = p.client.request(method, "/api/v1" + path, headers=bob)
        assert (response.status_code, error_of(response)) == (404, "not_found")
    assert p.client.get("/api/v1/callbacks", headers=bob).json() == {"data": [], "next_cursor": None}
    assert p.request(mine)["state"] == states.QUEUED


UNKNOWN = [
    ("GET", "/callbacks/999", 404, "not_found"),
    ("GET", "/callbacks/99999999999999999999", 404, "not_found"),
    ("GET", "/callbacks/0", 404, "not_found"),
    ("GET", "/callbacks/abc", 404, "not_found"),
    ("POST", "/callbacks/999/cancel", 404, "not_found"),
    ("GET", "/nothing-here", 404, "not_found"),
    ("GET", "/callbacks?limit=0", 400, "invalid_parameter"),
    ("GET", "/callbacks?limit=101", 400, "invalid_parameter"),
    ("GET", "/callbacks?limit=ten", 400, "invalid_parameter"),
    ("GET", "/callbacks?cursor=-1", 400, "invalid_parameter"),
    ("GET", "/callbacks?cursor=99999999999", 400, "invalid_parameter"),
    ("DELETE", "/callbacks/1", 405, "method_not_allowed"),
    ("PUT", "/account", 405, "method_not_allowed"),
    ("GET", "/callbacks/1/cancel", 405, "method_not_allowed"),
]


def test_unknown_ids_routes_parameters_and_methods(p, alice):
    for method, path, status, code in UNKNOWN:
        response = p.client.request(method, "/api/v1" + path, headers=alice)
        assert (response.status_code, error_of(response)) == (status, code), (method, path)
        assert ("allow" in response.headers) == (status == 405)


class Refusing:
    def __init__(self, reason):
        self.reason = reason

    async def __call__(self, *args, **kwargs):
        raise account_requests.Refused(self.reason, "refused for the test")


REFUSALS = [("insufficient_funds", 402), ("destination_blocked", 403), ("auth_failed", 403), ("rate_limited", 429),
            ("invalid_number", 422), ("unavailable", 503), ("a_reason_added_later", 409)]


def test_refusals_map_to_statuses(p, alice, monkeypatch):
    for reason, status in REFUSALS:
        monkeypatch.setattr(account_requests, "request_callback", Refusing(reason))
        response = post(p, "/callbacks", {"to": NY}, alice)
        assert (response.status_code, error_of(response)) == (status, reason)


def test_real_refusals_from_the_account_and_the_rates(p, alice):
    refused = post(p, "/callbacks", {"to": PARIS}, alice)
    assert (refused.status_code, error_of(refused)) == (403, "destination_blocked")
    assert PARIS in refused.json()["error"]["message"]
    p.run(accounts.update_account, p.platform.db, account_id=account_id(p, "alice"), balance=0)
    broke = post(p, "/callbacks", {"to": NY}, alice)
    assert (broke.status_code, error_of(broke)) == (402, "insufficient_funds")
    p.run(accounts.update_account, p.platform.db, account_id=account_id(p, "alice"), balance=100, status="blocked")
    blocked = post(p, "/callbacks", {"to": NY}, alice)
    assert (blocked.status_code, error_of(blocked)) == (403, "auth_failed")
    assert p.requests() == []


def test_canceling_a_live_call_hangs_up_its_callback_leg(p, alice, monkeypatch):
    callback = post(p, "/callbacks", {"to": NY}, alice).json()
    with p.engine.begin() as c:
        c.execute(callback_requests.update().where(callback_requests.c.id == callback["id"])
                  .values(state=states.CONNECTED, leg_a_sid="CA" + "a" * 32))
    ended = []

    async def end_call(sid):
        ended.append(sid)

    monkeypatch.setattr(p.platform.provider, "end_call", end_call)
    response = post(p, f"/callbacks/{callback['id']}/cancel", headers=alice)
    assert (response.json()["state"], response.json()["reason"]) == ("failed", "canceled")
    assert ended == ["CA" + "a" * 32]
    assert [e["to_state"] for e in p.events(callback["id"])][-1] == states.FAILED


def test_an_unexpected_error_is_a_json_500_without_a_traceback(p, alice, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(api.accounts, "list_anis", broken)
    response = p.client.get("/api/v1/account", headers=alice)
    assert (response.status_code, error_of(response)) == (500, "internal_error")
    assert "fire" not in response.text and "Traceback" not in response.text


# The OpenAPI document ----------------------------------------------------------------


def _app_operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every API route of the app, in OpenAPI's path syntax."""
    found = set()
    for route in create_app().routes:
        if isinstance(route, Route) and route.path.startswith(api.PREFIX) and "{rest:path}" not in route.path:
            path = route.path.removeprefix(api.PREFIX)
            path = path.replace("{request_id:int}", "{id}").replace("{entry_id:int}", "{id}")
            if path in ("/openapi.json", "/docs"):
                continue
            found |= {(method, path) for method in route.endpoint.handlers}
    return found


def test_the_openapi_document_describes_exactly_the_routes(p):
    served = p.client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    document = served.json()
    assert document == api_schema.document() and document["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert documented == _app_operations()
    assert {op["operationId"] for ops in document["paths"].values() for op in ops.values()} == {
        "createCallback", "listCallbacks", "getCallback", "cancelCallback", "getAccount", "getRate", "redeemVoucher",
        "createTopup",
        "listPhonebook", "createPhonebookEntry", "getPhonebookEntry", "replacePhonebookEntry", "deletePhonebookEntry"}
    for ops in document["paths"].values():
        for op in ops.values():
            assert "401" in op["responses"]  # every operation needs the token


def test_the_docs_page_lists_every_operation_without_outside_resources(p):
    page = p.client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for op in api_schema.operations():
        assert f"{op['method']}</span> <span class=\"path\">{op['path']}" in page.text
    assert "http://" not in page.text and "https://" not in page.text.replace("https://callback.example.com", "")


# Fuzzing with schemathesis -------------------------------------------------------------


@contextlib.contextmanager
def served_in_a_thread(app):
    """uvicorn on a free port in its own thread and loop; schemathesis calls it over real HTTP."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def seeded_token(settings, login: str) -> str:
    """Seed the test data and make a token, on a connection of our own (the server is not up yet)."""
    db = make_database(settings)
    await db.connect()
    try:
        await seed(db, settings.secret_key)
        account = await accounts.get_account_by_login(db, login=login)
        return await accounts.create_token(db, account_id=account["id"])
    finally:
        await db.disconnect()


@pytest.fixture
def fuzz_server(settings):
    """The app served over HTTP with the test data; yields its URL and the headers with a token."""
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    token = asyncio.run(seeded_token(settings, "alice"))
    with served_in_a_thread(create_app(settings)) as url:
        yield url, {"Authorization": f"Bearer {token}"}




# Mostly numbers that are dialable (with and without a rate, in every spelling), so the generated requests
# reach past validation into the callback queue, the limits and the rate table.
PHONE_NUMBERS = hypothesis.strategies.sampled_from([
    NY, "2125550123", "(415) 555-0177", "+442071234567", "00442071234567", PARIS, sc.ALICE_MOBILE,
]) | hypothesis.strategies.from_regex(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)


class Found(Exception):
    """A check failed on a generated request (kept in `failures`; ends that operation's run)."""


def fuzzer(operation, mode, sent: dict, failures: set):
    checks = schemathesis.checks
    every_check = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
                   checks.response_schema_conformance, checks.response_headers_conformance,
                   checks.negative_data_rejection]
    label = f"{operation.label} ({mode.value})"
    sent[label] = 0

    @hypothesis.settings(max_examples=25, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck),
                         phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        sent[label] += 1
        try:
            case.call_and_validate(checks=every_check)
        except (AssertionError, BaseExceptionGroup) as exc:  # one failed check, or a group of them
            failures.add(f"{label}: {str(exc)[:800]}")
            raise Found(label) from None

    return run


def test_schemathesis_finds_no_server_error_and_no_undocumented_response(fuzz_server):
    """Valid and invalid requests generated from the document, against the live app: every response is
    documented (status, content type, schema, headers), invalid ones are refused, none is a 5xx."""
    url, headers = fuzz_server
    schemathesis.openapi.format("phone", PHONE_NUMBERS)
    schema = schemathesis.openapi.from_dict(api_schema.document())
    schema.config.update(base_url=url + api_schema.PREFIX, headers=headers, request_timeout=10)
    failures: set[str] = set()
    sent: dict[str, int] = {}
    for operation in (result.ok() for result in schema.get_all_operations()):
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                fuzzer(operation, mode, sent, failures)()
            except Found:
                pass
            except hypothesis.errors.Unsatisfiable:
                # No parameter or body to make invalid (GET /account): nothing to send in this mode.
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
                del sent[f"{operation.label} ({mode.value})"]
    assert not failures, "\n\n".join(sorted(failures))
    assert len(sent) == 24 and all(sent.values()) and sum(sent.values()) >= 300, sorted(sent.items())
