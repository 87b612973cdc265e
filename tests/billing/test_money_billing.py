import pytest

from app.billing import pricing as billing
from app.core import money
from app.billing.pricing import Rate


@pytest.mark.parametrize("text, currency, minor", [("10", "USD", 1000), ("10.5", "USD", 1050), ("0.01", "EUR", 1),
                                                    ("500", "JPY", 500), ("1.234", "KWD", 1234)])
def test_amounts_parse_to_minor_units(text, currency, minor):
    assert money.parse_amount(text, currency) == minor
    assert isinstance(money.parse_amount(text, currency), int)


@pytest.mark.parametrize("text", ["1.001", "abc", "NaN", "Infinity", "1e30", ""])
def test_bad_amounts_are_refused(text):
    with pytest.raises(money.MoneyError):
        money.parse_amount(text, "USD")


def test_prices_are_micro_units():
    assert money.parse_price("0.012") == 12_000
    assert money.format_price(12_000) == "0.012"
    with pytest.raises(money.MoneyError):
        money.parse_price("-1")
    with pytest.raises(money.MoneyError):
        money.parse_price("0.0000001")


def test_format_amount():
    assert money.format_amount(1050, "USD") == "10.50"
    assert money.format_amount(500, "JPY") == "500"


@pytest.mark.parametrize(
    "increment, duration, billed",
    [((60, 60), 0, 0), ((60, 60), 1, 60), ((60, 60), 60, 60), ((60, 60), 61, 120),
     ((30, 6), 29, 30), ((30, 6), 31, 36), ((30, 6), 125, 126), ((1, 1), 47, 47)],
)
def test_billing_increments(increment, duration, billed):
    rate = Rate("1", 10_000, *increment)
    assert billing.billed_seconds(duration, rate) == billed


def test_leg_cost_rounds_up_to_the_minor_unit():
    rate = Rate("44", 50_000, 30, 6)  # 0.05 per minute
    assert billing.leg_cost(125, rate, "USD") == (126, 11)  # 0.105 -> 0.11
    assert billing.leg_cost(0, rate, "USD") == (0, 0)


@pytest.mark.parametrize("text", ["60", "x/y", "0/1", "1/5000"])
def test_increment_parsing(text):
    if text == "60":
        assert billing.parse_increment(text) == (60, 60)
    else:
        with pytest.raises(money.MoneyError):
            billing.parse_increment(text)
