"""What a rate is: its price, billing increments and connection fee, and which numbers it may price.

Value types and rules only; the rate table is app/data/rates.py, the costs
computed from a rate app/billing/pricing.py (which re-exports these).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core import money
from app.core.phone import nanp_region


@dataclass(frozen=True)
class Rate:
    prefix: str
    price_per_minute: int  # micro-units
    first_increment: int = 60
    next_increment: int = 60
    connection_fee: int = 0  # micro-units, charged once per answered leg


def parse_increment(text: str) -> tuple[int, int]:
    """'60/60', '30/6', '1/1' -> (first, next) seconds."""
    try:
        first, _, nxt = text.partition("/")
        first_s, next_s = int(first), int(nxt or first)
    except ValueError:
        raise money.MoneyError(f"increment {text!r} is not like 60/60") from None
    if not (1 <= first_s <= 3600 and 1 <= next_s <= 3600):
        raise money.MoneyError("increments are 1 to 3600 seconds")
    return first_s, next_s


# Countries sharing the North American Numbering Plan are told apart only by
# the area code: a '1' rate priced for the US would price a Caribbean number
# (where one-ring and revenue-share schemes terminate) as a US call. Only these
# may be rated by '1' alone; the others need a rate naming their area code.
NANP_PRICED_AS_ONE = frozenset({"US", "CA"})
NANP_OWN_RATE_DIGITS = 4  # '1' and the three-digit area code, e.g. 1876


def needs_own_rate(number: str) -> bool:
    """Whether `number` is in a NANP country other than the US and Canada."""
    region = nanp_region(number)
    return region is not None and region not in NANP_PRICED_AS_ONE

