"""The website widget over HTTP: its admin pages, and every attack its public endpoints must hold against.

The endpoints are driven as a browser on another site drives them (an Origin header, JSON bodies,
preflights); bursts are sent at once (httpx's ASGI transport in the app's event loop, `asyncio.gather`)
so that the limits are tested where they break, under parallel requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re

import httpx
import pytest
import sqlalchemy as sa

from app.core import states
from app.data import sms_log, widgets
from app.data.tables import accounts as accounts_t
from app.data.tables import callback_requests, widget_visits
from app.data.tables import widgets as widgets_t
from app.fraud import widget_guard
from tests.utils import scenario as sc
from tests.utils.harness import BASE
from tests.utils.web import operator, web_platform

SITE = "https://shop.example.com"
ELSEWHERE = "https://evil.example.net"
DESTINATION = "+12125550123"
VISITOR = "+14155550177"
PREMIUM = "+449098790000"


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        yield platform


@pytest.fixture
def texts(p, monkeypatch):
    sent = []

    async def send_sms(*, to, from_, body):
        sent.append((to, from_, body))
        return "SM" + "0" * 32

    monkeypatch.setattr(p.platform.provider, "send_sms", send_sms)
    return sent


def make_widget(p, **values) -> dict:
    """A widget of alice's (added as the admin pages add one), as its row."""
    alice = p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == "alice"))
    fields = dict(name="Shop", account_id=alice, destination=DESTINATION, allowed_origins=SITE,
                  verification="pow", pow_bits=4, ip_hourly_limit=50, number_daily_limit=50, enabled=True)
    fields.update(values)
    key = f"key-{p.scalar(sa.select(sa.func.count()).select_from(widgets_t))}-abcdefgh"
    widget_id = p.run(widgets.add_widget, p.platform.db, public_key=key, **fields)
    return dict(p.run(widgets.get_widget, p.platform.db, widget_id=widget_id))


def headers(origin: str | None = SITE, **extra) -> dict:
    return {**({"Origin": origin} if origin else {}), "Content-Type": "application/json", **extra}


def solved(p, widget, *, origin: str = SITE) -> dict:
    how = p.client.get(f"/widget/{widget['public_key']}/challenge", headers=headers(origin)).json()
    pow_ = how["pow"]
    return {"challenge": pow_["challenge"], "solution": widget_guard.solve(pow_["challenge"], pow_["bits"])}


def submit(p, widget, number: str = VISITOR, *, origin: str | None = SITE, **body) -> httpx.Response:
    return p.client.post(f"/widget/{widget['public_key']}/visits", headers=headers(origin),
                         content=json.dumps({"number": number, **body}))


def visits(p) -> int:
    return p.scalar(sa.select(sa.func.count()).select_from(widget_visits))


def requests_of(p) -> list:
    return [row for row in p.requests() if row["trigger_kind"] == "widget"]


def burst(p, send, count: int, *, client=("127.0.0.1", 40000)) -> list[httpx.Response]:
    async def all_at_once():
        transport = httpx.ASGITransport(app=p.app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            return await asyncio.gather(*(send(http, i) for i in range(count)))

    return p.run(all_at_once)


# The admin pages ------------------------------------------------------------------------


def test_the_operator_creates_edits_and_disables_a_widget_and_copies_its_snippet(p):
    admin = operator(p)
    page = admin.get("/admin/widgets")
    assert page.status_code == 200 and "No widgets yet" in page.text
    fields = {"name": "Shop", "account": "alice", "destination": "212 555 0123", "verification": "pow",
              "pow_bits": "12", "ip_hourly_limit": "5", "number_daily_limit": "3"}
    for bad, message in [("ftp://shop.example.com", "is not a web origin"), ("https://shop.example.com/page",
                          "is not a web origin"), ("", "at least one origin"), ("https://a b.com", "not a web origin")]:
        refused = admin.submit("/admin/widgets", {**fields, "allowed_origins": bad})
        assert refused.status_code == 422 and message in refused.text
    refused = admin.submit("/admin/widgets", {**fields, "allowed_origins": SITE, "account": "nobody"})
    assert refused.status_code == 422 and "no account with login nobody" in refused.text
    refused = admin.submit("/admin/widgets", {**fields, "allowed_origins": SITE, "pow_bits": "99"})
    assert refused.status_code == 422 and "difficulty is a whole number from 1 to 28" in refused.text
    assert p.scalar(sa.select(sa.func.count()).select_from(widgets_t)) == 0
    created = admin.submit("/admin/widgets", {**fields, "allowed_origins": f"HTTPS://Shop.Example.com/\n{SITE}"})
    assert created.status_code == 200 and "copy its snippet" in created.text
    row = p.run(widgets.list_widgets, p.platform.db)[0]
    assert (row["destination"], row["allowed_origins"], row["pow_bits"]) == (DESTINATION, SITE, 12)
    snippet = re.search(r'<textarea id="snippet"[^>]*>([^<]*)</textarea>', created.text).group(1)
    assert snippet == (f'&lt;script src=&#34;{BASE}/widget.js&#34; data-key=&#34;{row["public_key"]}&#34; '
                       'async&gt;&lt;/script&gt;')
    edited = admin.submit(f"/admin/widgets/{row['id']}", {**fields, "allowed_origins": f"{SITE}\nhttp://localhost:8080",
                                                          "verification": "both"})
    assert edited.status_code == 200 and "was saved" in edited.text
    # The new origin is let in; now a proof-of-work is asked first.
    assert submit(p, row, origin="http://localhost:8080").json()["error"]["code"] == "pow_invalid"
    disabled = admin.submit(f"/admin/widgets/{row['id']}/enabled", {"enabled": "no"})
    assert "is disabled" in disabled.text
    gone = submit(p, row)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert "access-control-allow-origin" not in gone.headers
    # Strangers see none of it.
    p.client.cookies = httpx.Cookies()
    assert p.client.get("/admin/widgets", follow_redirects=False).status_code in (302, 303)


# CORS ---------------------------------------------------------------------------------------


def test_only_the_widgets_origins_get_cors_and_others_are_refused_before_anything_is_done(p):
    widget = make_widget(p)
    path = f"/widget/{widget['public_key']}/visits"
    preflight = p.client.options(path, headers={"Origin": SITE, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SITE
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"].lower() == "content-type"
    assert "access-control-allow-credentials" not in preflight.headers
    for origin in (ELSEWHERE, "https://shop.example.com.evil.net", "null", SITE + ":443"):
        refused = p.client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert refused.status_code == 403
        assert not any(name.startswith("access-control-") for name in refused.headers)
    # A header the widget never sends is not allowed either (no credentials, no custom headers).
    assert p.client.options(path, headers={"Origin": SITE, "Access-Control-Request-Method": "POST",
                                           "Access-Control-Request-Headers": "authorization"}).status_code == 403
    for origin in (ELSEWHERE, None):
        response = submit(p, widget, origin=origin, **solved(p, widget))
        assert response.status_code == 403 and response.json()["error"]["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in response.headers
        assert p.client.get(f"/widget/{widget['public_key']}/challenge", headers=headers(origin)).status_code == 403
    assert visits(p) == 0 and requests_of(p) == []
    allowed = submit(p, widget, **solved(p, widget))
    assert allowed.status_code == 201, allowed.text
    assert allowed.headers["access-control-allow-origin"] == SITE and "Origin" in allowed.headers["vary"]
    assert "set-cookie" not in allowed.headers
    # Unknown keys and odd keys: 404, never a 500.
    for key in ("nope-nope-nope", "../../admin", "x" * 300):
        assert p.client.post(f"/widget/{key}/visits", headers=headers(), content="{}").status_code == 404


def test_the_script_is_served_to_any_page_and_holds_no_secret(p):
    response = p.client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert 'getAttribute("data-key")' in response.text and 'credentials: "omit"' in response.text
    assert p.settings.secret_key not in response.text


# The flow -----------------------------------------------------------------------------------


def test_a_proof_of_work_visit_queues_a_press_1_callback_billed_to_the_widgets_account(p):
    with p.engine.begin() as c:  # the account's own setting must not let a widget skip press-1
        c.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(confirm_mode="none"))
    widget = make_widget(p)
    response = submit(p, widget, "(415) 555-0177", **solved(p, widget))
    assert response.status_code == 201 and response.json()["status"] == "queued"
    (row,) = requests_of(p)
    assert (row["leg_a_number"], row["leg_b_number"], row["account_id"]) == (VISITOR, DESTINATION,
                                                                             widget["account_id"])
    assert (row["confirm_mode"], row["mode"], row["state"]) == ("press1", "widget", states.QUEUED)
    status = p.client.get(f"/widget/{widget['public_key']}/visits/{response.json()['token']}", headers=headers())
    assert status.json() == {"status": "queued"}
    # The token works for its own widget only.
    other = make_widget(p, allowed_origins=SITE)
    assert p.client.get(f"/widget/{other['public_key']}/visits/{response.json()['token']}",
                        headers=headers()).status_code == 404


def test_forged_replayed_expired_and_unsolved_proofs_of_work_are_refused(p):
    widget = make_widget(p, pow_bits=8)
    other = make_widget(p)

    def refused(body, why):
        response = submit(p, widget, **body)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "pow_invalid" and why in response.json()["error"]["message"]

    good = solved(p, widget)
    assert submit(p, widget, **good).status_code == 201
    refused(good, "used already")  # replayed
    fresh = solved(p, widget)
    widget_id, expires, bits, nonce, signature = fresh["challenge"].split(".")
    forged = f"{widget_id}.{expires}.1.{nonce}.{signature}"  # an easier difficulty, same signature
    refused({"challenge": forged, "solution": widget_guard.solve(forged, 1)}, "not issued for this widget")
    refused(solved(p, other), "not issued for this widget")  # another widget's
    past = widget_guard.issue_challenge(p.platform.secret_key, widget,
                                        now=dt.datetime.utcnow() - dt.timedelta(minutes=6))
    refused({"challenge": past["challenge"], "solution": widget_guard.solve(past["challenge"], 8)}, "expired")
    unsolved = next(str(n) for n in range(1000) if widget_guard.leading_zero_bits(
        hashlib.sha256(f"{fresh['challenge']}:{n}".encode()).digest()) < 8)
    refused({"challenge": fresh["challenge"], "solution": unsolved}, "not solved")
    refused({}, "malformed")
    refused({"challenge": "1.2.3", "solution": "x"}, "malformed")
    # The right proof, sent twice at once: one visit.
    again = solved(p, widget)
    results = burst(p, lambda http, i: http.post(f"/widget/{widget['public_key']}/visits", headers=headers(),
                                                  json={"number": f"+1415555{i:04d}", **again}), 5)
    assert sorted(r.status_code for r in results) == [201] + [403] * 4
    assert len(requests_of(p)) == 2


def test_a_texted_code_must_be_typed_right_before_the_call(p, texts):
    widget = make_widget(p, verification="code")
    response = submit(p, widget)
    assert response.status_code == 201 and response.json()["status"] == "code_sent"
    token = response.json()["token"]
    ((to, from_, body),) = texts
    assert to == VISITOR and from_ == sc.PIN_NUMBER
    code = re.search(r"\b(\d{6})\b", body).group(1)
    assert requests_of(p) == []
    path = f"/widget/{widget['public_key']}/visits/{token}"
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3):
        answer = p.client.post(path + "/code", headers=headers(), json={"code": wrong})
        assert answer.status_code == 422 and f"{left} tries left" in answer.json()["error"]["message"]
    assert p.client.get(path, headers=headers()).json() == {"status": "code_sent"}
    queued = p.client.post(path + "/code", headers=headers(), json={"code": code})
    assert queued.status_code == 200 and queued.json() == {"status": "queued"}
    assert len(requests_of(p)) == 1
    # Used once: the same code again queues nothing more.
    again = p.client.post(path + "/code", headers=headers(), json={"code": code})
    assert again.status_code == 422 and len(requests_of(p)) == 1
    # Another widget's origin cannot type the code of this one; a made-up token is a 404.
    assert p.client.post(path + "/code", headers=headers(ELSEWHERE), json={"code": code}).status_code == 403
    assert p.client.post(f"/widget/{widget['public_key']}/visits/{'A' * 43}/code", headers=headers(),
                         json={"code": code}).status_code == 404


def test_codes_expire_run_out_of_tries_and_hold_under_parallel_guesses(p, texts):
    widget = make_widget(p, verification="code")
    first = submit(p, widget).json()["token"]
    code = re.search(r"\b(\d{6})\b", texts[-1][2]).group(1)
    with p.engine.begin() as c:
        c.execute(widget_visits.update().values(code_expires_at=dt.datetime.utcnow() - dt.timedelta(seconds=1)))
    expired = p.client.post(f"/widget/{widget['public_key']}/visits/{first}/code", headers=headers(),
                            json={"code": code})
    assert expired.status_code == 422 and "expired" in expired.json()["error"]["message"]
    second = submit(p, widget, "+14155550178").json()["token"]
    code = re.search(r"\b(\d{6})\b", texts[-1][2]).group(1)
    wrong = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 21)]
    results = burst(p, lambda http, i: http.post(f"/widget/{widget['public_key']}/visits/{second}/code",
                                                  headers=headers(), json={"code": wrong[i]}), 20)
    assert all(r.status_code == 422 for r in results)
    assert p.scalar(sa.select(widget_visits.c.code_tries).where(widget_visits.c.id == 2)) == widget_guard.CODE_TRIES
    late = p.client.post(f"/widget/{widget['public_key']}/visits/{second}/code", headers=headers(), json={"code": code})
    assert late.status_code == 422 and requests_of(p) == []


def test_blocked_premium_and_invalid_visitor_numbers_are_refused_before_any_text(p, texts):
    widget = make_widget(p, verification="code")
    for number, status, reason in [(PREMIUM, 403, "destination_blocked"), ("+88216123456", 403, "destination_blocked"),
                                   ("not a number", 422, "invalid_number"), ("1" * 41, 422, "invalid_number"),
                                   ("+1 415 555 01", 422, "invalid_number")]:
        response = submit(p, widget, number)
        assert response.status_code == status, (number, response.text)
        assert response.json()["error"]["code"] == reason
    assert texts == [] and visits(p) == 0 and requests_of(p) == []
    # The widget's own destination refused is no fault of the visitor's: the widget is unavailable.
    blocked = make_widget(p, verification="code", destination=PREMIUM)
    response = submit(p, blocked)
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
    assert PREMIUM not in response.text
    # A number that texted STOP is sent no code.
    p.run(sms_log.opt_out, p.platform.db, number=VISITOR)
    response = submit(p, widget)
    assert response.status_code == 422 and response.json()["error"]["code"] == "not_textable"
    assert texts == [] and requests_of(p) == []


def test_codes_are_charged_at_the_verification_price_and_refunded_when_the_provider_refuses(p, monkeypatch):
    from app.providers.interface import ProviderError

    p.platform.settings = p.platform.settings.with_(verification_text_price=5)
    widget = make_widget(p, verification="code")
    before = p.scalar(sa.select(accounts_t.c.balance).where(accounts_t.c.login == "alice"))
    sent = []

    async def send_sms(*, to, from_, body):
        sent.append(body)
        if len(sent) == 2:
            raise ProviderError("unsubscribed recipient", code=21610, status=400, retryable=False)
        return "SM" + "0" * 32

    monkeypatch.setattr(p.platform.provider, "send_sms", send_sms)
    assert submit(p, widget).status_code == 201
    refused = submit(p, widget, "+14155550178")
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable"
    assert p.scalar(sa.select(accounts_t.c.balance).where(accounts_t.c.login == "alice")) == before - 5


def test_huge_and_odd_bodies_get_clear_errors_and_write_nothing(p):
    widget = make_widget(p)
    path = f"/widget/{widget['public_key']}/visits"
    cases = [
        (headers(), "x" * 9000, 413), (headers(), "{not json", 400), (headers(), "[1, 2]", 422),
        (headers(), json.dumps({"number": 4155550177}), 422), (headers(), json.dumps({"number": VISITOR, "x": 1}), 422),
        (headers(), json.dumps({}), 422), (headers(), b"\xff\xfe\x00", 400),
        ({"Origin": SITE, "Content-Type": "text/plain"}, json.dumps({"number": VISITOR}), 415),
        (headers(), json.dumps({"number": "\x00" * 10}), 422),
        (headers(), json.dumps({"number": VISITOR, "challenge": "a" * 201}), 422),
        (headers(), "[" * 5000 + "]" * 5000, 413),
    ]
    for sent_headers, body, status in cases:
        response = p.client.post(path, headers=sent_headers, content=body)
        assert response.status_code == status, (body[:40], response.text)
        assert response.json()["error"]["code"] and response.headers["access-control-allow-origin"] == SITE
    for method in ("PUT", "DELETE"):
        assert p.client.request(method, path, headers=headers()).status_code == 405
    assert visits(p) == 0 and requests_of(p) == []


# Limits, under parallel requests ---------------------------------------------------------------


def test_the_per_address_limit_holds_under_a_burst_and_a_forged_forwarded_for_does_not_escape_it(p):
    widget = make_widget(p, ip_hourly_limit=3)
    with p.engine.begin() as c:  # room for every call the limits let through
        c.execute(accounts_t.update().values(max_concurrent=20))
    proofs = [solved(p, widget) for _ in range(10)]

    def send(http, i):
        # Each claims another address; the peer is no trusted proxy, so none is believed.
        return http.post(f"/widget/{widget['public_key']}/visits", json={"number": f"+1415555{i:04d}", **proofs[i]},
                         headers=headers(**{"X-Forwarded-For": f"198.51.100.{i}"}))

    results = burst(p, send, 10, client=("203.0.113.9", 5000))
    assert sorted(r.status_code for r in results) == [201] * 3 + [429] * 7
    assert {r.json()["error"]["code"] for r in results if r.status_code == 429} == {"rate_limited"}
    assert p.scalar(sa.select(sa.func.count()).select_from(callback_requests)) == 3
    # Behind the trusted proxy (FORWARDED_ALLOW_IPS, loopback by default) its word names the client.
    more = [solved(p, widget) for _ in range(2)]
    results = burst(p, lambda http, i: http.post(
        f"/widget/{widget['public_key']}/visits", json={"number": f"+1415556{i:04d}", **more[i]},
        headers=headers(**{"X-Forwarded-For": f"198.51.100.{i}"})), 2)
    assert [r.status_code for r in results] == [201, 201], [r.text for r in results]


def test_the_per_number_limit_holds_under_a_burst_from_many_addresses(p, texts):
    widget = make_widget(p, verification="code", number_daily_limit=2)
    results = burst(p, lambda http, i: http.post(
        f"/widget/{widget['public_key']}/visits", json={"number": VISITOR},
        headers=headers(**{"X-Forwarded-For": f"198.51.100.{i}"})), 8)
    assert sorted(r.status_code for r in results) == [201] * 2 + [429] * 6
    assert len(texts) == 2
    # Codes to one number are capped across every widget too (VERIFICATION_NUMBER_DAILY_LIMIT, 3 by default).
    other = make_widget(p, verification="code")
    assert submit(p, other).status_code == 201
    capped = submit(p, other)
    assert capped.status_code == 429 and "no more codes" in capped.json()["error"]["message"]
    assert len(texts) == 3


def test_a_blocked_or_broke_account_makes_the_widget_unavailable_without_saying_why(p, texts):
    widget = make_widget(p, verification="code")
    for values in ({"status": "blocked"}, {"balance": 0}):
        with p.engine.begin() as c:
            c.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(status="active", balance=1000))
            c.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(**values))
        response = submit(p, widget)
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
        assert "balance" not in response.text and "blocked" not in response.text
    assert texts == [] and visits(p) == 0


def test_visits_older_than_every_window_are_forgotten(p):
    widget = make_widget(p, ip_hourly_limit=1)
    with p.engine.begin() as c:
        c.execute(widget_visits.insert().values(widget_id=widget["id"], token_hash="0" * 64, number=VISITOR,
                                                client_ip="testclient", outcome="queued",
                                                created_at=dt.datetime.utcnow() - dt.timedelta(days=3)))
    assert submit(p, widget, **solved(p, widget)).status_code == 201  # the old visit counts for nothing
    assert p.scalar(sa.select(sa.func.count()).select_from(widget_visits)
                    .where(widget_visits.c.token_hash == "0" * 64)) == 0
    assert submit(p, widget, "+14155550178", **solved(p, widget)).status_code == 429  # the new one does
