import pytest
from hypothesis import given, strategies as st

from app.core.phone import InvalidNumber, to_e164, usable_caller_id


@pytest.mark.parametrize(
    "typed, region, expected",
    [
        ("+44 20 7123 4567", "US", "+442071234567"),
        ("00442071234567", "US", "+442071234567"),
        ("011442071234567", "US", "+442071234567"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("4155550123", "US", "+14155550123"),
        ("020 7123 4567", "GB", "+442071234567"),
        ("0033123456789", "GB", "+33123456789"),
        ("0612345678", "FR", "+33612345678"),
    ],
)
def test_numbers_typed_every_way_become_e164(typed, region, expected):
    assert to_e164(typed, region) == expected


@pytest.mark.parametrize("junk", ["", "12", "abc", "+", "00", "1" * 40, "+999 123", "'; DROP TABLE accounts;--",
                                  "٤١٥٥٥٥٠١٢٣", "+1 415 555 01234567"])
def test_junk_is_an_invalid_number(junk):
    with pytest.raises(InvalidNumber):
        to_e164(junk, "US")


@pytest.mark.parametrize("raw", ["anonymous", "Restricted", "+266696687", "", None, "4155550123", "+1555"])
def test_withheld_or_unusable_caller_ids(raw):
    assert usable_caller_id(raw) is None


def test_usable_caller_id():
    assert usable_caller_id("+14155550123") == "+14155550123"


@given(st.text(max_size=60), st.sampled_from(["US", "GB", "FR", "ZZ", "DE"]))
def test_normalization_never_raises_anything_but_invalid_number(text, region):
    try:
        result = to_e164(text, region)
    except InvalidNumber:
        return
    assert result.startswith("+") and result[1:].isdigit()


def test_a_leeds_number_is_not_mistaken_for_an_exit_code():
    assert to_e164("01132345678", "GB") == "+441132345678"
    assert to_e164("011442071234567", "US") == "+442071234567"
    assert to_e164("00442071234567", "US") == "+442071234567"
