"""What the carrier charges for a call, shown on the Call resource the way Twilio shows it.

Twilio rates a call per started minute of its connected time and writes the
charge onto the call record as a negative amount ("-0.02800") in the account's
currency, some time after the call has ended: until then `price` is null. A
call that never connected is not charged, and its price stays null. Amounts
are Decimal, never float: money printed from a float picks up binary noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

CENT_FIFTHS = Decimal("0.00001")  # Twilio's prices carry five decimals


class Rated(Protocol):
    """What pricing reads of a call (a Call has all of it); a Protocol so that
    calls.py can hold a CallPricing without the two modules importing each other."""

    @property
    def ended(self) -> bool: ...

    @property
    def answered(self) -> bool: ...

    @property
    def billed_minutes(self) -> int: ...

    @property
    def end_time(self) -> datetime | None: ...


@dataclass
class CallPricing:
    per_minute: Decimal = Decimal("0.014")
    unit: str = "USD"
    delay: float = 0.0  # virtual seconds from a call's end until its price shows

    def __post_init__(self) -> None:
        self.per_minute = Decimal(str(self.per_minute))
        if not self.per_minute.is_finite() or self.per_minute < 0:
            raise ValueError(f"per_minute must be a non-negative amount, not {self.per_minute}")
        if not (len(self.unit) == 3 and self.unit.isalpha() and self.unit.isupper()):
            raise ValueError(f"unit must be an ISO 4217 code like 'USD', not {self.unit!r}")
        if self.delay < 0:
            raise ValueError("delay cannot be negative")

    def charge(self, call: Rated) -> Decimal | None:
        """What the call costs once it has ended; None while live or when it never connected."""
        if not call.ended or not call.answered:
            return None
        return (self.per_minute * call.billed_minutes).quantize(CENT_FIFTHS)

    def price(self, call: Rated, now: datetime | None = None) -> str | None:
        """The `price` field: the charge as a negative string, once rated (`now` past the end plus the delay)."""
        charge = self.charge(call)
        if charge is None or (now is not None and (now - call.end_time).total_seconds() < self.delay):
            return None
        return f"{-charge}" if charge else f"{charge}"
