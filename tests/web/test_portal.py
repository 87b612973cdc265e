"""The subscriber portal: sessions, CSRF, Connect Two, live status, history, settings.

Most tests drive the app in-process as a browser would (forms, cookies,
redirects); the last one runs a Connect Two end to end on a loopback server
with the sandbox carrier and follows it over Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import httpx
import pytest
import sqlalchemy as sa

from app.data import accounts, callbacks
from app.fraud import verifications as ani_verifications, lockouts
from app.core import states
from app.web.portal import sessions as web_sessions
from app.data.tables import accounts as accounts_t
from app.data.tables import ani_verifications as verifications_t
from app.data.tables import anis
from tests.utils import scenario as sc
from tests.utils.harness import PlatformUnderTest
from tests.utils.live import live_platform
from tests.utils.web import Browser as Visitor, logged_in, web_platform

NY = "+12125550123"
PARIS = "+33123456789"  # no rate: not available


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine, operator=False) as platform:
        yield platform


def account_id(p: PlatformUnderTest, login: str) -> int:
    return p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == login))


def connect_two(visitor: Visitor, to: str = "2125550123", **fields) -> httpx.Response:
    visitor.get("/")
    nonce = re.search(r'name="nonce" value="([^"]+)"', visitor.page.text).group(1)
    return visitor.submit("/calls", {"nonce": nonce, "from": "", "to": to, **fields})


def text_of(response) -> str:
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", response.text, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# Logging in ----------------------------------------------------------------------------


def test_pages_need_a_login_and_the_cookie_is_locked_down(p):
    visitor = Visitor(p)
    cookie = visitor.request("GET", "/").headers["set-cookie"]  # an anonymous session, for the login form's CSRF
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    for path in ("/", "/history", "/settings", "/calls/1"):
        response = visitor.request("GET", path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert visitor.request("GET", "/history").headers["location"] == "/login?next=/history"
    assert visitor.request("GET", "/calls/1/status").status_code == 401
    page = visitor.get("/login")
    assert 'autocomplete="current-password"' in page.text and '<label for="login">' in page.text
    p.client.cookies.clear()
    secure = p.client.get("https://testserver/login").headers["set-cookie"]
    assert "Secure" in secure
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


def test_log_in_and_out(p):
    visitor = Visitor(p)
    visitor.get("/login?next=/history")
    response = visitor.submit("/login", {"login": "alice", "password": "alice-password", "next": "/history"})
    assert response.url.path == "/history" and "Call history" in response.text
    assert visitor.submit("/logout", {}).url.path == "/login"
    assert visitor.request("GET", "/").status_code == 303


def test_a_failed_login_says_the_same_whatever_was_wrong(p, lockout_clock):
    for login, password in [("alice", "wrong-password"), ("nobody", "alice-password"), ("", ""), ("alice", "x" * 5000)]:
        lockout_clock.wait_out_backoff()  # each from the same address: past the backoff, so each is checked
        response = Visitor(p).log_in(login, password)
        assert response.status_code == 401, login
        assert "Wrong login or password." in response.text and "Log out" not in response.text


def test_after_login_only_local_pages(p):
    for target in ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x", "/\x01x"]:
        visitor = Visitor(p)
        visitor.get("/login")
        response = visitor.submit("/login", {"login": "alice", "password": "alice-password", "next": target},
                                  follow=False)
        assert response.headers["location"] == "/", target


def test_failed_logins_lock_out_the_login_and_the_address(p, lockout_clock):
    attacker = Visitor(p)
    attacker.get("/login")
    for _ in range(lockouts.MAX_FAILURES):
        lockout_clock.wait_out_backoff()
        assert attacker.submit("/login", {"login": "alice", "password": "guess"}).status_code == 401
    lockout_clock.wait_out_backoff()
    locked = attacker.submit("/login", {"login": "alice", "password": "alice-password"})
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    # The same address is refused for any login; unknown logins lock the same way.
    assert attacker.submit("/login", {"login": "bob", "password": "bob-password"}).status_code == 429
    p.run(lockouts.clear, p.platform.db, requester="web:testclient")
    # A login, known or not, locks only at the account-wide limit (many sources): one source cannot lock it.
    for _ in range(lockouts.ACCOUNT_MAX_FAILURES):
        p.run(lockouts.record_failure, p.platform.db, account_id=None, requester="login:ghost", channel="web")
    assert attacker.submit("/login", {"login": "ghost", "password": "whatever"}).status_code == 429


def test_a_tampered_or_foreign_cookie_is_no_session(p):
    visitor = logged_in(p)
    value = visitor.cookies[web_sessions.COOKIE]
    visitor.cookies.set(web_sessions.COOKIE, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])
    assert visitor.request("GET", "/").status_code == 303
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("another-key", salt="portal-session").dumps({"a": 1, "c": "x", "p": ""})
    visitor.cookies.set(web_sessions.COOKIE, forged)
    assert visitor.request("GET", "/").status_code == 303


# CSRF -----------------------------------------------------------------------------------


def test_forms_without_the_sessions_csrf_token_are_refused(p):
    alice, bob = logged_in(p), logged_in(p, "bob")
    for token in ("", "forged", bob.csrf):
        response = connect_two(alice, csrf=token)
        assert response.status_code == 403 and "Form refused" in response.text
    assert alice.submit("/settings/password", {"current_password": "alice-password", "new_password": "x" * 10,
                                               "new_password_again": "x" * 10}, csrf="").status_code == 403
    assert alice.submit("/logout", {}, csrf="nope").status_code == 403
    stranger = Visitor(p)
    stranger.get("/login")
    assert stranger.submit("/login", {"login": "alice", "password": "alice-password"}, csrf="x").status_code == 403
    assert p.requests() == []


# Connect Two ---------------------------------------------------------------------------


def test_connect_two_queues_a_web_callback_and_shows_it_live(p):
    alice = logged_in(p)
    dashboard = alice.get("/")
    assert f'value="{sc.ALICE_HOME}"' in dashboard.text and "10.00 USD" in dashboard.text
    response = connect_two(alice)
    (row,) = p.requests()
    assert response.url.path == "/" and response.url.query == f"call={row['id']}".encode()
    assert (row["trigger_kind"], row["leg_a_number"], row["leg_b_number"], row["state"], row["confirm_mode"]) == \
        ("web", sc.ALICE_HOME, NY, states.QUEUED, "press1")
    assert row["trigger_id"].startswith(f"{account_id(p, 'alice')}:")
    page = response.text
    assert f'data-events="/calls/{row["id"]}/events"' in page and 'data-live="true"' in page
    assert '<meta http-equiv="refresh"' in page  # inside <noscript>, for browsers without JavaScript
    assert "Queued: your phone rings in a moment." in page and "Cancel this call" in page
    status = alice.get(f"/calls/{row['id']}/status").json()
    assert (status["state"], status["leg_a"], status["leg_b"], status["balance"]) == \
        ("queued", "waiting", "waiting", "10.00")


def test_a_double_submitted_form_makes_one_request(p):
    alice = logged_in(p)
    alice.get("/")
    nonce = re.search(r'name="nonce" value="([^"]+)"', alice.page.text).group(1)
    fields = {"nonce": nonce, "from": "+14155550177", "to": NY}
    csrf = alice.csrf
    alice.submit("/calls", fields, csrf=csrf)
    alice.submit("/calls", fields, csrf=csrf)
    assert len(p.requests()) == 1 and p.requests()[0]["leg_a_number"] == "+14155550177"


CONNECT_TWO_REFUSALS = [
    ({"to": ""}, 422, "Enter the number to call."),
    ({"to": "12"}, 422, "The number to call is not a valid phone number."),
    ({"to": NY, "from": "banana"}, 422, "Your phone number is not a valid phone number."),
    ({"to": PARIS}, 403, "Calls to that number are not available (+33123456789)."),
]


def test_connect_two_refusals_are_shown_on_the_form(p):
    alice = logged_in(p)
    for fields, status, message in CONNECT_TWO_REFUSALS:
        response = connect_two(alice, **fields)
        assert response.status_code == status and message in text_of(response), message
        assert 'role="alert"' in response.text
    assert p.requests() == []


def test_connect_two_without_a_default_number_or_money(p):
    bob = logged_in(p, "bob")
    response = connect_two(bob)
    assert response.status_code == 422 and "from is required" in response.text
    p.run(accounts.update_account, p.platform.db, account_id=account_id(p, "bob"), balance=0)
    broke = connect_two(bob, **{"from": sc.BOB_MOBILE})
    assert broke.status_code == 402 and "Balance too low." in text_of(broke)


def test_cancel_a_queued_call(p):
    alice = logged_in(p)
    connect_two(alice)
    (row,) = p.requests()
    page = alice.submit(f"/calls/{row['id']}/cancel", {"next": f"/?call={row['id']}"})
    assert page.status_code == 200 and "Canceled." in page.text
    assert (p.request(row["id"])["state"], p.request(row["id"])["reason"]) == (states.FAILED, states.CANCELED)
    again = alice.submit(f"/calls/{row['id']}/cancel", {})
    assert again.status_code == 409


def test_another_accounts_calls_are_not_found(p):
    alice, bob = logged_in(p), logged_in(p, "bob")
    connect_two(alice)
    (row,) = p.requests()
    assert bob.get(f"/calls/{row['id']}").status_code == 404
    assert bob.request("GET", f"/calls/{row['id']}/status").status_code == 404
    assert bob.request("GET", f"/calls/{row['id']}/events").status_code == 404
    assert bob.submit(f"/calls/{row['id']}/cancel", {}).status_code == 404
    assert f"/calls/{row['id']}/" not in bob.get(f"/?call={row['id']}").text
    assert NY not in bob.get("/history").text and NY not in bob.get("/history.csv").text
    assert bob.get("/calls/99999999999").status_code == 404
    assert p.request(row["id"])["state"] == states.QUEUED


def test_the_event_stream_sends_the_status_and_ends_when_the_call_is_over(p):
    alice = logged_in(p)
    connect_two(alice)
    (row,) = p.requests()
    alice.submit(f"/calls/{row['id']}/cancel", {})
    response = alice.get(f"/calls/{row['id']}/events")
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block.startswith("event:")]
    names = [block.split("\n")[0] for block in events]
    assert names == ["event: status", "event: end"]
    status = json.loads(events[0].split("data: ", 1)[1])
    assert (status["state"], status["reason"], status["summary"], status["settled"]) == \
        ("failed", "canceled", "Canceled.", True)
    assert Visitor(p).request("GET", f"/calls/{row['id']}/events").status_code == 401


# History ----------------------------------------------------------------------------------


def add_history(p: PlatformUnderTest, count: int) -> list[int]:
    """`count` completed web callbacks of alice's, each with two billed legs."""
    ids = []
    now = dt.datetime(2026, 11, 26, 12, 0)
    for n in range(count):
        request_id, _ = p.run(callbacks.create_request, p.platform.db, trigger_kind="web", trigger_id=f"h{n}",
                              account_id=account_id(p, "alice"), leg_a_number=sc.ALICE_HOME, leg_b_number=NY,
                              state=states.COMPLETED, created_at=now + dt.timedelta(minutes=n))
        for leg, cost in (("a", 2), ("b", 3)):
            sid = f"CA{n:04d}{leg}" + "0" * 26
            p.run(callbacks.ensure_leg, p.platform.db, request_id=request_id, leg=leg, sid=sid,
                  direction="outbound-api", from_number=sc.PIN_NUMBER, to_number=sc.ALICE_HOME if leg == "a" else NY,
                  status="completed")
            p.run(callbacks.finish_leg_once, p.platform.db, sid=sid, ended_at=now, duration_seconds=61,
                  billed_seconds=120, price_per_minute=10_000, cost=cost)
        ids.append(request_id)
    return ids


def test_history_pages_newest_first_with_costs(p):
    ids = add_history(p, 25)
    alice = logged_in(p)
    first = alice.get("/history")
    shown = [int(n) for n in re.findall(r'<a href="/calls/(\d+)">', first.text)]
    assert shown == sorted(ids, reverse=True)[:20]
    assert "0.05 USD" in first.text and "billed 120 s at 0.01/min" in first.text
    older = re.search(r'href="(/history\?before=\d+)"', first.text).group(1)
    second = alice.get(older)
    assert [int(n) for n in re.findall(r'<a href="/calls/(\d+)">', second.text)] == sorted(ids, reverse=True)[20:]
    assert "before=" not in second.text
    newer = re.search(r'href="(/history\?after=\d+)"', second.text).group(1)
    assert [int(n) for n in re.findall(r'<a href="/calls/(\d+)">', alice.get(newer).text)] == shown
    assert "No more calls." in alice.get("/history?before=1").text


def test_history_as_csv(p):
    ids = add_history(p, 2)
    logged_in(p, "bob")
    alice = logged_in(p)
    connect_two(alice)  # one more, without legs yet
    response = alice.get("/history.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert re.fullmatch(r'attachment; filename="calls-alice-\d{8}\.csv"', response.headers["content-disposition"])
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("request_id,created_at,trigger,state,reason,from,to,leg,number,leg_status")
    assert len(lines) == 1 + 1 + 2 * 2
    assert re.fullmatch(rf"{ids[0]},2026-11-26T12:00:00Z,web,completed,,\{sc.ALICE_HOME},\{NY},b,\{NY},completed,"
                        r"[0-9TZ:-]{20},,2026-11-26T12:00:00Z,61,120,0.01,0.03,USD,", lines[-1]), lines[-1]  # no provider: seeded


def test_a_call_page_shows_its_events_and_legs(p):
    (request_id,) = add_history(p, 1)
    alice = logged_in(p)
    page = alice.get(f"/calls/{request_id}")
    assert page.status_code == 200 and 'data-live="false"' in page.text
    assert "A · your phone" in page.text and "0.05 USD" in page.text and "http-equiv" not in page.text


# Settings ---------------------------------------------------------------------------------


def test_default_number_and_language(p):
    alice = logged_in(p)
    alice.get("/settings")
    saved = alice.submit("/settings/profile", {"default_number": "(415) 555-0123", "language": "en"})
    assert "Your settings were saved." in saved.text
    account = p.run(accounts.get_account, p.platform.db, account_id=account_id(p, "alice"))
    assert account["default_number"] == "+14155550123"
    bad = alice.submit("/settings/profile", {"default_number": "555", "language": "en"})
    assert bad.status_code == 422 and "not a valid phone number" in bad.text
    assert alice.submit("/settings/profile", {"default_number": "", "language": "xx"}).status_code == 422
    alice.get("/settings")
    alice.submit("/settings/profile", {"default_number": "", "language": "en"})
    assert p.run(accounts.get_account, p.platform.db, account_id=account_id(p, "alice"))["default_number"] is None



def test_a_default_number_typed_in_the_portal_is_never_presented_as_caller_id(settings, engine):
    """With the subscriber's number shown to leg B, a default number typed in the portal (not
    proven hers) must not be: leg B sees the service number. The operator's default number, kept
    when the profile is saved again, and a verified caller ID made the default are shown."""
    from tests.utils.provider import TwilioRecorder

    stranger = "+14155550188"
    recorder = TwilioRecorder()
    with PlatformUnderTest(settings, engine) as p, recorder.cassette("calls_create.yaml"):
        sc.seed(p)
        with engine.begin() as c:
            c.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(
                caller_id_mode="subscriber", max_concurrent=10, balance=1_000_000))  # four callbacks at once
        alice = logged_in(p)

        def presented_after(default_number: str) -> tuple[str, str]:
            alice.get("/settings")
            saved = alice.submit("/settings/profile", {"default_number": default_number, "language": "en"})
            assert "Your settings were saved." in saved.text
            s = sc.Session(p, caller=sc.ALICE_MOBILE, service_number=sc.ANI_NUMBER)
            s.trigger()
            p.dispatch()
            s.step("answer")
            dial = next(v for v in s.step("destination", Digits="2125550123") if v.name == "Dial")
            return s.row["leg_a_number"], dial.attrs["callerId"]

        assert presented_after(sc.ALICE_HOME) == (sc.ALICE_HOME, sc.ALICE_HOME)  # the operator's, saved again
        assert presented_after(stranger) == (stranger, sc.ANI_NUMBER)
        assert presented_after(sc.ALICE_HOME) == (sc.ALICE_HOME, sc.ANI_NUMBER)  # typed now: no longer proven
        assert p.cli("account", "add-ani", "alice", "+14155550189") == 0
        assert presented_after("+14155550189") == ("+14155550189", "+14155550189")  # a verified caller ID


@pytest.fixture
def texts(p, monkeypatch):
    sent = []

    async def send_sms(*, to, from_, body):
        sent.append((to, from_, body))
        return "SM" + "0" * 32

    monkeypatch.setattr(p.platform.provider, "send_sms", send_sms)
    return sent


def code_in(sent) -> str:
    return re.search(r"\b(\d{6})\b", sent[-1][2]).group(1)


def test_a_new_caller_id_counts_once_its_texted_code_is_typed(p, texts):
    alice = logged_in(p)
    alice.get("/settings")
    page = alice.submit("/settings/anis", {"number": "415 555 0142"})
    assert "A code was texted to the number" in page.text
    (to, from_, body), = texts
    assert (to, from_) == ("+14155550142", sc.PIN_NUMBER) and "expires in 10 minutes" in body
    assert p.run(accounts.find_account_by_ani, p.platform.db, number="+14155550142") is None
    code = code_in(texts)
    wrong = alice.submit("/settings/anis/verify", {"number": "+14155550142", "code": f"{(int(code) + 1) % 10**6:06d}"})
    assert wrong.status_code == 422 and "4 tries left" in wrong.text
    done = alice.submit("/settings/anis/verify", {"number": "+14155550142", "code": code})
    assert "The number is now one of your caller IDs." in done.text
    found = p.run(accounts.find_account_by_ani, p.platform.db, number="+14155550142")
    assert found["login"] == "alice"
    assert p.scalar(sa.select(sa.func.count()).select_from(verifications_t)) == 0
    removed = alice.submit("/settings/anis/remove", {"number": "+14155550142"})
    assert "The number was removed." in removed.text
    assert p.scalar(sa.select(sa.func.count()).select_from(anis).where(anis.c.number == "+14155550142")) == 0


def test_caller_id_codes_expire_run_out_of_tries_and_are_not_resent_at_once(p, texts):
    alice = logged_in(p)
    alice.get("/settings")
    alice.submit("/settings/anis", {"number": "+14155550142"})
    again = alice.submit("/settings/anis", {"number": "+14155550142"})
    assert again.status_code == 422 and "wait a minute" in again.text and len(texts) == 1
    for _ in range(ani_verifications.MAX_ATTEMPTS):
        alice.submit("/settings/anis/verify", {"number": "+14155550142", "code": "000000"
                                                if code_in(texts) != "000000" else "111111"})
    right = alice.submit("/settings/anis/verify", {"number": "+14155550142", "code": code_in(texts)})
    assert right.status_code == 422 and "ask for a new one" in right.text, text_of(right)
    # A fresh code, then expired.
    with p.engine.begin() as c:
        c.execute(verifications_t.update().values(sent_at=dt.datetime(2000, 1, 1)))
    alice.submit("/settings/anis", {"number": "+14155550142"})
    with p.engine.begin() as c:
        c.execute(verifications_t.update().values(expires_at=dt.datetime(2000, 1, 1)))
    late = alice.submit("/settings/anis/verify", {"number": "+14155550142", "code": code_in(texts)})
    assert late.status_code == 422 and "No code is waiting" in late.text, text_of(late)
    assert p.run(accounts.find_account_by_ani, p.platform.db, number="+14155550142") is None


def test_a_number_registered_elsewhere_cannot_be_added_and_is_not_told(p, texts):
    alice = logged_in(p)
    alice.get("/settings")
    for number, message in ((sc.ALICE_MOBILE, "already one of your"), ("12", "not a valid phone number")):
        response = alice.submit("/settings/anis", {"number": number})
        assert response.status_code == 422 and message in response.text
    # Bob's caller ID: the answer any number gets (whose it is stays private), but no text to bob's phone.
    bobs = alice.submit("/settings/anis", {"number": sc.BOB_MOBILE})
    assert bobs.status_code == 200 and "A code was texted to the number." in bobs.text
    assert texts == []
    wrong = alice.submit("/settings/anis/verify", {"number": sc.BOB_MOBILE, "code": "000000"})
    assert wrong.status_code == 422 and "Wrong code" in wrong.text
    assert p.run(accounts.find_account_by_ani, p.platform.db, number=sc.BOB_MOBILE)["login"] == "bob"


def test_a_new_pin_is_drawn_by_the_platform_and_shown_once(p):
    # Subscribers no longer type their PIN (a typed PIN that is "already in use" named another account's PIN).
    alice = logged_in(p)
    alice.get("/settings")
    wrong = alice.submit("/settings/pin", {"current_password": "nope"})
    assert wrong.status_code == 422 and "Your current password is not right." in wrong.text
    done = alice.submit("/settings/pin", {"current_password": "alice-password"})
    pin = re.search(r'id="new-pin">(\d+)<', done.text).group(1)
    assert done.status_code == 200 and len(pin) >= 6
    found = p.run(accounts.find_account_by_pin, p.platform.db, secret_key=p.platform.secret_key, pin=pin)
    assert found["login"] == "alice"
    assert p.run(accounts.find_account_by_pin, p.platform.db, secret_key=p.platform.secret_key,
                 pin=sc.ALICE_PIN) is None
    assert pin not in alice.get("/settings").text


def test_change_password_ends_the_other_sessions(p):
    alice, elsewhere = logged_in(p), logged_in(p)
    alice.get("/settings")
    for fields, message in [
        ({"current_password": "wrong", "new_password": "n" * 12, "new_password_again": "n" * 12},
         "Your current password is not right."),
        ({"current_password": "alice-password", "new_password": "short", "new_password_again": "short"},
         "A password has 8 to 1024 characters."),
        ({"current_password": "alice-password", "new_password": "n" * 12, "new_password_again": "m" * 12},
         "The two new passwords differ."),
    ]:
        response = alice.submit("/settings/password", fields)
        assert response.status_code == 422 and message in response.text
    done = alice.submit("/settings/password", {"current_password": "alice-password",
                                               "new_password": "a-new-password", "new_password_again": "a-new-password"})
    assert "Your password was changed" in done.text
    assert alice.request("GET", "/").status_code == 200
    assert elsewhere.request("GET", "/").status_code == 303
    assert Visitor(p).log_in("alice", "alice-password").status_code == 401
    assert Visitor(p).log_in("alice", "a-new-password").status_code == 200


def test_api_tokens_are_shown_once_listed_and_revoked(p):
    alice = logged_in(p)
    alice.get("/settings")
    created = alice.submit("/settings/tokens", {"name": "office dialer", "current_password": "alice-password"})
    token = re.search(r'id="new-token">(cbp_[^<]+)<', created.text).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert p.client.get("/api/v1/account", headers=headers).status_code == 200
    page = alice.get("/settings")
    assert token not in page.text and "office dialer" in page.text
    token_id = int(re.search(r'/settings/tokens/(\d+)/revoke', page.text).group(1))
    bob = logged_in(p, "bob")
    bob.get("/settings")
    assert bob.submit(f"/settings/tokens/{token_id}/revoke", {}).status_code == 404
    assert p.client.get("/api/v1/account", headers=headers).status_code == 200
    revoked = alice.submit(f"/settings/tokens/{token_id}/revoke", {})
    assert "The token was revoked" in revoked.text and ">revoked<" in revoked.text
    assert p.client.get("/api/v1/account", headers=headers).status_code == 401


# End to end on the sandbox carrier ------------------------------------------------------------


async def sse_events(client: httpx.AsyncClient, path: str):
    async with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                yield name, json.loads(line[len("data: "):])


async def test_connect_two_end_to_end_followed_over_server_sent_events(settings, engine):
    async with live_platform(settings, engine) as live:
        live.carrier.phones.set(sc.ALICE_HOME, keys=["1", None])
        # Long enough (1.5 s at the carrier's speed) for the stream's 0.5 s polls to see "connected".
        live.carrier.phones.set(NY, talk_seconds=150)
        async with httpx.AsyncClient(base_url=live.platform_url, timeout=10) as client:
            login = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
            await client.post("/login", data={"csrf": csrf, "login": "alice", "password": "alice-password"})
            dashboard = await client.get("/")
            csrf = re.search(r'name="csrf" value="([^"]+)"', dashboard.text).group(1)
            posted = await client.post("/calls", data={"csrf": csrf, "from": "", "to": "2125550123", "nonce": "e2e-1"})
            assert posted.status_code == 303
            request_id = int(posted.headers["location"].rsplit("=", 1)[1])
            seen = []
            async for name, data in sse_events(client, f"/calls/{request_id}/events"):
                seen.append((name, data))
            statuses = [data for name, data in seen if name == "status"]
            assert seen[-1][0] == "end" and statuses[-1]["state"] == states.COMPLETED and statuses[-1]["settled"]
            states_seen = [s["state"] for s in statuses]
            assert states.CONNECTED in states_seen and states_seen.index(states.CONNECTED) < len(states_seen) - 1
            assert any(s["leg_a"] == "connected" and s["leg_b"] == "connected" for s in statuses)
            final = statuses[-1]
            assert [(leg["leg"], leg["number"], leg["status"]) for leg in final["legs"]] == \
                [("a", sc.ALICE_HOME, "completed"), ("b", NY, "completed")]
            assert final["cost_minor"] > 0 and final["cost_minor"] == sum(leg["cost_minor"] for leg in final["legs"])
            assert final["balance"] == f"{(1000 - final['cost_minor']) / 100:.2f}"
            assert live.balance("alice") == 1000 - final["cost_minor"]
            history = await client.get("/history")
            assert f"{final['cost']} USD" in history.text
        await asyncio.sleep(0.1)
