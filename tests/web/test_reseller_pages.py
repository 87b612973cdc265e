"""The reseller's pages over HTTP: it signs in, sees its credit and its own accounts with their margins,
tops up and blocks them; another reseller's or the operator's accounts are out of reach whatever id is
typed (IDOR), and its cookie opens nothing on the admin side."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.data.tables import accounts, call_legs, callback_requests
from tests.utils.web import Browser, operator, web_platform


@pytest.fixture
def p(settings, engine):
    with web_platform(settings, engine) as platform:
        for argv in (["reseller", "create", "acme", "--password", "acme-password", "--tariff", "wholesale",
                      "--credit-limit", "50.00"],
                     ["reseller", "create", "rival", "--password", "rival-password", "--credit-limit", "5"],
                     ["reseller", "attach", "acme", "alice"], ["reseller", "attach", "rival", "bob"]):
            assert platform.cli(*argv) == 0
        yield platform


def ids(engine) -> dict[str, int]:
    with engine.connect() as c:
        return dict(c.execute(sa.select(accounts.c.login, accounts.c.id)).all())


def signed_in(p, login: str) -> Browser:
    browser = Browser(p)
    browser.get("/reseller/login")
    page = browser.submit("/reseller/login", {"login": login, "password": f"{login}-password"})
    assert page.status_code == 200 and "Sign out" in page.text, page.text
    return browser


def test_a_reseller_sees_and_changes_only_its_own_accounts(p, engine):
    account = ids(engine)
    with engine.begin() as c:  # one billed call of alice's, sold at 0.12 and bought at 0.05
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        request_id = c.execute(callback_requests.insert().values(
            trigger_kind="api", trigger_id="t1", account_id=account["alice"], state="completed", due_at=now,
            expires_at=now, created_at=now, updated_at=now)).inserted_primary_key[0]
        c.execute(call_legs.insert().values(
            request_id=request_id, leg="b", provider_sid="CA1", direction="outbound-dial", to_number="+12125550123",
            status="completed", started_at=now, ended_at=now, billed_seconds=60, cost=12, reseller_cost=5,
            reseller_margin=7))
    acme = signed_in(p, "acme")
    home = acme.get("/reseller")
    assert "alice" in home.text and "bob" not in home.text and "50.00 USD" in home.text
    detail = acme.get(f"/reseller/accounts/{account['alice']}")
    assert detail.status_code == 200 and "0.07" in detail.text and "0.05" in detail.text
    done = acme.submit(f"/reseller/accounts/{account['alice']}/topup", {"amount": "2.50"})
    assert "12.50 USD" in done.text
    # Another reseller's account, the operator's own, and no account at all: the same 404.
    with engine.begin() as c:
        c.execute(accounts.update().where(accounts.c.login == "bob").values(reseller_id=None))
    for other in (account["bob"], 999_999, 0):
        assert acme.get(f"/reseller/accounts/{other}").status_code == 404
        assert acme.submit(f"/reseller/accounts/{other}/topup", {"amount": "100"}).status_code == 404
        assert acme.submit(f"/reseller/accounts/{other}/status", {"status": "blocked"}).status_code == 404
    with engine.connect() as c:
        bob = c.execute(sa.select(accounts).where(accounts.c.login == "bob")).mappings().one()
    assert (bob["balance"], bob["status"]) == (500, "active")
    # Its session opens neither the admin pages nor the other reseller's view.
    assert acme.get("/admin/accounts", follow=False).status_code in (302, 303)
    rival = signed_in(p, "rival")
    admin = operator(p)  # the operator sees every reseller's credit
    listing = admin.get("/admin/resellers")
    assert listing.status_code == 200 and "acme" in listing.text and "rival" in listing.text
    assert "50.00 USD" in listing.text and "5.00 USD" in listing.text
    assert rival.get(f"/reseller/accounts/{account['alice']}").status_code == 404
    assert "alice" not in rival.get("/reseller").text


def test_the_reseller_sign_in_refuses_wrong_passwords_and_forged_posts(p, engine):
    browser = Browser(p)
    browser.get("/reseller/login")
    assert browser.submit("/reseller/login", {"login": "acme", "password": "wrong-password"}).status_code == 401
    assert browser.submit("/reseller/login", {"login": "alice", "password": "alice-password"}).status_code == 401
    acme = signed_in(p, "acme")
    alice = ids(engine)["alice"]
    forged = acme.submit(f"/reseller/accounts/{alice}/topup", {"amount": "5"}, csrf="not-the-token")
    assert forged.status_code == 403
    assert acme.submit(f"/reseller/accounts/{alice}/topup", {"amount": "-5"}).status_code == 422
    assert acme.submit(f"/reseller/accounts/{alice}/status", {"status": "deleted"}).status_code == 422
    with engine.connect() as c:
        assert c.execute(sa.select(accounts.c.balance).where(accounts.c.id == alice)).scalar() == 1000


def test_a_reseller_sets_its_own_selling_rates_never_below_its_buying_price(settings, engine):
    with web_platform(settings, engine) as p:
        assert p.cli("rate", "add", "44", "0.02", "--tariff", "wholesale") == 0
        assert p.cli("reseller", "create", "acme", "--password", "acme-password", "--tariff", "wholesale",
                     "--sell-tariff", "acme-retail", "--credit-limit", "10") == 0
        # A selling tariff is the reseller's own: not one in use, nor another reseller's.
        assert p.cli("reseller", "create", "copy", "--password", "copy-password", "--sell-tariff", "default") == 1
        assert p.cli("reseller", "create", "copy", "--password", "copy-password", "--sell-tariff",
                     "acme-retail") == 1
        assert p.cli("reseller", "attach", "acme", "alice") == 0
        with engine.connect() as c:
            alice = c.execute(sa.select(accounts).where(accounts.c.login == "alice")).mappings().one()
        assert (alice["tariff"], alice["callback_tariff"]) == ("acme-retail", "acme-retail")
        acme = signed_in(p, "acme")
        acme.get("/reseller/rates")
        for fields, message in [({"prefix": "44", "price": "0.015"}, "sell at that or more"),
                                ({"prefix": "33", "price": "0.50"}, "cannot buy calls to 33"),
                                ({"prefix": "4x", "price": "0.05"}, "digits"),
                                ({"prefix": "44", "price": "1E+999999"}, "not an amount")]:
            refused = acme.submit("/reseller/rates", fields)
            assert refused.status_code == 422 and message in refused.text, refused.text
        saved = acme.submit("/reseller/rates", {"prefix": "4420", "price": "0.05", "increment": "30/6"})
        assert "The rate was saved." in saved.text and "0.02" in saved.text
        with engine.connect() as c:
            tariffs = c.execute(sa.text("SELECT tariff, prefix, price_per_minute, first_increment FROM rates "
                                        "ORDER BY tariff, prefix")).all()
        assert ("acme-retail", "4420", 50_000, 30) in tariffs
        assert {row[0] for row in tariffs} == {"acme-retail", "default", "wholesale"}  # nothing else touched
