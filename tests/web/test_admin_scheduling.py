"""The admin pages of this feature set: DID-direct numbers (shown, edited, the destination's policy
checked when set) and an account's time zone."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from app.data.tables import accounts as accounts_t
from app.data.tables import service_numbers
from tests.utils.web import Browser, web_platform

DIRECT = "+18005550009"


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        yield platform


@pytest.fixture
def admin(p):
    browser = Browser(p)
    browser.sign_in()
    return browser


def text_of(response) -> str:
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", response.text, flags=re.DOTALL)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def number_row(p, number: str):
    with p.engine.connect() as c:
        return c.execute(sa.select(service_numbers).where(service_numbers.c.number == number)).mappings().one_or_none()


def test_a_did_direct_number_is_added_shown_and_its_destination_changed(p, admin):
    admin.get("/admin/numbers")
    for fields, message in [
        ({"number": DIRECT, "mode": "did-direct", "account": "alice"}, "needs a destination"),
        ({"number": DIRECT, "mode": "did-direct", "account": "alice", "destination": "+19005550123"}, "blocked"),
        ({"number": DIRECT, "mode": "did-direct", "account": "alice", "destination": "+33123456789"}, "no rate"),
        ({"number": DIRECT, "mode": "did-direct", "account": "alice", "destination": "<b>x</b>"},
         "is not a valid phone number"),
        ({"number": DIRECT, "mode": "ani", "destination": "2125550123"}, "Only a DID-direct number has a destination"),
    ]:
        refused = admin.submit("/admin/numbers", fields)
        assert refused.status_code == 422 and message in text_of(refused), fields
        assert "<b>x</b>" not in refused.text
    assert number_row(p, DIRECT) is None
    added = admin.submit("/admin/numbers", {"number": DIRECT, "mode": "did-direct", "account": "alice",
                                            "destination": "(212) 555-0123"})
    assert "The number was added." in text_of(added) and "+12125550123" in text_of(added)
    row = number_row(p, DIRECT)
    assert (row["mode"], row["destination"]) == ("did-direct", "+12125550123")
    path = f"/admin/numbers/{row['id']}/mode"
    refused = admin.submit(path, {"mode": "did-direct", "account": "alice", "destination": "+19005550123"})
    assert refused.status_code == 422 and number_row(p, DIRECT)["destination"] == "+12125550123"
    admin.submit(path, {"mode": "did-direct", "account": "alice", "destination": "+14155550177"})
    assert number_row(p, DIRECT)["destination"] == "+14155550177"
    admin.submit(path, {"mode": "did", "account": "alice"})  # a plain DID again: the destination goes
    assert (number_row(p, DIRECT)["mode"], number_row(p, DIRECT)["destination"]) == ("did", None)


def test_the_operator_sets_an_accounts_time_zone(p, admin):
    with p.engine.connect() as c:
        alice = c.execute(sa.select(accounts_t).where(accounts_t.c.login == "alice")).mappings().one()
    page = admin.get(f"/admin/accounts/{alice['id']}")
    fields = {name: value for name, value in re.findall(
        r'<(?:input|select)[^>]*?name="([a-z_]+)"[^>]*?value="([^"]*)"', page.text)}
    base = {"default_number": alice["default_number"] or "", "language": "en", "confirm_mode": "press1",
            "caller_id_mode": "service", "tariff": "default", "callback_tariff": "default", "retry_attempts": "0",
            "max_concurrent": "3", "max_call_minutes": "", "max_call_cost": ""}
    assert "time_zone" in fields
    refused = admin.submit(f"/admin/accounts/{alice['id']}/settings", {**base, "time_zone": "Nowhere/Town"})
    assert refused.status_code == 422 and "IANA name" in text_of(refused)
    admin.submit(f"/admin/accounts/{alice['id']}/settings", {**base, "time_zone": "Europe/Lisbon"})
    with p.engine.connect() as c:
        assert c.execute(sa.select(accounts_t.c.time_zone).where(accounts_t.c.id == alice["id"])).scalar() == \
            "Europe/Lisbon"
