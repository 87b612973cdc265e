"""Replays and forgeries of provider requests.

Replays: the provider retries webhooks, so every trigger may come twice or more, at once or
late; each must act exactly once (1,000 triggers delivered 2,100 times make 1,000 callbacks).
Forgeries: every single alteration of a signed request (a parameter changed, removed or added;
the URL's path, query, host, port or scheme) is refused with 403 and writes nothing, on every
provider-facing route; behind a TLS-terminating proxy the public URL is what is checked.
(tests/providers/test_signatures.py has the first cases of each; these go through all of them.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from app.core import states
from app.main import create_app
from app.data.tables import callback_requests, metadata, sms_messages
from sandbox import Carrier, Clock, serve
from tests.utils import live
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.databases import database_url_for, isolated_postgres_url
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.provider import TwilioRecorder

IN_PROCESS = "http://platform.test"
__all__ = ["isolated_postgres_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """These tests run a dispatcher: on PostgreSQL, in a database no other session dispatches from."""
    return database_url_for(request, tmp_path)


class _Later:
    """An ASGI app set after it is built: the carrier needs its client before the app exists."""

    app = None

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def platform_and_carrier(settings, **overrides):
    """The app (dispatcher on) and the sandbox carrier in this event loop.

    The provider reaches the app through an in-process transport and the app reaches the
    provider's REST API over loopback. The carrier's clock nearly stands still and it starts
    one call in a thousand virtual seconds: each create is answered and its call waits in the
    carrier's queue, so a thousand callbacks cost a thousand creates and nothing more.
    """
    shim = _Later()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=shim), base_url=IN_PROCESS, timeout=30)
    carrier = Carrier(tw.ACCOUNT_SID, tw.AUTH_TOKEN, clock=Clock(speed=0.001), cps=0.001, http_client=client)
    try:
        async with serve(carrier.app) as carrier_url:
            configured = settings.with_(**{"twilio_api_base": carrier_url, "dispatcher_enabled": True,
                                           "public_base_url": IN_PROCESS, "allowed_hosts": ("platform.test",),
                                           "dispatch_delay_seconds": 0, "provider_cps": 500,
                                           "trigger_limit": 1_000_000, **overrides})
            shim.app = app = create_app(configured)
            async with app.router.lifespan_context(app):
                await live.seed(app.state.platform.db, configured.secret_key)
                try:
                    yield app, carrier, client
                finally:
                    await carrier.aclose()
    finally:
        await carrier.aclose()
        await client.aclose()


def callers(count: int) -> list[str]:
    return [f"+1415555{line:04d}" for line in range(100, 100 + count)]


async def deliver_all(client: httpx.AsyncClient, deliveries: list[tuple[str, dict]], concurrency: int):
    """Post (path, params) deliveries, signed, `concurrency` at a time; their answers in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path, params):
        async with gate:
            return await client.post(path, data=params, headers={"X-Twilio-Signature": tw.sign(IN_PROCESS + path, params)})

    return await asyncio.gather(*(one(path, params) for path, params in deliveries))


def concurrency(settings) -> int:
    """PostgreSQL takes 24 deliveries at once, so copies of one trigger race each other. SQLite
    runs one writer at a time however many wait (and a waiting writer can outlast its busy
    timeout under this load): there they come one at a time, still late and out of order,
    interleaved with the dispatcher's claims."""
    return 1 if settings.is_sqlite else 24


async def wait_until(predicate, timeout: float, what: str):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def leg_a_calls(carrier: Carrier) -> list:
    return [c for c in carrier.calls.values() if c.direction == "outbound-api"]


# --- replays ------------------------------------------------------------------------------


async def test_1000_triggers_replayed_make_1000_callbacks(settings, engine):
    triggers = 1000
    rng = random.Random(1000)
    params = [tw.voice_params(From=caller, To=sc.PIN_NUMBER) for caller in callers(100) for _ in range(triggers // 100)]
    # Each twice; one in ten a third time; shuffled, so copies come at once, late, and out of order.
    deliveries = [("/twilio/voice", p) for p in params] * 2 + [("/twilio/voice", p) for p in params[::10]]
    rng.shuffle(deliveries)
    async with platform_and_carrier(settings) as (_, carrier, client):
        answers = await deliver_all(client, deliveries, concurrency(settings))
        assert {a.status_code for a in answers} == {200}
        assert all(tw.parse_twiml(a.text)[0].name == "Reject" for a in answers)  # duplicates are rejected too
        await wait_until(lambda: len(leg_a_calls(carrier)) >= triggers, timeout=60, what="1,000 creates")
        await asyncio.sleep(0.5)  # a duplicate create would come now
        calls = leg_a_calls(carrier)
    with engine.connect() as c:
        rows = c.execute(sa.select(callback_requests)).mappings().all()
    assert len(deliveries) == 2100
    assert len(rows) == triggers and {r["trigger_id"] for r in rows} == {p["CallSid"] for p in params}
    assert {r["state"] for r in rows} == {states.CALLING_A}
    assert len(calls) == triggers, f"{len(calls)} leg-A calls for {triggers} requests"
    answer_urls = sorted(c.url for c in calls)
    assert answer_urls == sorted({c.url for c in calls}), "a request was called back twice"
    assert {r["leg_a_sid"] for r in rows} == {c.sid for c in calls}


async def test_texts_delivered_twice_or_more_act_once(settings, engine):
    texts = 100
    params = [tw.sms_params(From=sc.ALICE_MOBILE if i % 2 else sc.BOB_MOBILE, To=sc.PIN_NUMBER, Body="BAL")
              for i in range(texts)]
    deliveries = [("/twilio/sms", p) for p in params] * 2 + [("/twilio/sms", p) for p in params[::4]]
    random.Random(7).shuffle(deliveries)
    async with platform_and_carrier(settings) as (_, _carrier, client):
        answers = await deliver_all(client, deliveries, concurrency(settings))
    assert {a.status_code for a in answers} == {200}
    replies = [tw.parse_messages(a.text) for a in answers]
    assert sum(len(r) == 1 for r in replies) == texts and sum(len(r) == 0 for r in replies) == len(deliveries) - texts
    with engine.connect() as c:
        directions = c.execute(sa.select(sms_messages.c.direction, sa.func.count()).group_by(sms_messages.c.direction)).all()
    assert dict(directions) == {"in": texts, "out": texts}


# --- out of order -------------------------------------------------------------------------


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        sc.seed(platform)
        yield platform


@pytest.fixture
def provider():
    recorder = TwilioRecorder()
    with recorder.cassette("calls_create.yaml"):
        yield recorder


def placed_session(p: PlatformUnderTest) -> sc.Session:
    s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
    s.trigger()
    assert p.dispatch() == 1 and s.row["leg_a_sid"]
    return s


def test_a_connected_call_whose_leg_b_callbacks_come_last_ends_completed(p, provider):
    s = placed_session(p)
    s.status_a("in-progress")
    s.step("answer")
    s.step("destination", Digits="2125550123")
    leg_b = tw.call_sid()
    # The Dial action says the call was bridged for 45 s; leg B's own callbacks are still on their way.
    s.step("dialed", DialCallStatus="completed", DialCallSid=leg_b, DialCallDuration="45")
    s.step("next")  # no key: the subscriber is done
    s.status_a("completed", duration=80)
    assert s.status_b(leg_b, "in-progress", 1).status_code == 204
    assert s.status_b(leg_b, "completed", 2, duration=45).status_code == 204
    row = s.row
    legs = {leg["leg"]: leg for leg in p.legs(s.request_id)}
    assert legs["b"]["duration_seconds"] == 45 and legs["b"]["cost"] > 0  # billed as connected
    assert (row["state"], row["reason"], row["calls_connected"]) == (states.COMPLETED, None, 1)


def test_status_callbacks_replayed_out_of_order_apply_once(p, provider):
    s = placed_session(p)
    rid, sid = s.request_id, s.row["leg_a_sid"]
    row = s.row
    sent = []
    for sequence, (status, duration) in enumerate([("initiated", None), ("ringing", None), ("in-progress", None),
                                                   ("completed", 61)]):
        sent.append(tw.status_params(CallSid=sid, CallStatus=status, From=row["leg_a_from"], To=row["leg_a_number"],
                                     SequenceNumber=sequence, CallDuration=duration))
    s.step("answer")
    # The final callback first, then everything again in reverse.
    for params in [sent[3], *reversed(sent), sent[3]]:
        assert p.post(f"/twilio/status?request={rid}&leg=a", params).status_code == 204
    (leg,) = p.legs(rid)
    assert (leg["status"], leg["duration_seconds"], leg["cost"]) == ("completed", 61, 2)
    assert s.row["state"] == states.FAILED and s.row["reason"] == states.CANCELED
    trail = [e["to_state"] for e in p.events(rid)]
    assert trail.count(states.FAILED) == 1


# --- forgeries ----------------------------------------------------------------------------


def snapshot(engine) -> str:
    """Every row of every table, hashed: "nothing written" means this did not change."""
    digest = hashlib.sha256()
    with engine.connect() as c:
        for table in metadata.sorted_tables:
            rows = c.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            digest.update(f"{table.name}:{len(rows)}:{rows!r}".encode())
    return digest.hexdigest()


def forgeries(path: str, params: dict[str, str], base: str):
    """(what, posted path, posted params, the URL the signature was made for) for every single alteration.

    The signature is always a genuine one, of `base + path` and `params`; what is posted differs
    from what was signed in exactly one respect.
    """
    signed = base + path
    for key, value in params.items():
        changed = dict(params)
        changed[key] = value + "0" if value else "1"
        yield f"changed {key}", path, changed, signed
        removed = {k: v for k, v in params.items() if k != key}
        yield f"removed {key}", path, removed, signed
        renamed = {(k.lower() if k == key else k): v for k, v in params.items()}
        if key.lower() != key:
            yield f"renamed {key} to {key.lower()}", path, renamed, signed
    yield "added a parameter", path, {**params, "Extra": "1"}, signed
    yield "added an empty parameter", path, {**params, "Extra": ""}, signed
    # The URL: the request replayed at another address, or signed for another one.
    route, _, query = path.partition("?")
    yield "another path", route.rstrip("/") + "x" + (f"?{query}" if query else ""), params, signed
    yield "a query added", path + ("&" if query else "?") + "x=1", params, signed
    if route.startswith("/legs/"):
        _, legs, request_id, step = route.split("/")
        yield "another request", f"/{legs}/{int(request_id) + 1}/{step}", params, signed
    if query:
        yield "the query removed", route, params, signed
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            yield f"{name} changed", route + "?" + query.replace(pair, f"{name}={value}9"), params, signed
    scheme, rest = base.split("://")
    host = rest.split(":")[0].split("/")[0]
    flipped = "https" if scheme == "http" else "http"
    yield f"signed for {flipped}", path, params, f"{flipped}://{rest}{path}"
    yield "signed with a port added", path, params, f"{scheme}://{host}:8443{path}"
    yield "signed with another port", path, params, f"{scheme}://{host}:8081{path}"
    yield "signed for another host", path, params, f"{scheme}://evil.example{path}"
    yield "signed for another path", path, params, f"{base}{route}/other" + (f"?{query}" if query else "")


def genuine_signature_cases(path, params, base):
    """Each forgery, posted with the signature of the original request."""
    original_signature_url = base + path
    for what, posted_path, posted_params, signed_url in forgeries(path, params, base):
        if signed_url == original_signature_url:
            # Posted differs from signed: sign the original, post the altered.
            yield what, posted_path, posted_params, tw.sign(original_signature_url, params)
        else:
            yield what, posted_path, posted_params, tw.sign(signed_url, params)


def post_all(client, engine, path, params, base=BASE) -> int:
    """Post every forgery of (path, params); each is refused and nothing is written. How many were tried."""
    before = snapshot(engine)
    tried = 0
    for what, posted_path, posted_params, signature in genuine_signature_cases(path, params, base):
        response = client.post(posted_path, data=posted_params, headers={"X-Twilio-Signature": signature})
        # A path that is no route at all may be answered 404 before any signature is looked at.
        refused = (403, 404, 405) if what == "another path" else (403,)
        assert response.status_code in refused, f"{what}: {response.status_code} {response.text[:200]}"
        tried += 1
    for what, signature in [("no signature", None), ("an empty signature", ""),
                            ("the signature with a space", tw.sign(base + path, params) + " "),
                            ("the signature in lower case", tw.sign(base + path, params).lower())]:
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        assert client.post(path, data=params, headers=headers).status_code == 403, what
        tried += 1
    assert snapshot(engine) == before, "a refused request wrote something"
    return tried


def leg_params(s: sc.Session, **extra) -> dict[str, str]:
    row = s.row
    return tw.voice_params(CallSid=row["leg_a_sid"], From=row["leg_a_from"], To=row["leg_a_number"],
                           CallStatus="in-progress", Direction="outbound-api", **extra)


def prepare(p: PlatformUnderTest, route: str) -> tuple[str, dict[str, str]]:
    """A request on `route` that would act if it were genuine: the session is brought to its step."""
    if route == "voice":
        return "/twilio/voice", tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)
    if route == "sms":
        return "/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER, Body="CALL 2125550123")
    if route == "pin":
        s = sc.Session(p, caller=sc.STRANGER, service_number=sc.PIN_NUMBER)
        s.trigger()
        assert p.dispatch() == 1
        s.step("answer")
        return f"/legs/{s.request_id}/pin", leg_params(s, Digits=sc.ALICE_PIN)
    if route == "confirm":
        assert p.post("/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER,
                                                     Body="CALL 2125550123")).status_code == 200
        s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.PIN_NUMBER)
        (s.request_id,) = [r["id"] for r in p.requests()]
        assert p.dispatch() == 1
        s.step("answer")
        return f"/legs/{s.request_id}/confirm", leg_params(s, Digits="1")
    s = placed_session(p)
    if route == "status":
        row = s.row
        return f"/twilio/status?request={s.request_id}&leg=a", tw.status_params(
            CallSid=row["leg_a_sid"], From=row["leg_a_from"], To=row["leg_a_number"], CallStatus="completed",
            SequenceNumber=5, CallDuration=61)
    if route == "answer":
        return f"/legs/{s.request_id}/answer", leg_params(s)
    s.step("answer")
    if route == "destination":
        return f"/legs/{s.request_id}/destination", leg_params(s, Digits="2125550123")
    s.step("destination", Digits="2125550123")
    if route == "dialed":
        return f"/legs/{s.request_id}/dialed", leg_params(s, DialCallStatus="busy", DialCallSid=tw.call_sid(),
                                                           DialCallDuration="0")
    s.step("dialed", DialCallStatus="busy", DialCallSid=tw.call_sid(), DialCallDuration="0")
    assert route == "next"
    return f"/legs/{s.request_id}/next", leg_params(s, Digits="")


@pytest.mark.parametrize("route", ["voice", "status", "sms", "answer", "pin", "destination", "confirm", "dialed",
                                   "next"])
def test_every_alteration_of_a_signed_request_is_refused_and_writes_nothing(p, provider, engine, route):
    path, params = prepare(p, route)
    tried = post_all(p.client, engine, path, params)
    assert tried >= 2 * len(params) + 10
    # The unaltered request, for contrast, is accepted and acts.
    before = snapshot(engine)
    response = p.post(path, params)
    assert response.status_code in (200, 204), response.text
    assert snapshot(engine) != before, "the genuine request did nothing"


def test_a_duplicated_parameter_with_another_value_is_refused(p, engine):
    params = tw.voice_params(From=sc.STRANGER, To=sc.PIN_NUMBER)
    signature = tw.sign(BASE + "/twilio/voice", params)
    before = snapshot(engine)
    body = httpx.QueryParams(params).add("From", sc.ALICE_MOBILE)
    response = p.client.post("/twilio/voice", content=str(body).encode(),
                             headers={"X-Twilio-Signature": signature,
                                      "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 403
    assert snapshot(engine) == before


PUBLIC = "https://public.example"
INTERNAL = "http://internal:8000"


@pytest.fixture
def proxied(settings, engine):
    """The app behind a TLS-terminating proxy: it sees http://internal:8000, the provider signs https://public.example."""
    platform = PlatformUnderTest(settings.with_(public_base_url=PUBLIC, allowed_hosts=("internal",)), engine)
    platform.client = TestClient(platform.app, base_url=INTERNAL)
    with platform:
        sc.seed(platform)
        yield platform


def test_behind_a_proxy_the_public_url_is_checked_and_given_out(proxied, engine, provider):
    p = proxied
    params = tw.voice_params(From=sc.ALICE_MOBILE, To=sc.ANI_NUMBER)
    # What the app sees is not what the provider signed.
    for signed in [INTERNAL + "/twilio/voice", "http://public.example/twilio/voice",
                   "https://public.example:8443/twilio/voice", "https://other.example/twilio/voice",
                   PUBLIC + "/twilio/voice?x=1", PUBLIC + "/twilio/sms"]:
        assert p.post("/twilio/voice", params, signature=tw.sign(signed, params)).status_code == 403, signed
    assert p.requests() == []
    # The provider's signature of the public URL, with or without the default port, is accepted.
    assert p.post("/twilio/voice", params, signature=tw.sign(PUBLIC + ":443/twilio/voice", params)).status_code == 200
    (row,) = p.requests()
    assert row["base_url"] == PUBLIC
    assert p.dispatch() == 1
    (create,) = provider.sent
    assert create["Url"] == [f"{PUBLIC}/legs/{row['id']}/answer"]
    assert create["StatusCallback"] == [f"{PUBLIC}/twilio/status?request={row['id']}&leg=a"]
    # The callbacks, signed for the public URLs the app gave out, are accepted and act.
    row = p.request(row["id"])
    leg = {"CallSid": row["leg_a_sid"], "From": row["leg_a_from"], "To": row["leg_a_number"]}
    answer = tw.voice_params(CallStatus="in-progress", Direction="outbound-api", **leg)
    assert p.post(f"/legs/{row['id']}/answer", answer, signature=tw.sign(create["Url"][0], answer)).status_code == 200
    status = tw.status_params(CallStatus="completed", SequenceNumber=3, CallDuration=20, **leg)
    status_url = create["StatusCallback"][0]
    assert post_all(p.client, engine, status_url[len(PUBLIC):], status, base=PUBLIC) > 10
    assert p.post(status_url[len(PUBLIC):], status, signature=tw.sign(status_url, status)).status_code == 204
    assert p.request(row["id"])["state"] == states.FAILED  # leg A hung up at the IVR
