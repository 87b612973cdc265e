"""The operator's admin pages: sign-in, sessions apart from the portal's, CSRF, every page and every form.

The app runs in-process and is driven as a browser would (forms, cookies,
redirects); what each action changed is read back from the database. The
summary's queries and the SVG chart are also tested as plain functions.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import uuid
import xml.etree.ElementTree as ET

import httpx
import pytest
import sqlalchemy as sa

from app.data import accounts, daily_summary, operators
from app.web.admin import calls as admin_calls, sessions as admin_sessions
from app.web import charts, uploads
from app.web.portal import sessions as web_sessions
from app.fraud import lockouts
from app.data.db import utcnow
from app.data.tables import accounts as accounts_t
from app.data.tables import (
    anis,
    auth_failures,
    balance_adjustments,
    call_legs,
    callback_requests,
    destination_rules,
    instance_settings,
    rates,
    service_numbers,
)
from tests.utils import scenario as sc
from tests.utils.harness import PlatformUnderTest
from tests.utils.web import OPERATOR, OPERATOR_PASSWORD, Browser, operator, web_platform

PAGES = ["/admin", "/admin/live", "/admin/cdrs", "/admin/accounts", "/admin/accounts/1", "/admin/numbers",
         "/admin/rates", "/admin/providers", "/admin/policy", "/admin/lockouts", "/admin/cdrs.csv",
         "/admin/rates/export.csv"]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        yield platform


def text_of(response) -> str:
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", response.text, flags=re.DOTALL)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def account(p: PlatformUnderTest, login: str):
    with p.engine.connect() as c:
        return c.execute(sa.select(accounts_t).where(accounts_t.c.login == login)).mappings().one_or_none()


def rows(p: PlatformUnderTest, table, *where):
    with p.engine.connect() as c:
        return c.execute(sa.select(table).where(*where).order_by(table.c[table.primary_key.columns.keys()[0]])
                         ).mappings().all()


# Signing in ---------------------------------------------------------------------------


def test_every_admin_page_needs_a_signed_in_operator(p):
    visitor = Browser(p)
    for path in PAGES:
        response = visitor.request("GET", path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login"), path
    assert visitor.request("GET", "/admin/cdrs?state=failed").headers["location"] == \
        "/admin/login?next=/admin/cdrs%3Fstate%3Dfailed"
    assert visitor.request("GET", "/admin/live.json").status_code == 401
    visitor.get("/admin/login")
    refused = visitor.submit("/admin/accounts/1/topup", {"amount": "5"})
    assert refused.status_code == 403 and "Sign in again" in refused.text
    assert rows(p, balance_adjustments) == []


def test_sign_in_and_out_and_the_cookie(p):
    browser = Browser(p)
    login_page = browser.get("/admin/cdrs?state=failed")
    assert login_page.url.path == "/admin/login" and "Operator sign-in" in login_page.text
    cookie = Browser(p).request("GET", "/admin/login").headers["set-cookie"]
    assert cookie.startswith(admin_sessions.COOKIE + "=") and "Path=/admin" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    response = browser.submit("/admin/login", {"login": OPERATOR, "password": OPERATOR_PASSWORD,
                                               "next": "/admin/cdrs?state=failed"})
    assert response.url.path == "/admin/cdrs" and "Call records" in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store" and response.headers["x-frame-options"] == "DENY"
    assert browser.submit("/admin/logout", {}).url.path == "/admin/login"
    assert browser.request("GET", "/admin").status_code == 303


@pytest.mark.parametrize("login, password", [(OPERATOR, "wrong-password"), ("nobody", OPERATOR_PASSWORD),
                                             ("", ""), (OPERATOR, "x" * 5000), ("alice", "alice-password")])
def test_a_failed_sign_in_says_the_same_whatever_was_wrong(p, login, password):
    response = Browser(p).sign_in(login, password)
    assert response.status_code == 401 and "Wrong login or password." in response.text
    assert "Sign out" not in response.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/admin//evil", "/", "javascript:x"])
def test_after_sign_in_only_admin_pages(p, target):
    browser = Browser(p)
    browser.get("/admin/login")
    response = browser.submit("/admin/login", {"login": OPERATOR, "password": OPERATOR_PASSWORD, "next": target},
                              follow=False)
    assert response.headers["location"] == "/admin"


def test_failed_sign_ins_are_throttled_on_the_admin_channel(p, lockout_clock):
    attacker = Browser(p)
    attacker.get("/admin/login")
    for _ in range(lockouts.MAX_FAILURES):
        lockout_clock.wait_out_backoff()
        assert attacker.submit("/admin/login", {"login": OPERATOR, "password": "guess"}).status_code == 401
    lockout_clock.wait_out_backoff()
    locked = attacker.submit("/admin/login", {"login": OPERATOR, "password": OPERATOR_PASSWORD})
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    failures = rows(p, auth_failures)
    assert {row["channel"] for row in failures} == {"admin"}
    assert {row["requester"] for row in failures} == {"admin:testclient", f"operator:{OPERATOR}"}
    # Subscribers sign in elsewhere, counted apart: alice is not locked out by this.
    assert not p.run(lockouts.requester_locked, p.platform.db, requester="web:testclient")


def test_subscriber_and_operator_sessions_never_open_each_other(p):
    subscriber = Browser(p)
    subscriber.get("/login")
    assert subscriber.submit("/login", {"login": "alice", "password": "alice-password"}).status_code == 200
    assert subscriber.request("GET", "/admin").status_code == 303
    # Even the subscriber's cookie value under the admin cookie's name: signed for the portal, not here.
    subscriber.cookies.set(admin_sessions.COOKIE, subscriber.cookies[web_sessions.COOKIE])
    assert subscriber.request("GET", "/admin/accounts").headers["location"].startswith("/admin/login")

    admin = operator(p)
    value = next(cookie.value for cookie in admin.cookies.jar if cookie.name == admin_sessions.COOKIE)
    stranger = Browser(p)
    stranger.cookies.set(web_sessions.COOKIE, value)
    assert stranger.request("GET", "/").headers["location"].startswith("/login")
    stranger.cookies.set(admin_sessions.COOKIE, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])
    assert stranger.request("GET", "/admin").status_code == 303


def test_a_changed_operator_password_ends_the_session(p):
    admin = operator(p)
    p.run(operators.set_password, p.platform.db, login=OPERATOR, password="a-new-password-1")
    assert admin.request("GET", "/admin").status_code == 303


def test_posts_without_the_sessions_csrf_token_are_refused(p):
    admin, other = operator(p), operator(p)
    alice = account(p, "alice")
    for token in ("", "forged", other.csrf):
        response = admin.submit(f"/admin/accounts/{alice['id']}/topup", {"amount": "5.00"}, csrf=token)
        assert response.status_code == 403 and "Form refused" in response.text
    assert admin.submit("/admin/numbers", {"number": "+18005550099", "mode": "pin"}, csrf="").status_code == 403
    upload = admin.submit("/admin/rates/import", {"tariff": "default"}, csrf="x",
                          files={"file": ("r.csv", b"33,0.02\n", "text/csv")})
    assert upload.status_code == 403
    assert admin.submit("/admin/logout", {}, csrf="nope").status_code == 403
    stranger = Browser(p)
    stranger.get("/admin/login")
    assert stranger.submit("/admin/login", {"login": OPERATOR, "password": OPERATOR_PASSWORD},
                           csrf="x").status_code == 403
    assert account(p, "alice")["balance"] == alice["balance"]
    assert rows(p, balance_adjustments) == []
    assert rows(p, service_numbers, service_numbers.c.number == "+18005550099") == []


def test_every_page_renders(p):
    admin = operator(p)
    alice = account(p, "alice")
    seed_history(p)
    for path in [*PAGES, f"/admin/accounts/{alice['id']}", "/admin/accounts?q=al&page=1",
                 "/admin/rates?tariff=default&prefix=4", "/admin/rates?edit=44",
                 "/admin/cdrs?login=alice&state=completed", "/admin?since=2024-01-01&until=2024-01-31",
                 "/admin/live.json"]:
        response = admin.get(path)
        assert response.status_code == (404 if path == "/admin/accounts/1" and alice["id"] != 1 else 200), path
    assert admin.get("/admin/accounts/999999").status_code == 404
    assert admin.get("/admin/accounts/99999999999").status_code == 404
    assert "There is no such account." in admin.page.text


# Accounts -----------------------------------------------------------------------------------


NEW_ACCOUNT = {"login": "carol", "password": "carol-password", "pin": "918273", "default_number": "(415) 555-0177",
                   "balance": "12.50", "currency": "usd", "country": "us", "language": "en"}


@pytest.mark.parametrize("change, message", [
    ({"login": "has space"}, "A login is 1 to 64 printable characters without spaces."),
    ({"login": "alice"}, "Login 'alice' is already taken."),
    ({"password": "short"}, "A password has 8 to 1024 characters."),
    ({"pin": "12"}, "A PIN is 4 to 12 digits."),
    ({"pin": "12345"}, "A PIN has at least 6 digits."),
    ({"pin": sc.ALICE_PIN}, "That PIN is already in use; choose another."),
    ({"default_number": "12"}, "The default number is not a valid phone number."),
    ({"balance": "ten"}, "The balance: 'ten' is not an amount."),
    ({"balance": "1.001"}, "The balance: '1.001' has more decimals than USD allows."),
    ({"country": "USA"}, "A country is a two-letter ISO code such as US."),
    ({"currency": "$"}, "A currency is a three-letter ISO code such as USD."),
    ({"language": "klingon"}, "Choose a language from the list."),
])
def test_creating_an_account_is_checked_like_the_cli(p, change, message):
    admin = operator(p)
    admin.get("/admin/accounts")
    response = admin.submit("/admin/accounts", {**NEW_ACCOUNT, **change})
    assert response.status_code == 422 and message in text_of(response)
    assert account(p, "carol") is None
    assert "carol-password" not in response.text


def test_create_an_account(p):
    admin = operator(p)
    admin.get("/admin/accounts")
    response = admin.submit("/admin/accounts", NEW_ACCOUNT)
    assert response.status_code == 200 and "The account was created." in response.text
    carol = account(p, "carol")
    assert (carol["balance"], carol["currency"], carol["country"], carol["default_number"]) == \
        (1250, "USD", "US", "+14155550177")
    assert p.run(accounts.find_account_by_pin, p.platform.db, secret_key=p.platform.secret_key,
                 pin="918273")["login"] == "carol"
    listing = admin.get("/admin/accounts?q=car")
    assert "carol" in listing.text and "alice" not in text_of(listing)
    assert "No login contains" in admin.get("/admin/accounts?q=%25").text


def test_block_and_unblock(p):
    admin = operator(p)
    alice = account(p, "alice")
    admin.get(f"/admin/accounts/{alice['id']}")
    assert admin.submit(f"/admin/accounts/{alice['id']}/status", {"status": "blocked"}).status_code == 200
    assert account(p, "alice")["status"] == "blocked"
    assert admin.submit(f"/admin/accounts/{alice['id']}/status", {"status": "deleted"}).status_code == 422
    admin.submit(f"/admin/accounts/{alice['id']}/status", {"status": "active"})
    assert account(p, "alice")["status"] == "active"


def test_top_ups_and_corrections_leave_an_audit_trail(p):
    admin = operator(p)
    alice = account(p, "alice")
    path = f"/admin/accounts/{alice['id']}"
    admin.get(path)
    response = admin.submit(path + "/topup", {"amount": "5.25", "note": "paid by bank transfer"})
    assert "The balance was changed and the change recorded." in response.text
    assert account(p, "alice")["balance"] == alice["balance"] + 525
    for amount, note, message in [("-1.00", "", "A correction (a negative amount) needs a note saying why."),
                                  ("0", "x", "The amount is zero"), ("abc", "", "'abc' is not an amount"),
                                  ("1.001", "", "has more decimals than USD allows"),
                                  ("", "", "The amount is missing."),
                                  ("-100000", "oops", "A correction cannot take the balance below zero"),
                                  ("1e9999", "", "is not an amount"), ("5", "x" * 300, "A note is up to 255")]:
        refused = admin.submit(path + "/topup", {"amount": amount, "note": note})
        assert refused.status_code == 422 and message in text_of(refused), amount
    admin.submit(path + "/topup", {"amount": "-0.25", "note": "refund of a duplicate top-up"})
    assert account(p, "alice")["balance"] == alice["balance"] + 500
    trail = rows(p, balance_adjustments)
    assert [(row["amount"], row["actor"], row["note"]) for row in trail] == [
        (525, f"operator:{OPERATOR}", "paid by bank transfer"),
        (-25, f"operator:{OPERATOR}", "refund of a duplicate top-up")]
    page = text_of(admin.get(path))
    assert "operator:root" in page and "refund of a duplicate top-up" in page and "15.00 USD" in page


def test_reset_the_pin_typed_or_generated(p):
    admin = operator(p)
    alice = account(p, "alice")
    path = f"/admin/accounts/{alice['id']}"
    admin.get(path)
    assert admin.submit(path + "/pin", {"pin": "123"}).status_code == 422
    taken = admin.submit(path + "/pin", {"pin": sc.BOB_PIN})
    assert taken.status_code == 422 and "That PIN is already in use" in taken.text
    assert admin.submit(path + "/pin", {"pin": "246813"}).status_code == 200
    find = lambda pin: p.run(accounts.find_account_by_pin, p.platform.db, secret_key=p.platform.secret_key, pin=pin)
    assert find("246813")["login"] == "alice" and find(sc.ALICE_PIN) is None
    generated = admin.submit(path + "/pin", {"generate": "1"})
    pin = re.search(r'id="new-pin">(\d+)<', generated.text).group(1)
    assert len(pin) == 6 and find(pin)["login"] == "alice"
    assert pin not in admin.get(path).text  # shown once


def test_the_operators_shortest_pin_holds_on_the_admin_pages(settings, engine):
    with web_platform(settings.with_(pin_min_length=8), engine) as p:
        admin = operator(p)
        alice = account(p, "alice")
        path = f"/admin/accounts/{alice['id']}"
        admin.get(path)
        refused = admin.submit(path + "/pin", {"pin": "246813"})
        assert refused.status_code == 422 and "at least 8 digits" in refused.text
        generated = admin.submit(path + "/pin", {"generate": "1"})
        assert len(re.search(r'id="new-pin">(\d+)<', generated.text).group(1)) == 8


def test_anis_are_added_verified_and_removed(p):
    admin = operator(p)
    alice = account(p, "alice")
    path = f"/admin/accounts/{alice['id']}"
    admin.get(path)
    assert admin.submit(path + "/anis", {"number": "(415) 555-0188"}).status_code == 200
    added = rows(p, anis, anis.c.number == "+14155550188")
    assert len(added) == 1 and added[0]["verified"] and added[0]["account_id"] == alice["id"]
    assert "is already registered" in admin.submit(path + "/anis", {"number": sc.BOB_MOBILE}).text
    assert "not a valid phone number" in admin.submit(path + "/anis", {"number": "<script>"}).text
    assert "&lt;script&gt;" in admin.page.text and "<script>" not in admin.page.text.split("</header>")[1]
    admin.submit(path + "/anis/remove", {"number": "+14155550188"})
    assert rows(p, anis, anis.c.number == "+14155550188") == []
    assert admin.submit(path + "/anis/remove", {"number": "+14155550188"}).status_code == 422


def test_lockouts_are_shown_and_cleared(p):
    admin = operator(p)
    alice = account(p, "alice")
    for _ in range(lockouts.MAX_FAILURES):
        p.run(lockouts.record_failure, p.platform.db, account_id=alice["id"], requester=sc.STRANGER, channel="voice")
        p.run(lockouts.record_failure, p.platform.db, account_id=None, requester="+15550001111", channel="sms")
    page = admin.get(f"/admin/accounts/{alice['id']}")
    assert "locked" in page.text and "10 failed PIN or password attempts" in text_of(page)
    admin.submit(f"/admin/accounts/{alice['id']}/unlock", {})
    assert not p.run(lockouts.account_locked, p.platform.db, account_id=alice["id"])
    listing = admin.get("/admin/lockouts")
    assert "+15550001111" in listing.text
    admin.submit("/admin/lockouts/clear", {"requester": "+15550001111"})
    assert not p.run(lockouts.requester_locked, p.platform.db, requester="+15550001111")
    assert admin.submit("/admin/lockouts/clear", {}).status_code == 422
    assert admin.submit("/admin/lockouts/clear", {"account_id": "99999999999"}).status_code == 422


def test_account_settings(p):
    admin = operator(p)
    alice = account(p, "alice")
    path = f"/admin/accounts/{alice['id']}"
    admin.get(path)
    good = {"default_number": "", "language": "es", "confirm_mode": "amd", "caller_id_mode": "withheld",
            "tariff": "gold",
                "callback_tariff": "silver", "max_concurrent": "7", "retry_attempts": "2", "max_call_minutes": "30",
                "max_call_cost": "2.50"}
    assert admin.submit(path + "/settings", good).status_code == 200
    saved = account(p, "alice")
    assert (saved["default_number"], saved["language"], saved["confirm_mode"], saved["caller_id_mode"],
            saved["tariff"], saved["callback_tariff"], saved["max_concurrent"], saved["retry_attempts"],
            saved["max_call_seconds"], saved["max_call_cost"]) == \
        (None, "es", "amd", "withheld", "gold", "silver", 7, 2, 1800, 250)
    for change, message in [({"confirm_mode": "maybe"}, "The confirmation is one of none, press1, amd."),
                            ({"caller_id_mode": "spoofed"}, "The caller ID is one of service, subscriber, withheld."),
                            ({"max_concurrent": "0"}, "Calls at once is a whole number from 1 to 1000."),
                            ({"max_concurrent": "1e3"}, "Calls at once is a whole number"),
                            ({"retry_attempts": "9"}, "Retries is a whole number from 0 to 5."),
                            ({"tariff": ""}, "The tariff is a name of 1 to 32 characters."),
                            ({"max_call_cost": "-1"}, "cannot be negative"),
                            ({"default_number": "555"}, "The default number is not a valid phone number.")]:
        refused = admin.submit(path + "/settings", {**good, **change})
        assert refused.status_code == 422 and message in text_of(refused), change
    admin.submit(path + "/settings", {**good, "max_call_minutes": "", "max_call_cost": "0",
                                      "default_number": "+14155550100"})
    saved = account(p, "alice")
    assert (saved["max_call_seconds"], saved["max_call_cost"], saved["default_number"]) == (None, None, "+14155550100")


# Service numbers --------------------------------------------------------------------------------


def test_service_numbers_added_changed_and_removed(p):
    admin = operator(p)
    admin.get("/admin/numbers")
    assert "The number was added." in admin.submit("/admin/numbers", {"number": "+1 800 555 0099", "mode": "ani"}).text
    number = rows(p, service_numbers, service_numbers.c.number == "+18005550099")[0]
    assert number["mode"] == "ani" and number["account_id"] is None
    for fields, message in [({"number": "+18005550099", "mode": "pin"}, "+18005550099 is already a service number."),
                            ({"number": "+18005550098", "mode": "did"},
                             "A DID number belongs to an account: give its login."),
                            ({"number": "+18005550098", "mode": "did", "account": "nobody"},
                             "There is no account with login nobody."),
                            ({"number": "+18005550098", "mode": "pin", "account": "alice"},
                             "Only a DID number belongs"),
                            ({"number": "+18005550098", "mode": "fax"}, "A mode is one of pin"),
                            ({"number": "not a number", "mode": "pin"}, "The number is not a valid phone number.")]:
        refused = admin.submit("/admin/numbers", fields)
        assert refused.status_code == 422 and message in text_of(refused), fields
    path = f"/admin/numbers/{number['id']}"
    assert admin.submit(path + "/mode", {"mode": "did"}).status_code == 422
    admin.submit(path + "/mode", {"mode": "did", "account": "bob"})
    changed = rows(p, service_numbers, service_numbers.c.id == number["id"])[0]
    assert changed["mode"] == "did" and changed["account_id"] == account(p, "bob")["id"]
    admin.submit(path + "/mode", {"mode": "pin"})
    assert rows(p, service_numbers, service_numbers.c.id == number["id"])[0]["account_id"] is None
    admin.submit(path + "/caller-id", {"caller_id_mode": "subscriber"})
    assert rows(p, service_numbers, service_numbers.c.id == number["id"])[0]["caller_id_mode"] == "subscriber"
    assert admin.submit(path + "/caller-id", {"caller_id_mode": "bogus"}).status_code == 422
    admin.submit(path + "/caller-id", {"caller_id_mode": ""})
    assert rows(p, service_numbers, service_numbers.c.id == number["id"])[0]["caller_id_mode"] is None
    admin.submit(path + "/remove", {})
    assert rows(p, service_numbers, service_numbers.c.id == number["id"]) == []
    assert admin.submit(path + "/remove", {}).status_code == 404


# Rates and policy -------------------------------------------------------------------------------


def tariff_rates(p: PlatformUnderTest, tariff: str = "default") -> dict:
    return {row["prefix"]: (row["price_per_minute"], row["first_increment"], row["next_increment"],
                            row["connection_fee"]) for row in rows(p, rates, rates.c.tariff == tariff)}


def test_a_rate_added_and_edited(p):
    admin = operator(p)
    admin.get("/admin/rates")
    admin.submit("/admin/rates", {"tariff": "default", "prefix": "+33", "price": "0.04", "increment": "30/6",
                                  "connection_fee": "0.01"})
    assert tariff_rates(p)["33"] == (40_000, 30, 6, 10_000)
    edit = admin.get("/admin/rates?tariff=default&edit=33")
    assert 'value="0.04"' in edit.text and 'value="30/6"' in edit.text
    admin.submit("/admin/rates", {"tariff": "default", "prefix": "33", "price": "0.035", "increment": "60/60",
                                  "connection_fee": ""})
    assert tariff_rates(p)["33"] == (35_000, 60, 60, 0)
    for fields, message in [({"prefix": "abc", "price": "1"}, "Prefix 'abc' must be 1 to 16 digits."),
                            ({"prefix": "33", "price": "-1"}, "a price cannot be negative"),
                            ({"prefix": "33", "price": "0.0000001"}, "has more than 6 decimals"),
                            ({"prefix": "33", "price": "1", "increment": "0/0"}, "increments are 1 to 3600 seconds"),
                            ({"prefix": "33", "price": "1", "tariff": "a\tb"}, "A tariff is a name")]:
        refused = admin.submit("/admin/rates", {"tariff": "default", "increment": "60/60", **fields})
        assert refused.status_code == 422 and message in text_of(refused), fields
    assert admin.get("/admin/rates?prefix=x%27").status_code == 200
    assert "Filter by the digits" in admin.page.text


def test_rates_import_a_file_all_or_nothing_and_export(p):
    admin = operator(p)
    admin.get("/admin/rates")
    good = b"\xef\xbb\xbfprefix,price_per_minute,increment,connection_fee\n49,0.045,30/6,0\n4420,0.03,1/1,0.005\n"
    response = admin.submit("/admin/rates/import", {"tariff": "gold"}, files={"file": ("rates.csv", good, "text/csv")})
    assert response.status_code == 200 and "2 rates were imported." in response.text
    assert tariff_rates(p, "gold") == {"49": (45_000, 30, 6, 0), "4420": (30_000, 1, 1, 5_000)}
    bad = b"prefix,price\n33,0.02\nabc,0.01\n34,lots\n"
    refused = admin.submit("/admin/rates/import", {"tariff": "gold"}, files={"file": ("bad.csv", bad, "text/csv")})
    assert refused.status_code == 422 and "Nothing was imported" in refused.text
    assert "line 3: prefix &#39;abc&#39; must be 1 to 16 digits" in refused.text and "line 4:" in refused.text
    assert "33" not in tariff_rates(p, "gold")
    pasted = admin.submit("/admin/rates/import", {"tariff": "gold", "text": "33,0.02\r\n"},
                          files={"file": ("", b"", "application/octet-stream")})
    assert pasted.status_code == 200 and tariff_rates(p, "gold")["33"] == (20_000, 60, 60, 0)
    for fields, files, message in [({"tariff": "gold"}, {"file": ("x.csv", b"\xff\xfe\x00", "text/csv")}, "not UTF-8"),
                                   ({"tariff": "gold", "text": " "}, None, "Choose a CSV file or paste the rates."),
                                   ({"tariff": "gold"}, {"file": ("x.csv", b"33,0.1\n3\x004,0.2", "text/csv")},
                                    "line 2:"),
                                   ({"tariff": "gold", "text": "prefix,price\n"}, None,
                                    "no rates: nothing was imported"),
                                   ({"tariff": ""}, {"file": ("x.csv", b"1,0.01", "text/csv")}, None)]:
        result = admin.submit("/admin/rates/import", fields, files=files or {"file": ("", b"", "text/csv")})
        if message is None:
            assert result.status_code == 200  # an empty tariff is the default tariff
        else:
            assert result.status_code == 422 and message in result.text, fields
    exported = admin.get("/admin/rates/export.csv?tariff=gold")
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="rates-gold.csv"' in exported.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(exported.text))) == [
        ["prefix", "price_per_minute", "increment", "connection_fee"], ["33", "0.02", "60/60", "0"],
        ["4420", "0.03", "1/1", "0.005"], ["49", "0.045", "30/6", "0"]]
    # What was exported imports again unchanged.
    before = tariff_rates(p, "gold")
    admin.get("/admin/rates")
    admin.submit("/admin/rates/import", {"tariff": "gold"}, files={"file": ("x.csv", exported.content, "text/csv")})
    assert tariff_rates(p, "gold") == before


def test_a_large_or_malformed_upload_is_refused_without_a_500(p):
    admin = operator(p)
    admin.get("/admin/rates")
    big = admin.submit("/admin/rates/import", {"tariff": "x"},
                       files={"file": ("big.csv", b"1,0.01\n" * (uploads.MAX_BODY // 7 + 10), "text/csv")})
    assert big.status_code == 413 and "an upload may be up to 2 MB" in big.text
    broken = admin.request("POST", "/admin/rates/import", content=b"--zz\r\ngarbage",
                           headers={"content-type": "multipart/form-data; boundary=zz"})
    assert broken.status_code in (400, 403) and "Form refused" in broken.text
    as_json = admin.request("POST", "/admin/rates/import", content=b"{}", headers={"content-type": "application/json"})
    assert as_json.status_code == 415 and "Form refused" in as_json.text
    assert tariff_rates(p, "x") == {}


def test_rate_pages(p, monkeypatch):
    from app.web.admin import rates as admin_rates

    monkeypatch.setattr(admin_rates, "PAGE_SIZE", 2)
    admin = operator(p)
    admin.get("/admin/rates")
    admin.submit("/admin/rates/import", {"tariff": "default", "text": "30,0.1\n31,0.1\n32,0.1\n"})
    first = text_of(admin.get("/admin/rates?prefix=3"))
    assert " 30 " in first and " 31 " in first and " 32 " not in first and "Next" in first
    second = text_of(admin.get("/admin/rates?prefix=3&page=2"))
    assert " 32 " in second and "Previous" in second and "Next" not in second


def test_destination_policy_rules_and_limits(p):
    admin = operator(p)
    admin.get("/admin/policy")
    admin.submit("/admin/policy/rules", {"kind": "allow_country", "value": "gb"})
    admin.submit("/admin/policy/rules", {"kind": "deny_prefix", "value": "+4490", "account": "alice"})
    saved = {(row["kind"], row["value"], row["account_id"]) for row in rows(p, destination_rules)}
    assert saved == {("allow_country", "GB", None), ("deny_prefix", "4490", account(p, "alice")["id"])}
    for fields, message in [({"kind": "allow_country", "value": "GBR"}, "A country is a two-letter ISO code"),
                            ({"kind": "allow_type", "value": "free"}, "A number type is one of"),
                            ({"kind": "allow_planet", "value": "x"}, "Kind is one of"),
                            ({"kind": "deny_prefix", "value": "12", "account": "ghost"}, "There is no account")]:
        refused = admin.submit("/admin/policy/rules", fields)
        assert refused.status_code == 422 and message in text_of(refused), fields
    admin.submit("/admin/policy/rules/remove", {"kind": "deny_prefix", "value": "4490",
                                                "account_id": str(account(p, "alice")["id"])})
    assert {row["kind"] for row in rows(p, destination_rules)} == {"allow_country"}
    assert admin.submit("/admin/policy/rules/remove", {"kind": "deny_prefix", "value": "4490"}).status_code == 422
    admin.submit("/admin/policy/limits", {"max_call_minutes": "45", "max_call_cost": "3.00"})
    limits = {row["key"]: row["value"] for row in rows(p, instance_settings, instance_settings.c.key.like("policy.%"))}
    assert limits == {"policy.max_call_seconds": "2700", "policy.max_call_cost": "300"}
    assert "45 minutes" in admin.page.text
    assert admin.submit("/admin/policy/limits", {"max_call_minutes": "-3"}).status_code == 422
    admin.submit("/admin/policy/limits", {"max_call_minutes": "", "max_call_cost": ""})
    assert rows(p, instance_settings, instance_settings.c.key.like("policy.%")) == []


# Live callbacks, CDRs, the summary ---------------------------------------------------------------------


def add_request(p: PlatformUnderTest, *, login: str | None, state: str, reason: str | None = None, created_at=None,
                leg_b: str | None = None, legs: list[dict] = ()) -> int:
    created = created_at or utcnow().replace(microsecond=0)
    owner = account(p, login)["id"] if login else None
    with p.engine.begin() as c:
        request_id = c.execute(callback_requests.insert().values(
            trigger_kind="voice", trigger_id="CA" + uuid.uuid4().hex,
            service_number=sc.PIN_NUMBER, mode="pin", caller_id=sc.ALICE_MOBILE, account_id=owner,
            leg_a_number=sc.ALICE_MOBILE, leg_b_number=leg_b, state=state, reason=reason, due_at=created,
            expires_at=created + dt.timedelta(minutes=10), created_at=created, updated_at=created)
        ).inserted_primary_key[0]
        for n, leg in enumerate(legs):
            c.execute(call_legs.insert().values(
                request_id=request_id, provider_sid=f"CA{request_id:08d}{n}", direction="outbound-api",
                started_at=created, **leg))
    return request_id


def seed_history(p: PlatformUnderTest) -> dict:
    today = utcnow().replace(hour=10, minute=0, second=0, microsecond=0)
    yesterday = today - dt.timedelta(days=1)
    ended = {"status": "completed", "ended_at": today, "answered_at": today}
    return {
        "done": add_request(p, login="alice", state="completed", created_at=today, leg_b=sc.UK_DESTINATION, legs=[
            dict(leg="a", to_number=sc.ALICE_MOBILE, duration_seconds=100, billed_seconds=120, cost=2, **ended),
            dict(leg="b", to_number=sc.UK_DESTINATION, duration_seconds=61, billed_seconds=66, cost=6, **ended)]),
        "busy": add_request(p, login="bob", state="failed", reason="a_busy", created_at=today),
        "blocked": add_request(p, login="alice", state="failed", reason="destination_blocked", created_at=yesterday,
                               leg_b="+19005550100"),
        "old": add_request(p, login="bob", state="completed", created_at=today - dt.timedelta(days=40), legs=[
            dict(leg="a", to_number=sc.BOB_MOBILE, billed_seconds=60, cost=1, **ended)]),
        "live": add_request(p, login=None, state="queued", created_at=today),
    }


def test_live_callbacks_are_listed_and_canceled(p):
    admin = operator(p)
    ids = seed_history(p)
    live = admin.get("/admin/live")
    assert live.status_code == 200 and f'data-id="{ids["live"]}"' in live.text
    assert f'data-id="{ids["done"]}"' not in live.text
    assert 'http-equiv="refresh"' in live.text and 'nonce="' in live.text
    data = admin.get("/admin/live.json").json()
    assert [call["id"] for call in data["calls"]] == [ids["live"]]
    assert data["calls"][0]["leg_a"] == "waiting" and data["calls"][0]["cancelable"]
    response = admin.submit(f"/admin/live/{ids['live']}/cancel", {})
    assert response.status_code == 200 and f"Callback #{ids['live']} was canceled." in response.text
    assert p.request(ids["live"])["state"] == "failed" and p.request(ids["live"])["reason"] == "canceled"
    again = admin.submit(f"/admin/live/{ids['live']}/cancel", {})
    assert again.status_code == 409 and "already failed" in again.text
    assert admin.submit("/admin/live/99999999999/cancel", {}).status_code == 404
    assert admin.get("/admin/live.json").json()["calls"] == []


def test_cdr_search_filters_pages_and_csv(p, monkeypatch):
    admin = operator(p)
    ids = seed_history(p)
    found = lambda path: [int(n) for n in re.findall(r"<tr>\s*<td>(\d+)</td>", admin.get(path).text)]
    assert found("/admin/cdrs") == sorted(ids.values(), reverse=True)
    assert found("/admin/cdrs?login=bob") == [ids["old"], ids["busy"]]  # by id, newest first
    assert found("/admin/cdrs?number=4420712") == [ids["done"]]
    assert found("/admin/cdrs?number=%2B1+900+555") == [ids["blocked"]]
    assert found("/admin/cdrs?state=failed&reason=a_busy") == [ids["busy"]]
    yesterday = (utcnow() - dt.timedelta(days=1)).date()
    assert found(f"/admin/cdrs?since={yesterday}&until={yesterday}") == [ids["blocked"]]
    for query, message in [("number=12345678901234567890", "A number to look for is 2 to 16 digits"),
                           ("since=yesterday", "From is a date like"),
                           ("since=2024-02-01&until=2024-01-01", "wrong way round"),
                           ("state=lost", "Choose a state"), ("reason=%3Cscript%3E", "Choose a reason")]:
        response = admin.get("/admin/cdrs?" + query)
        assert response.status_code == 422 and message in response.text, query
    monkeypatch.setattr(admin_calls, "PAGE_SIZE", 2)
    first = admin.get("/admin/cdrs").text
    assert "Newer" not in first
    older = re.search(r'href="/admin/cdrs\?before=(\d+)" rel="next"', first).group(1)
    assert found("/admin/cdrs") == [ids["live"], ids["old"]] and older == str(ids["old"])
    assert found(f"/admin/cdrs?before={older}") == [ids["blocked"], ids["busy"]]
    last = admin.get(f"/admin/cdrs?before={ids['busy']}").text
    assert "Older" not in last
    newer = re.search(r'href="/admin/cdrs\?after=(\d+)" rel="prev"', last).group(1)
    assert found(f"/admin/cdrs?after={newer}") == [ids["blocked"], ids["busy"]]
    second = admin.get("/admin/cdrs?login=alice").text
    assert "Older" not in second and "Newer" not in second  # alice's two requests: one page
    exported = admin.get("/admin/cdrs.csv?login=alice")
    assert exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(int(line["request_id"]), line["leg"], line["cost"]) for line in lines] == [
        (ids["blocked"], "", ""), (ids["done"], "a", "0.02"), (ids["done"], "b", "0.06")]
    assert {line["login"] for line in lines} == {"alice"}
    assert admin.get("/admin/cdrs.csv?state=nope").status_code == 422


def test_the_daily_summary_counts_calls_minutes_revenue_and_failures(p):
    ids = seed_history(p)
    today = utcnow().date()
    summary = p.run(daily_summary.summarize, p.platform.db, since=today - dt.timedelta(days=13), until=today)
    assert len(summary.days) == 14 and summary.days[-1].day == today
    last, before = summary.days[-1], summary.days[-2]
    assert (last.calls, last.completed, last.failed, last.in_progress) == (3, 1, 1, 1)
    assert (last.billed_seconds, str(last.minutes), last.revenue) == (186, "3.1", {"USD": 8})
    assert last.failures == {"a_busy": 1} and before.failures == {"destination_blocked": 1}
    assert sum(day.calls for day in summary.days[:-2]) == 0
    assert summary.totals.calls == 4 and summary.reasons == ["a_busy", "destination_blocked"]
    assert summary.totals.revenue == {"USD": 8} and summary.currencies == ["USD"]
    # Legs written without provider prices (as before they were collected): unknown, not zero.
    assert (last.cost, last.margin, last.cost_untracked, last.cost_unknown) == ({}, {}, 2, 2)
    assert (last.cost_text, last.margin_text, last.unknown_text) == ("—", "—", "2 not tracked")
    done_a, done_b = rows(p, call_legs, call_legs.c.request_id == ids["done"])
    with p.engine.begin() as c:
        c.execute(call_legs.update().where(call_legs.c.id == done_a["id"])
                  .values(provider_price=15_000, provider_price_unit="USD", price_checks=1))
        c.execute(call_legs.update().where(call_legs.c.id == done_b["id"]).values(price_check_at=utcnow()))
    last = p.run(daily_summary.summarize, p.platform.db, since=today, until=today).days[-1]
    assert (last.cost, last.margin, last.cost_pending, last.cost_untracked) == ({"USD": 15_000}, {"USD": 5_000}, 1, 0)
    assert (last.cost_text, last.margin_text, last.unknown_text) == ("0.015 USD", "0.005 USD", "1 pending")
    assert ids["old"]  # 40 days ago: outside the range
    empty = p.run(daily_summary.summarize, p.platform.db, since=today + dt.timedelta(days=1),
                  until=today + dt.timedelta(days=1))
    assert empty.totals.calls == 0 and empty.reasons == [] and len(empty.days) == 1


def test_the_summary_page_shows_the_chart_and_the_table(p):
    admin = operator(p)
    seed_history(p)
    page = admin.get("/admin")
    assert page.status_code == 200
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page.text, flags=re.DOTALL).group(0))
    assert svg.get("role") == "img" and svg.find(SVG + "title").text == "Calls per day"
    assert "4 in all, 1 completed, 2 failed" in svg.find(SVG + "desc").text
    assert len(svg.findall(f"{SVG}g[@class='bar']")) == 14
    text = text_of(page)
    assert "Provider cost Margin" in text and "2 not tracked" in text  # the column; legs ended before prices
    assert "a_busy" in text and "destination_blocked" in text and "0.08 USD" in text
    bad = admin.get("/admin?since=2024-13-01")
    assert bad.status_code == 422 and "From is a date like" in bad.text and "<svg" in bad.text
    assert "at most 366 days" in admin.get("/admin?since=2020-01-01&until=2024-01-01").text
    assert admin.get("/admin?since=2024-02-01&until=2024-01-01").status_code == 422


def test_odd_input_in_every_form_is_a_form_message_never_a_500(p):
    admin = operator(p)
    alice = account(p, "alice")
    nasty = ["", " ", "\x00", "x" * 5000, "'; DROP TABLE accounts; --", "<img src=x onerror=alert(1)>", "٣٤٥٦٧٨",
             "１２３４５６", "+", "-0", "NaN", "1e400", "9" * 40]
    paths = {
        "/admin/accounts": ["login", "password", "pin", "default_number", "balance", "currency", "country", "language"],
        f"/admin/accounts/{alice['id']}/topup": ["amount", "note"],
        f"/admin/accounts/{alice['id']}/pin": ["pin"],
        f"/admin/accounts/{alice['id']}/anis": ["number"],
        f"/admin/accounts/{alice['id']}/anis/remove": ["number"],
        f"/admin/accounts/{alice['id']}/status": ["status"],
        f"/admin/accounts/{alice['id']}/settings": ["max_concurrent", "tariff", "max_call_cost", "language"],
        "/admin/numbers": ["number", "mode", "account"],
        "/admin/rates": ["tariff", "prefix", "price", "increment", "connection_fee"],
        "/admin/rates/import": ["tariff", "text"],
        "/admin/policy/rules": ["kind", "value", "account"],
        "/admin/policy/rules/remove": ["kind", "value", "account_id"],
        "/admin/policy/limits": ["max_call_minutes", "max_call_cost"],
        "/admin/lockouts/clear": ["account_id", "requester"],
    }
    admin.get("/admin")
    token = admin.csrf
    for path, names in paths.items():
        for value in nasty:
            response = admin.submit(path, {name: value for name in names}, csrf=token, follow=False)
            assert response.status_code < 500, (path, value)
            assert "<img src=x" not in response.text, (path, value)
    for query in ["login=%00", "number=%EF%BC%91%EF%BC%92%EF%BC%93", "since=%00", "before=-1", "after=9" * 30]:
        assert admin.get("/admin/cdrs?" + query).status_code < 500
    assert admin.get("/admin/rates?tariff=%00&page=99999999999&prefix=%00").status_code < 500
    assert admin.get("/admin/accounts?q=%00&page=-1").status_code < 500


# The chart, as a pure function ---------------------------------------------------------------------


def test_the_chart_is_accessible_svg_with_bars_to_scale():
    svg = charts.stacked_bars(title="Calls <per> day", desc="Two days & some calls", labels=["05-01", "05-02"],
                              series=[charts.Series("completed", "#16794a", [3, 0]),
                                      charts.Series("failed", "#b42318", [1, 2])], chart_id="c")
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg" and root.get("role") == "img" and root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(SVG + "title").text == "Calls <per> day"
    assert root.find(SVG + "desc").text == "Two days & some calls"
    bars = root.findall(f"{SVG}g[@class='bar']")
    assert [bar.get("data-total") for bar in bars] == ["4", "2"]
    heights = [[float(rect.get("height")) for rect in bar.findall(SVG + "rect")] for bar in bars]
    assert len(heights[0]) == 2 and len(heights[1]) == 1  # nothing drawn for a zero
    assert heights[0][0] == pytest.approx(3 * heights[0][1]) and heights[1][0] == pytest.approx(2 * heights[0][1])
    assert [t.text for t in bars[0].iter(SVG + "title")] == ["05-01: 3 completed", "05-01: 1 failed"]


def test_the_chart_without_data_and_with_many_days():
    empty = ET.fromstring(charts.stacked_bars(title="t", desc="d", labels=[], series=[], empty_text="No calls"))
    assert "No calls" in [t.text for t in empty.iter(SVG + "text")]
    labels = [f"d{i}" for i in range(60)]
    many = ET.fromstring(charts.stacked_bars(title="t", desc="d", labels=labels,
                                             series=[charts.Series("x", "#000", list(range(60)))]))
    assert len(many.findall(f"{SVG}g[@class='bar']")) == 60
    shown = [t.text for t in many.iter(SVG + "text") if t.text and t.text.startswith("d")]
    assert 1 < len(shown) <= charts.MAX_X_LABELS
    with pytest.raises(ValueError):
        charts.stacked_bars(title="t", desc="d", labels=["a"], series=[charts.Series("x", "#000", [1, 2])])
    assert [charts.nice_step(top) for top in (0, 4, 7, 11, 100, 999)] == [1, 1, 2, 5, 20, 200]


async def test_multipart_bodies_are_parsed_as_they_stream_in():
    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    def request_of(content_type: str, body: bytes) -> Request:
        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}
        return Request({"type": "http", "method": "POST", "headers": [(b"content-type", content_type.encode())]},
                       receive)

    sent = httpx.Request("POST", "http://x/", data={"csrf": "t", "tariff": "gold é"},
                         files={"file": ("r.csv", b"44,0.05\r\n", "text/csv")})
    fields, files = await uploads.read_multipart(request_of(sent.headers["content-type"], sent.read()))
    assert fields == {"csrf": "t", "tariff": "gold é"}
    assert files["file"] == uploads.Upload("r.csv", b"44,0.05\r\n")
    for content_type, body in [("multipart/form-data", b""), ("multipart/form-data; boundary=zz", b"junk")]:
        with pytest.raises(HTTPException):
            await uploads.read_multipart(request_of(content_type, body))
