"""What the carrier charged for each leg, read from its call record after the leg has ended.

Twilio writes a call's price onto the call record some time after the call has
ended (most within a minute, a few much later) and sends it in no callback, so
it has to be asked for. A leg is first asked about FIRST_CHECK_SECONDS after
its CDR is written, then after each wait in RETRY_SECONDS while the price is
still missing; after the last try it stays NULL, which the summary reports as
unknown, never as zero.

Each try is claimed with a conditional update before the request goes out, so
instances sharing the database never ask about one leg twice, and a crash
mid-request costs one try rather than leaving the leg stuck.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, Decimal

from app.billing import call_records
from app.core import money
from app.data import leg_prices
from app.data.db import Database
from app.platform import Platform
from app.providers.interface import ProviderCall

FIRST_CHECK_SECONDS = 60
RETRY_SECONDS = (300, 1800, 3 * 3600, 12 * 3600)  # the wait after each try that found no price
MAX_CHECKS = 1 + len(RETRY_SECONDS)
BATCH = 20  # legs asked about per pass, concurrently
# A call that never connected is not charged (Twilio leaves its price empty for good).
NOT_CONNECTED = frozenset({"busy", "no-answer", "failed", "canceled"})


def first_check_at(ended_at: dt.datetime) -> dt.datetime:
    return ended_at + dt.timedelta(seconds=FIRST_CHECK_SECONDS)


def cost_micros(price: Decimal) -> int:
    """A provider's price as the operator's cost: positive micro-units, rounded up to a whole one.

    Twilio states a charge as a negative amount ("-0.01500"), some compatible
    providers as a positive one; a call is never income, so the size is the cost.
    """
    return int(abs(price).scaleb(6).to_integral_value(rounding=ROUND_CEILING))


def known_cost(call: ProviderCall) -> tuple[int, str] | None:
    """(micro-units, currency) the call cost the operator, or None while the provider has not rated it."""
    if call.price_unit is None:
        return None
    if call.price is not None:
        return cost_micros(call.price), call.price_unit
    if call.status in NOT_CONNECTED:
        return 0, call.price_unit
    return None


async def store(db: Database, *, sid: str, cost: tuple[int, str]) -> bool:
    """Record an ended leg's cost, once; True if this call stored it."""
    micros, unit = cost
    stored = await leg_prices.store(db, sid=sid, micros=micros, unit=unit)
    if stored:
        # The operator's margin on the leg: what it was paid (by the reseller, else the subscriber) less the
        # carrier's price, when the carrier priced it in the account's currency.
        paid = await leg_prices.revenue(db, sid=sid)
        if paid is not None and paid["cost"] is not None and paid["currency"] == unit.upper():
            own = paid["reseller_cost"] if paid["reseller_cost"] is not None else paid["cost"]
            await leg_prices.set_operator_margin(db, sid=sid, margin=own - money.micros_to_minor_ceil(micros, unit))
    return stored


async def _claim(db: Database, leg, now: dt.datetime) -> bool:
    """Take one try at `leg` and schedule the next (or none after the last), unless another instance took it."""
    tries = leg["price_checks"] + 1
    next_at = now + dt.timedelta(seconds=RETRY_SECONDS[tries - 1]) if tries < MAX_CHECKS else None
    return await leg_prices.claim_check(db, leg_id=leg["id"], seen_checks=leg["price_checks"], checks=tries,
                                        next_at=next_at)


async def collect(p: Platform, now: dt.datetime, *, limit: int = BATCH) -> int:
    """One pass: ask the provider about the legs whose price check is due; how many got their price."""
    due = await leg_prices.due_checks(p.db, now=now, limit=limit)
    claimed = [leg for leg in due if await _claim(p.db, leg, now)]
    priced = 0
    for leg, call in await call_records.fetch(p, claimed, why="its price"):
        if (cost := known_cost(call)) is not None and await store(p.db, sid=leg["provider_sid"], cost=cost):
            priced += 1
    return priced
