"""`callback-platform reseller ...`: create, change, attach and detach, and what they refuse; and that a
reseller whose credit is used up stops its accounts' calls at the admission (API: 402)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import accounts as account_queries
from app.data.tables import accounts, resellers
from tests.utils.harness import PlatformUnderTest
from tests.utils.live import seed


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        yield platform


def reseller_of(engine, login: str):
    with engine.connect() as c:
        return c.execute(sa.select(resellers.c.login).select_from(
            accounts.outerjoin(resellers, resellers.c.id == accounts.c.reseller_id))
            .where(accounts.c.login == login)).scalar()


def test_resellers_are_made_and_given_accounts_by_the_cli(p, engine, capsys):
    assert p.cli("reseller", "create", "acme", "--password", "acme-password", "--tariff", "wholesale",
                 "--credit-limit", "100.00") == 0
    assert p.cli("reseller", "create", "acme", "--password", "acme-password") == 1  # taken
    assert p.cli("reseller", "create", "x y", "--password", "acme-password") == 1
    assert p.cli("reseller", "create", "cheap", "--password", "short") == 1
    assert p.cli("reseller", "create", "euro", "--password", "euro-password", "--currency", "EUR") == 0
    assert p.cli("reseller", "set", "acme", "--credit-limit", "-1") == 1
    assert p.cli("reseller", "set", "acme", "--credit-limit", "250.50") == 0
    assert p.cli("reseller", "attach", "acme", "alice") == 0
    assert p.cli("reseller", "attach", "euro", "bob") == 1  # bob is in USD
    assert p.cli("reseller", "attach", "nobody", "bob") == 1
    with engine.connect() as c:
        acme = c.execute(sa.select(resellers).where(resellers.c.login == "acme")).mappings().one()
    assert (acme["credit_limit"], acme["tariff"], acme["password_hash"][:7]) == (25_050, "wholesale", "$argon2")
    assert (reseller_of(engine, "alice"), reseller_of(engine, "bob")) == ("acme", None)
    assert p.cli("reseller", "detach", "alice") == 0 and reseller_of(engine, "alice") is None


def test_a_resellers_used_up_credit_stops_its_accounts_calls(p, engine):
    assert p.cli("reseller", "create", "acme", "--password", "acme-password", "--credit-limit", "1.00") == 0
    assert p.cli("reseller", "attach", "acme", "alice") == 0
    alice_id = p.scalar(sa.select(accounts.c.id).where(accounts.c.login == "alice"))
    token = p.run(account_queries.create_token, p.platform.db, account_id=alice_id)
    headers = {"Authorization": f"Bearer {token}"}
    with engine.begin() as c:
        c.execute(resellers.update().values(used=100))  # its accounts' calls have cost it all of it
    refused = p.client.post("/api/v1/callbacks", json={"to": "+12125550123"}, headers=headers)
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "insufficient_funds"
    assert p.cli("reseller", "set", "acme", "--credit-limit", "5.00") == 0  # the operator raises the limit
    assert p.client.post("/api/v1/callbacks", json={"to": "+12125550123"}, headers=headers).status_code == 201
