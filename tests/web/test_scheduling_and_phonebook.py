"""Scheduled callbacks and the phonebook over HTTP: the API and the portal, bad input and attacks.

Bad times, codes and names get a clear 4xx and write nothing; another account's entries are
not found; a name is shown as text, never as markup; the caps hold under parallel requests.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
import sqlalchemy as sa

from app.calls import phonebook
from app.core import schedule, states
from app.data.db import utcnow
from app.data.tables import accounts as accounts_t
from app.data.tables import callback_requests, phonebook_entries
from tests.utils.harness import BASE, PlatformUnderTest
from tests.utils.live import seed
from tests.utils.web import Browser

NY = "+12125550123"


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        yield platform


def token(p, login: str) -> dict:
    from app.data import accounts
    account_id = p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == login))
    return {"Authorization": f"Bearer {p.run(accounts.create_token, p.platform.db, account_id=account_id)}"}


def error_of(response) -> str:
    return response.json()["error"]["code"]


def count(p, table) -> int:
    return p.scalar(sa.select(sa.func.count()).select_from(table))


# Scheduled callbacks over the API ----------------------------------------------------------------


def test_bad_times_are_refused_with_a_reason_and_write_nothing(p):
    alice = token(p, "alice")
    now = utcnow()
    bad = {
        "2026-13-01T10:00:00Z": "not a real date",
        "2027-02-30T10:00:00+01:00": "not a real date",
        "2026-12-24T18:30:00": "RFC 3339",  # no offset: which 18:30?
        "tomorrow at six": "RFC 3339",
        "2026-12-24T18:30:00+01:00' OR 1=1 --": "RFC 3339",
        schedule.rfc3339(now - dt.timedelta(hours=1)): "has passed",
        schedule.rfc3339(now + dt.timedelta(days=31)): "30 days",
    }
    for at, why in bad.items():
        response = p.client.post("/api/v1/callbacks", json={"to": NY, "at": at}, headers=alice)
        assert (response.status_code, error_of(response)) == (422, "invalid_time"), at
        assert why in response.json()["error"]["message"], (at, response.json())
    for at in (1767225600, ["2026-12-24T18:30:00Z"], {"at": 1}):
        response = p.client.post("/api/v1/callbacks", json={"to": NY, "at": at}, headers=alice)
        assert (response.status_code, error_of(response)) == (422, "invalid_field")
    assert count(p, callback_requests) == 0
    response = p.client.get("/api/v1/callbacks?scheduled=maybe", headers=alice)
    assert (response.status_code, error_of(response)) == (400, "invalid_parameter")


def test_a_scheduled_callback_is_listed_until_canceled_and_holds_no_concurrent_slot(p):
    alice = token(p, "alice")
    with p.engine.begin() as c:
        c.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(max_concurrent=1))
    at = schedule.rfc3339(utcnow() + dt.timedelta(days=29, hours=23))
    scheduled = p.client.post("/api/v1/callbacks", json={"to": NY, "at": at}, headers=alice).json()
    assert scheduled["scheduled_at"] == at
    # Waiting for its time, it does not take the account's one call in progress: a call now still goes.
    now = p.client.post("/api/v1/callbacks", json={"to": NY}, headers=alice)
    assert now.status_code == 201 and now.json()["scheduled_at"] is None
    listed = p.client.get("/api/v1/callbacks?scheduled=true", headers=alice).json()["data"]
    assert [c["id"] for c in listed] == [scheduled["id"]]
    # Another account sees none of it, and cannot cancel it.
    bob = token(p, "bob")
    assert p.client.get("/api/v1/callbacks?scheduled=true", headers=bob).json()["data"] == []
    assert p.client.post(f"/api/v1/callbacks/{scheduled['id']}/cancel", headers=bob).status_code == 404
    canceled = p.client.post(f"/api/v1/callbacks/{scheduled['id']}/cancel", headers=alice).json()
    assert (canceled["state"], canceled["reason"]) == (states.FAILED, states.CANCELED)
    assert p.client.get("/api/v1/callbacks?scheduled=true", headers=alice).json()["data"] == []


def burst(p: PlatformUnderTest, send, count: int) -> list[httpx.Response]:
    async def all_at_once():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url=BASE) as client:
            return await asyncio.gather(*(send(client, i) for i in range(count)))

    return p.run(all_at_once)


def test_the_cap_on_waiting_scheduled_callbacks_holds_under_parallel_requests(p):
    alice = token(p, "alice")
    at = schedule.rfc3339(utcnow() + dt.timedelta(days=3))
    responses = burst(p, lambda client, i: client.post("/api/v1/callbacks", json={"to": NY, "at": at},
                                                       headers=alice), 30)
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == phonebook_cap() and statuses.count(429) == 30 - phonebook_cap()
    assert {error_of(r) for r in responses if r.status_code == 429} == {"rate_limited"}


def phonebook_cap() -> int:
    from app.calls.account_requests import MAX_SCHEDULED
    return MAX_SCHEDULED


# The phonebook over the API ------------------------------------------------------------------------


def test_phonebook_entries_over_the_api(p):
    alice, bob = token(p, "alice"), token(p, "bob")
    created = p.client.post("/api/v1/phonebook", json={"name": "  Mum ", "number": "(212) 555-0123", "code": "7"},
                            headers=alice)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["name"], entry["number"], entry["code"]) == ("Mum", NY, "7")
    assert created.headers["location"] == f"/api/v1/phonebook/{entry['id']}"
    taken = p.client.post("/api/v1/phonebook", json={"name": "Dad", "number": NY, "code": "7"}, headers=alice)
    assert (taken.status_code, error_of(taken)) == (409, "code_taken")
    # Codes are per account: bob may use 7 too, and never sees or changes alice's entries.
    assert p.client.post("/api/v1/phonebook", json={"name": "Boss", "number": NY, "code": "7"},
                         headers=bob).status_code == 201
    assert [e["name"] for e in p.client.get("/api/v1/phonebook", headers=bob).json()["data"]] == ["Boss"]
    for method in ("get", "delete"):
        assert getattr(p.client, method)(f"/api/v1/phonebook/{entry['id']}", headers=bob).status_code == 404
    assert p.client.put(f"/api/v1/phonebook/{entry['id']}", json={"name": "x", "number": NY},
                        headers=bob).status_code == 404
    changed = p.client.put(f"/api/v1/phonebook/{entry['id']}", json={"name": "Mother", "number": NY, "code": None},
                           headers=alice)
    assert changed.status_code == 200 and (changed.json()["name"], changed.json()["code"]) == ("Mother", None)
    assert p.client.delete(f"/api/v1/phonebook/{entry['id']}", headers=alice).status_code == 204
    assert p.client.get("/api/v1/phonebook", headers=alice).json() == {"data": []}


def test_bad_phonebook_entries_are_refused_and_write_nothing(p):
    alice = token(p, "alice")
    bad = [
        ({"name": "Mum", "number": NY, "code": "123"}, "invalid_field"),
        ({"name": "Mum", "number": NY, "code": "*1"}, "invalid_field"),
        ({"name": "Mum", "number": NY, "code": "١"}, "invalid_field"),  # an Arabic-Indic digit is not a key
        ({"name": "Mum", "number": NY, "code": 7}, "invalid_field"),
        ({"name": "\u202e\u200b", "number": NY}, "invalid_field"),  # nothing visible left
        ({"name": "x" * 65, "number": NY}, "invalid_field"),
        ({"name": "Mum", "number": "555"}, "invalid_number"),
        ({"name": "Mum", "number": "+1 212 555 0123; DROP TABLE accounts"}, "invalid_number"),
        ({"name": "Mum"}, "missing_field"),
        ({"name": "Mum", "number": NY, "admin": True}, "unknown_field"),
    ]
    for body, code in bad:
        response = p.client.post("/api/v1/phonebook", json=body, headers=alice)
        assert (response.status_code, error_of(response)) == (422, code), body
    assert count(p, phonebook_entries) == 0


def test_the_phonebook_cap_holds_under_parallel_requests(p):
    alice = token(p, "alice")
    responses = burst(p, lambda client, i: client.post(
        "/api/v1/phonebook", json={"name": f"n{i}", "number": NY}, headers=alice), phonebook.MAX_ENTRIES + 10)
    assert sorted(r.status_code for r in responses).count(201) == phonebook.MAX_ENTRIES
    assert {error_of(r) for r in responses if r.status_code != 201} == {"phonebook_full"}
    assert count(p, phonebook_entries) == phonebook.MAX_ENTRIES


# The portal ----------------------------------------------------------------------------------------


@pytest.fixture
def portal(p):
    browser = Browser(p)
    browser.log_in("alice", "alice-password")
    return browser


def test_a_name_with_markup_is_shown_as_text(p, portal):
    xss = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    saved = portal.submit("/phonebook", {"name": xss, "number": "2125550123", "code": "5"})
    assert saved.status_code in (200, 303), saved.text
    page = portal.get("/phonebook")
    assert "<script>alert(1)</script>" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_portal_phonebook_errors_and_other_accounts_entries(p, portal):
    for form, problem in [({"name": "Mum", "number": "2125550123", "code": "777"}, "1 or 2 digits"),
                          ({"name": "Mum", "number": "12", "code": ""}, "not a valid phone number"),
                          ({"name": "", "number": "2125550123", "code": ""}, "1 to 64 characters")]:
        response = portal.submit("/phonebook", form)
        assert response.status_code == 422 and problem in response.text, form
    assert count(p, phonebook_entries) == 0
    bob = Browser(p)
    bob.log_in("bob", "bob-password")
    bob.submit("/phonebook", {"name": "Boss", "number": "2125550123", "code": "1"})
    entry_id = p.scalar(sa.select(phonebook_entries.c.id))
    assert portal.get(f"/phonebook/{entry_id}").status_code == 404
    assert portal.submit(f"/phonebook/{entry_id}/delete", {}).status_code == 404
    assert count(p, phonebook_entries) == 1


def test_scheduling_in_the_portal_reads_the_accounts_time_zone(p, portal):
    assert portal.submit("/settings/profile", {"default_number": "", "language": "en",
                                               "time_zone": "Asia/Tokyo"}).status_code in (200, 303)
    bad_zone = portal.submit("/settings/profile", {"default_number": "", "language": "en",
                                                   "time_zone": "../../etc/passwd"})
    assert bad_zone.status_code == 422
    local = schedule.utc_to_local(utcnow() + dt.timedelta(days=1), "Asia/Tokyo")
    response = portal.submit("/calls", {"from": "4155550100", "to": "2125550123", "date": f"{local:%Y-%m-%d}",
                                        "time": f"{local:%H:%M}"})
    assert response.status_code in (200, 303), response.text
    (row,) = p.requests()
    assert row["scheduled_at"] == schedule.local_to_utc(local.replace(tzinfo=None, second=0, microsecond=0),
                                                        "Asia/Tokyo")
    page = portal.get("/")
    assert f"{local:%Y-%m-%d %H:%M}" in page.text and "Scheduled calls" in page.text
    status = portal.get(f"/calls/{row['id']}/status").json()
    assert status["live"] is False and status["summary"].startswith(f"Scheduled for {local:%Y-%m-%d %H:%M} (Asia/Tokyo)")
    for date, time, problem in [("2020-01-01", "10:00", "has passed"), ("2026-02-30", "10:00", "does not exist"),
                                ("tomorrow", "10:00", "YYYY-MM-DD"), (f"{local:%Y-%m-%d}", "", "YYYY-MM-DD")]:
        response = portal.submit("/calls", {"from": "4155550100", "to": "2125550123", "date": date, "time": time})
        assert response.status_code == 422 and problem in response.text, (date, time)
    assert len(p.requests()) == 1


# Scheduled by text, around a daylight-saving change ------------------------------------------------


def test_a_text_for_a_time_the_clocks_skip_is_refused_and_one_they_keep_is_scheduled(p, monkeypatch):
    from app.calls import texts
    from tests.utils import scenario as sc
    from tests.utils import twilio as tw

    with p.engine.begin() as c:
        c.execute(accounts_t.update().where(accounts_t.c.login == "alice").values(time_zone="Europe/Paris"))
    # Saturday 28 March 2026, 23:00 in Paris: tonight the clocks jump from 02:00 to 03:00.
    monkeypatch.setattr(texts, "utcnow", lambda: dt.datetime(2026, 3, 28, 22, 0))

    def text(body: str, sid: str) -> str:
        response = p.post("/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER, Body=body,
                                                        MessageSid=sid))
        assert response.status_code == 200
        (reply,) = tw.parse_messages(response.text)
        return reply

    assert text("CALL 2125550123 AT 02:30", "SM" + "1" * 32).startswith("That time is skipped or repeated")
    assert p.requests() == []
    reply = text("CALL 2125550123 AT 03:30", "SM" + "2" * 32)
    assert reply.startswith("Callback scheduled for 2026-03-29 03:30 (Europe/Paris)")
    (row,) = p.requests()
    assert row["scheduled_at"] == dt.datetime(2026, 3, 29, 1, 30) and row["state"] == states.QUEUED
