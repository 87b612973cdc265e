"""Money as integers: balances in minor units, rates in micro-units per minute.

Decimal is used only to read what people type ("10.00", "0.012"); nothing is
ever held in a float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICROS = 1_000_000
# ISO 4217 minor-unit exponents that differ from 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
MAX_AMOUNT = Decimal("1000000000")


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not an amount") from None
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise MoneyError(f"{text!r} is not an amount")
    return value


def parse_amount(text: str, currency: str) -> int:
    """'10.50' USD -> 1050 minor units. Refuses more decimals than the currency has."""
    value = _decimal(text)
    minor = value.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        raise MoneyError(f"{text!r} has more decimals than {currency} allows")
    return int(minor)


def parse_price(text: str) -> int:
    """'0.012' per minute -> 12000 micro-units per minute."""
    value = _decimal(text)
    if value < 0:
        raise MoneyError("a price cannot be negative")
    micros = value.scaleb(6)
    if micros != micros.to_integral_value():
        raise MoneyError(f"{text!r} has more than 6 decimals")
    return int(micros)


def format_amount(minor: int, currency: str) -> str:
    exp = exponent(currency)
    return f"{Decimal(minor).scaleb(-exp):.{exp}f}"


def format_price(micros: int) -> str:
    return f"{Decimal(micros).scaleb(-6).normalize():f}"


def micros_to_minor_ceil(micros: int, currency: str) -> int:
    """Round a cost up to the next minor unit: the operator never under-bills."""
    per_minor = 10 ** (6 - exponent(currency))
    return -(-micros // per_minor)


def minor_to_micros(minor: int, currency: str) -> int:
    return minor * 10 ** (6 - exponent(currency))
