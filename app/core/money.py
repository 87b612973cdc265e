"""Money as integers: balances in minor units, rates in micro-units per minute.

Decimal is used only to read what people type ("10.00", "0.012"); nothing is
ever held in a float.
"""

from __future__ import annotations

from decimal import (Clamped, Context, Decimal, DecimalException, DivisionByZero, Inexact, InvalidOperation, Overflow,
                     Rounded, Subnormal, Underflow)

MICROS = 1_000_000
# ISO 4217 minor-unit exponents that differ from 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
MAX_AMOUNT = Decimal("1000000000")
MAX_TEXT = 64  # longer than any amount anyone types
# Exponents beyond these are no amount or price at all (a price has at most 6 decimals, an amount at most 3):
# refused before any arithmetic, which would otherwise overflow (decimal.Overflow) or underflow to zero.
_MIN_EXPONENT, _MAX_ADJUSTED = -30, 12
# Every decimal condition an operation could raise is trapped here and becomes a MoneyError.
_CONTEXT = Context(prec=50, traps=[InvalidOperation, DivisionByZero, Overflow, Underflow, Subnormal, Inexact, Rounded,
                                   Clamped])


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def _decimal(text: str) -> Decimal:
    raw = str(text).strip()
    try:
        if len(raw) > MAX_TEXT:
            raise MoneyError
        value = _CONTEXT.create_decimal(raw)
        if (not value.is_finite() or value.as_tuple().exponent < _MIN_EXPONENT
                or (value and value.adjusted() > _MAX_ADJUSTED) or _CONTEXT.abs(value) > MAX_AMOUNT):
            raise MoneyError
    except (MoneyError, DecimalException):
        raise MoneyError(f"{text!r} is not an amount") from None
    return value


def _scaled(value: Decimal, places: int, text: str) -> Decimal | None:
    """`value` times 10**places if that is a whole number, else None."""
    try:
        scaled = _CONTEXT.scaleb(value, places)
        return scaled if scaled == _CONTEXT.to_integral_value(scaled) else None
    except DecimalException:
        raise MoneyError(f"{text!r} is not an amount") from None


def parse_amount(text: str, currency: str) -> int:
    """'10.50' USD -> 1050 minor units. Refuses more decimals than the currency has."""
    minor = _scaled(_decimal(text), exponent(currency), text)
    if minor is None:
        raise MoneyError(f"{text!r} has more decimals than {currency} allows")
    return int(minor)


def parse_price(text: str) -> int:
    """'0.012' per minute -> 12000 micro-units per minute."""
    value = _decimal(text)
    if value < 0:
        raise MoneyError("a price cannot be negative")
    micros = _scaled(value, 6, text)
    if micros is None:
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
