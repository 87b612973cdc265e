"""Destination policy: countries, prefixes, premium and shared-cost numbers, at two levels."""

import pytest

from app.fraud.policy import PolicyError, Rules, clean_value, refusal

NONE = Rules()
UK, FR, US = "+442071234567", "+33123456789", "+12125550123"
PREMIUM = "+449098790000"


def rules(**kinds):
    return Rules(**{kind: frozenset(values) for kind, values in kinds.items()})


def test_no_rules_allow_ordinary_numbers_and_refuse_premium():
    assert refusal(UK, NONE, NONE) is None
    assert refusal(PREMIUM, NONE, NONE) == "premium-rate number"
    assert refusal("+19005551234", NONE, NONE) == "premium-rate number"


def test_premium_allowed_at_either_level():
    assert refusal(PREMIUM, rules(allow_type={"premium_rate"}), NONE) is None
    assert refusal(PREMIUM, NONE, rules(allow_type={"premium_rate"})) is None


def test_countries_must_pass_both_levels():
    operator = rules(allow_country={"GB", "US"})
    assert refusal(UK, operator, NONE) is None
    assert refusal(FR, operator, NONE) == "country FR not allowed"
    assert refusal(US, operator, rules(allow_country={"GB"})) == "country US not allowed"


def test_prefixes():
    assert refusal(UK, rules(deny_prefix={"4420"}), NONE) == "prefix denied"
    assert refusal(UK, NONE, rules(deny_prefix={"44"})) == "prefix denied"
    assert refusal(UK, rules(allow_prefix={"1"}), NONE) == "prefix not allowed"
    assert refusal(US, rules(allow_prefix={"1212"}), NONE) is None


@pytest.mark.parametrize("kind, value, expected", [("allow_country", "gb", "GB"), ("deny_prefix", "+4470", "4470"),
                                                   ("allow_type", "shared_cost", "shared_cost")])
def test_values_are_cleaned(kind, value, expected):
    assert clean_value(kind, value) == expected


@pytest.mark.parametrize("kind, value", [("allow_country", "GBR"), ("deny_prefix", "44x"), ("allow_type", "toll_free"),
                                         ("block_all", "1")])
def test_bad_values_are_refused(kind, value):
    with pytest.raises(PolicyError):
        clean_value(kind, value)
