from __future__ import annotations

import pytest

from app.core import money
from app.core.numbers import ascii_int


@pytest.mark.parametrize("text, value", [("0", 0), ("42", 42), ("007", 7), ("²", None), ("①", None), ("٣", None),
                                         ("１", None), ("1²", None), ("", None), (None, None), ("-1", None),
                                         (" 1", None), ("1" * 19, None)])
def test_only_ascii_digits_are_a_number(text, value):
    assert ascii_int(text) == value


@pytest.mark.parametrize("text", ["1E+999999999", "-1E+999999999", "1E-999999999", "0E-999999999",
                                  "9E+9999999999999", "1" * 100, "sNaN", "-Infinity"])
def test_absurd_amounts_are_a_money_error(text):
    for parse in (lambda t: money.parse_amount(t, "USD"), lambda t: money.parse_amount(t, "JPY"), money.parse_price):
        with pytest.raises(money.MoneyError):
            parse(text)
