"""Pricing: billing increments, leg costs and how long a call may last."""

from __future__ import annotations

from app.core import money
# The rate itself and its increments are core value types (the rate table reads them too).
from app.core.tariff import Rate, parse_increment

__all__ = ["Rate", "parse_increment", "billed_seconds", "leg_cost", "hold_for_leg_a", "leg_a_time_limit", "plan_call"]

# Leg A keeps running around leg B: prompts before, the next-call offer after.
# A reservation covers this much of it besides the call itself.
IVR_ALLOWANCE_SECONDS = 180
MAX_CALL_SECONDS = 4 * 3600
MIN_CALL_SECONDS = 60
# The longest leg A there can be: the longest call and the IVR around it. Every leg A is
# created with a TimeLimit of at most this, so the carrier ends any session by then even
# if the app has lost track of it (app/calls/lost_callbacks.py relies on that).
LEG_A_MAX_SECONDS = MAX_CALL_SECONDS + IVR_ALLOWANCE_SECONDS


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
    if seconds == 0:
        return 0, 0
    micros = -(-seconds * rate.price_per_minute // 60) + rate.connection_fee
    return seconds, money.micros_to_minor_ceil(micros, currency)


def hold_for_leg_a(elapsed: int, rate_a: Rate, currency: str) -> int:
    """What to hold while leg A is in the IVR, before any second party is dialled."""
    return leg_cost(elapsed + IVR_ALLOWANCE_SECONDS, rate_a, currency)[1]


def leg_a_time_limit(budget: int, rate_a: Rate, currency: str) -> int:
    """The TimeLimit of leg A: the longest it may last on `budget` at the callback tariff, at most LEG_A_MAX_SECONDS.

    Every second party's time comes out of the same budget, so no session the
    IVR plans reaches it; it is what the carrier enforces should the app lose
    control of the call (down, restarting, its callbacks lost). One second short
    of what the budget pays for: a carrier rounds the duration of a call it cut
    at its limit to whole seconds, possibly up, into the next increment.
    """
    low, high = 0, LEG_A_MAX_SECONDS
    while low < high:
        middle = (low + high + 1) // 2
        if leg_cost(middle + 1, rate_a, currency)[1] <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def plan_call(budget: int, currency: str, rate_a: Rate, rate_b: Rate, *, a_elapsed: int,
              max_seconds: int | None = None, max_cost: int | None = None) -> tuple[int, int]:
    """The longest time limit for leg B whose worst case fits `budget`: (seconds, amount to hold).

    The worst case is both legs billed to the end of the limit, leg A for the
    IVR around it too, increments and connection fees included; `max_cost`
    caps what leg B alone may cost. Costs grow with the limit, so a binary
    search finds the exact answer. (0, 0) when not even a second fits.
    """
    def hold(seconds: int) -> int:
        return (leg_cost(a_elapsed + seconds + IVR_ALLOWANCE_SECONDS, rate_a, currency)[1]
                + leg_cost(seconds, rate_b, currency)[1])

    def fits(seconds: int) -> bool:
        if hold(seconds) > budget:
            return False
        return max_cost is None or leg_cost(seconds, rate_b, currency)[1] <= max_cost

    low, high = 0, min(max_seconds or MAX_CALL_SECONDS, MAX_CALL_SECONDS)
    if not fits(1):
        return 0, 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low, hold(low)
