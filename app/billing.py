"""Pricing: billing increments, leg costs and how long a call may last."""

from __future__ import annotations

from dataclasses import dataclass

from app import money


@dataclass(frozen=True)
class Rate:
    prefix: str
    price_per_minute: int  # micro-units
    first_increment: int = 60
    next_increment: int = 60


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


def billed_seconds(duration: int, rate: Rate) -> int:
    if duration <= 0:
        return 0
    if duration <= rate.first_increment:
        return rate.first_increment
    rest = duration - rate.first_increment
    return rate.first_increment + -(-rest // rate.next_increment) * rate.next_increment


def leg_cost(duration: int, rate: Rate, currency: str) -> tuple[int, int]:
    """(billed seconds, cost in minor units) of a leg that lasted `duration` seconds."""
    seconds = billed_seconds(duration, rate)
    micros = -(-seconds * rate.price_per_minute // 60)
    return seconds, money.micros_to_minor_ceil(micros, currency)


def affordable_seconds(balance: int, currency: str, rates: list[Rate], already_spent_micros: int = 0) -> int:
    """Longest time all `rates` can run together on `balance`, billing increments included.

    The answer is conservative: billed as one increment beyond what was used.
    """
    per_minute = sum(rate.price_per_minute for rate in rates)
    available = money.minor_to_micros(balance, currency) - already_spent_micros
    if available <= 0:
        return 0
    if per_minute == 0:
        return 4 * 3600
    seconds = available * 60 // per_minute
    slack = max(rate.next_increment for rate in rates)
    return max(0, min(seconds - slack, 4 * 3600))
