"""High-risk destinations, over the REST API and SMS: refused by default, let through by the
operator's allow rules, and Caribbean NANP numbers never priced at the US '1' rate."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.data import accounts
from app.data.tables import accounts as accounts_t
from tests.utils import scenario as sc
from tests.utils import twilio as tw
from tests.utils.harness import PlatformUnderTest
from tests.utils.live import seed

NY = "+12125550123"
JAMAICA = "+18762345678"
# Each has a rate (set below), so only the policy stands between it and a call.
HIGH_RISK = {
    "uk-personal-number": "+447012345678",
    "uk-pager": "+447640123456",
    "uk-premium-rate": "+449012345678",
    "satellite-881": "+881612345678",
    "international-network-882": "+8823421234",
    "international-network-883": "+883510012345",
    "inmarsat-870": "+870301234567",
    "international-premium-979": "+979123456789",
    "international-shared-cost-808": "+80812345678",
    "abkhazia-7840": "+78402123456",
    "caribbean-at-the-us-rate": JAMAICA,
}


@pytest.fixture
def p(settings, engine):
    with PlatformUnderTest(settings, engine) as platform:
        platform.run(seed, platform.platform.db, settings.secret_key)
        for prefix in ("7", "8", "97"):
            assert platform.cli("rate", "add", prefix, "0.10") == 0
        yield platform


@pytest.fixture
def alice(p):
    account_id = p.scalar(sa.select(accounts_t.c.id).where(accounts_t.c.login == "alice"))
    token = p.run(accounts.create_token, p.platform.db, account_id=account_id, name="")
    return {"Authorization": f"Bearer {token}"}


def call(p: PlatformUnderTest, headers, to: str):
    return p.client.post("/api/v1/callbacks", json={"to": to}, headers=headers)


def assert_blocked(response, number: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "destination_blocked"
    assert number in response.json()["error"]["message"]


@pytest.mark.parametrize("number", HIGH_RISK.values(), ids=HIGH_RISK.keys())
def test_high_risk_destinations_are_refused(p, alice, number):
    assert_blocked(call(p, alice, number), number)
    assert p.requests() == []
    # The same account calls an ordinary number at once: the refusal is the number's.
    assert call(p, alice, NY).status_code == 201


def test_high_risk_callback_legs_are_refused_over_sms_too(p):
    response = p.post("/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER,
                                                   Body=f"CALL {HIGH_RISK['satellite-881']}"))
    assert response.status_code == 200
    assert "+881612345678" in tw.parse_messages(response.text)[0]
    assert p.requests() == []


def test_an_operator_allow_range_lets_one_range_through(p, alice):
    assert p.cli("policy", "allow-range", "881") == 0
    assert call(p, alice, HIGH_RISK["satellite-881"]).status_code == 201
    # Only that range: the rest of the list still holds, and nothing else is restricted.
    assert_blocked(call(p, alice, HIGH_RISK["international-network-882"]), HIGH_RISK["international-network-882"])
    assert call(p, alice, NY).status_code == 201


def test_an_allow_type_lets_a_number_type_through(p, alice):
    assert_blocked(call(p, alice, HIGH_RISK["uk-personal-number"]), HIGH_RISK["uk-personal-number"])
    assert p.cli("policy", "allow-type", "personal_number", "--account", "alice") == 0
    assert call(p, alice, HIGH_RISK["uk-personal-number"]).status_code == 201
    assert_blocked(call(p, alice, HIGH_RISK["uk-pager"]), HIGH_RISK["uk-pager"])


def test_an_allow_prefix_naming_the_range_lets_it_through(p, alice):
    # (alice's own number, which is called first, must pass the restriction too)
    assert p.cli("policy", "allow-prefix", "1", "--account", "alice") == 0
    assert p.cli("policy", "allow-prefix", "8823", "--account", "alice") == 0
    assert call(p, alice, HIGH_RISK["international-network-882"]).status_code == 201


def test_a_short_allow_prefix_does_not_open_a_range(p, alice):
    # allow-prefix 8 restricts to +8...; it does not say +881 is wanted.
    assert p.cli("policy", "allow-prefix", "8") == 0
    assert p.cli("policy", "allow-prefix", "1") == 0
    assert call(p, alice, HIGH_RISK["uk-premium-rate"]).status_code == 403  # the restriction holds
    assert_blocked(call(p, alice, HIGH_RISK["satellite-881"]), HIGH_RISK["satellite-881"])


def test_the_operator_can_extend_the_list(p, alice):
    assert call(p, alice, NY).status_code == 201
    assert p.cli("policy", "deny-prefix", "1212") == 0
    assert_blocked(call(p, alice, "+12125550124"), "+12125550124")


def test_allow_rules_are_checked(p, capsys):
    assert p.cli("policy", "allow-range", "1") == 1  # would switch the list off for all of NANP
    assert p.cli("policy", "allow-type", "mobile") == 1
    assert p.cli("policy", "allow-type", "pager") == 0
    capsys.readouterr()
    assert p.cli("policy", "show") == 0
    assert "allow_type pager" in capsys.readouterr().out


def test_a_caribbean_number_needs_its_own_rate(p, alice, capsys):
    assert_blocked(call(p, alice, JAMAICA), JAMAICA)
    # The SMS RATE command does not quote the US price for it either.
    response = p.post("/twilio/sms", tw.sms_params(From=sc.ALICE_MOBILE, To=sc.PIN_NUMBER, Body=f"RATE {JAMAICA}"))
    assert "0.01" not in tw.parse_messages(response.text)[0]
    assert p.cli("rate", "add", "1876", "0.20") == 0
    assert call(p, alice, JAMAICA).status_code == 201
    # US and Canadian numbers keep the '1' rate.
    assert call(p, alice, NY).status_code == 201
    assert call(p, alice, "+14165550123").status_code == 201
