"""The rate value type and its rules (app/core/tariff.py), and the NANP region fact they read."""

from __future__ import annotations

import pytest

from app.billing import pricing
from app.core import tariff
from app.core.phone import nanp_region
from app.fraud import destination_risk


@pytest.mark.parametrize("number, region", [("+14155550100", "US"), ("16135550100", "CA"), ("+18765550100", "JM"),
                                            ("+442071234567", None), ("", None), ("+1", None)])
def test_nanp_region(number, region):
    assert nanp_region(number) == region


@pytest.mark.parametrize("number, needs", [("+14155550100", False), ("+16135550100", False),
                                           ("+18765550100", True), ("+442071234567", False)])
def test_only_us_and_canada_may_be_priced_by_1_alone(number, needs):
    assert tariff.needs_own_rate(number) is needs


def test_the_other_layers_name_the_same_rule_and_type():
    assert pricing.Rate is tariff.Rate and pricing.parse_increment is tariff.parse_increment
    assert destination_risk.needs_own_rate is tariff.needs_own_rate
    assert destination_risk.NANP_OWN_RATE_DIGITS == 4
