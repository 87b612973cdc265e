"""What happens before leg B is dialled: policy, limits, price, time limit, reservation.

Returns a plan for the IVR to speak and dial (the request moved to calling_b with it), or the reason it
may not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.calls import machine
from app.data import accounts, callbacks, rates, service_numbers
from app.billing import pricing as billing, reservations
from app.fraud import limits, policy
from app.core import states
from app.data.db import utcnow
from app.platform import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    number: str
    time_limit: int
    spendable: int  # minor units the account could still spend before this call


@dataclass(frozen=True)
class Refusal:
    reason: str  # from app/core/states.py
    prompt: str  # what leg A hears
    detail: str


async def leg_a_elapsed(p: Platform, request) -> int:
    if "leg_a_since" in request:
        started = request["leg_a_since"]  # read with the request (callbacks.get_request_with_leg_a)
    else:
        leg = await callbacks.get_leg(p.db, sid=request["leg_a_sid"]) if request["leg_a_sid"] else None
        started = (leg["answered_at"] or leg["started_at"]) if leg is not None else None
    return max(0, int((utcnow() - started).total_seconds())) if started else 0


async def _call_limits(p: Platform, account) -> tuple[int | None, int | None]:
    operator = await policy.operator_limits(p.db)
    seconds = [v for v in (account["max_call_seconds"], operator.get("max_call_seconds")) if v]
    costs = [v for v in (account["max_call_cost"], operator.get("max_call_cost")) if v]
    return (min(seconds) if seconds else None), (min(costs) if costs else None)


async def plan_leg_b(p: Platform, request, account, number: str, *, tries: int = reservations.ATTEMPTS
                     ) -> Plan | Refusal:
    why = await policy.check(p.db, account_id=account["id"], number=number)
    if why:
        log.info("request %s: %s refused: %s", request["id"], number, why, extra={"callback_id": request["id"]})
        return Refusal(states.DESTINATION_BLOCKED, "destination_blocked", why)
    rate_b = await rates.find_rate(p.db, number=number, tariff=account["tariff"])
    rate_a = await rates.find_rate(p.db, number=request["leg_a_number"], tariff=account["callback_tariff"])
    if rate_b is None or rate_a is None:
        return Refusal(states.DESTINATION_BLOCKED, "destination_blocked", f"no rate for {number}")
    max_seconds, max_cost = await _call_limits(p, account)
    held = request["reserved"]
    # The account's row read with the request tells it; a stale figure only makes the hold below miss.
    spendable = account["spendable"] if "spendable" in account \
        else await reservations.spendable(p.db, account_id=account["id"])
    a_elapsed = await leg_a_elapsed(p, request)
    # Leg A cannot outlast its own TimeLimit: never promise a call that would.
    within_leg_a = max(1, billing.LEG_A_MAX_SECONDS - billing.IVR_ALLOWANCE_SECONDS - a_elapsed)
    max_seconds = min(max_seconds or within_leg_a, within_leg_a)
    seconds, hold = billing.plan_call(spendable + held, account["currency"], rate_a, rate_b, a_elapsed=a_elapsed,
                                      max_seconds=max_seconds, max_cost=max_cost)
    if seconds < billing.MIN_CALL_SECONDS:
        return Refusal(states.INSUFFICIENT_FUNDS, "insufficient_funds", "balance too low for a minute")
    # The day's count of dials to this number, the hold, the dial's own row and the move to calling_b in
    # one transaction: sessions dialling one number in parallel must see each other, and a refusal or a
    # lost move leaves nothing of the others behind.
    try:
        async with limits.capped(p.db, limits.destination_subject(number)):
            dials = await limits.destination_dials(p.db, p.settings, number=number)
            if dials.over_limit:
                raise _Undone(Refusal(states.RATE_LIMITED, "destination_limit", f"daily limit of calls to {number}"))
            if not await reservations.reserve_within(p.db, request_id=request["id"], account_id=account["id"],
                                                     seen=held, amount=hold):
                raise _Undone(None)
            await limits.record_dial(p.db, number=number, request_id=request["id"], stale=dials.stale)
            if not await machine.move(p.db, request, machine.LEG_B_DIALLED, states.CALLING_B, leg_b_number=number,
                                      detail=number):
                raise _Undone(MOVED)
    except _Undone as undone:
        if undone.refusal is not None:
            return undone.refusal
        # The hold missed: the balance fell short, or the request's own hold moved since it was read (a
        # leg's settlement, say), when the plan is made again from the request as it is now.
        fresh = await callbacks.get_request(p.db, request_id=request["id"])
        if fresh is None or fresh["reserved"] == held or tries <= 1:
            return Refusal(states.INSUFFICIENT_FUNDS, "insufficient_funds", "balance taken by other calls")
        return await plan_leg_b(p, fresh, {k: v for k, v in account.items() if k != "spendable"}, number,
                                tries=tries - 1)
    return Plan(number=number, time_limit=seconds, spendable=spendable + held)


class _Undone(Exception):
    """Rolls back the dial's transaction; `refusal` is what the IVR is told."""

    def __init__(self, refusal: Refusal | None):
        self.refusal = refusal


# The request moved (leg A hung up meanwhile, say) before leg B could be dialled: nothing to dial.
MOVED = Refusal("", "session_over", "the request moved meanwhile")


CALLER_ID_MODES = ("service", "subscriber", "withheld")


async def presented_caller_id(p: Platform, request, account) -> str | None:
    """What leg B sees calling: per number if set, else per account.

    `subscriber` shows the subscriber's own number only when it is theirs for
    sure (a verified ANI, or the default number if the operator set it;
    never one the subscriber typed in the portal); `withheld`
    only where the provider takes one (WITHHELD_CALLER_ID). Otherwise, and by
    default, the service number, which the provider always accepts.
    """
    number = await service_numbers.cached_number(p.db, request["service_number"]) \
        if request["service_number"] else None
    mode = (number["caller_id_mode"] if number is not None else None) or account["caller_id_mode"]
    if mode == "subscriber":
        if request["leg_a_number"] in await accounts.own_numbers(p.db, account=account):
            return request["leg_a_number"]
    if mode == "withheld" and p.settings.withheld_caller_id:
        return p.settings.withheld_caller_id
    return request["leg_a_from"]


async def ivr_hold(p: Platform, request, account) -> int | None:
    """What leg A's IVR time holds once the account is known (None: leg A has no rate, so no hold)."""
    rate_a = await rates.find_rate(p.db, number=request["leg_a_number"], tariff=account["callback_tariff"])
    if rate_a is None:
        return None
    return billing.hold_for_leg_a(await leg_a_elapsed(p, request), rate_a, account["currency"])


async def hold_for_ivr(p: Platform, request, account) -> bool:
    """Hold leg A's IVR time once the account is known: the callback leg is never free."""
    amount = await ivr_hold(p, request, account)
    if amount is None:
        return False
    return await reservations.reserve(p.db, request_id=request["id"], account_id=account["id"], amount=amount,
                                      held=request["reserved"])


async def leg_a_time_limit(p: Platform, request, account) -> int:
    """The TimeLimit leg A is created with, once its IVR time is held (billing.leg_a_time_limit).

    Without an account yet (PIN mode), the longest leg A allowed; the IVR holds its
    time once the PIN names the account.
    """
    if account is None:
        return billing.LEG_A_MAX_SECONDS
    rate_a = await rates.find_rate(p.db, number=request["leg_a_number"], tariff=account["callback_tariff"])
    if rate_a is None:
        return billing.IVR_ALLOWANCE_SECONDS
    budget = await reservations.budget(p.db, request_id=request["id"], account_id=account["id"])
    return max(1, billing.leg_a_time_limit(budget or 0, rate_a, account["currency"]))
