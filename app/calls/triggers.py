"""Voice triggers: who may ask for a callback on a service number, and who is called back.

Each mode of PRODUCT.md section 3 is one small function from (the number, the
caller) to a decision; `accept_voice_trigger` writes the outcome to the outbox.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from app.calls import machine
from app.data import accounts, rates
from app.fraud import limits, lockouts, policy
from app.core import states
from app.data.db import storable, utcnow
from app.core.phone import usable_caller_id
from app.platform import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    leg_a_number: str | None = None
    account: object | None = None  # the account row when known before the PIN
    needs_pin: bool = False
    refusal: str | None = None  # why no callback, for the operator's log

    @property
    def accepted(self) -> bool:
        return self.refusal is None


async def _by_pin(p: Platform, number, caller: str | None) -> Decision:
    if caller is None:
        return Decision(refusal="caller ID withheld; PIN mode calls the caller back")
    return Decision(leg_a_number=caller, needs_pin=True)


async def _by_ani(p: Platform, number, caller: str | None) -> Decision:
    if caller is None:
        return Decision(refusal="caller ID withheld")
    account = await accounts.find_account_by_ani(p.db, number=caller)
    if account is None:
        return Decision(refusal="caller ID is not a registered ANI")
    return Decision(leg_a_number=account["default_number"] or caller, account=account)


async def _by_ani_then_pin(p: Platform, number, caller: str | None) -> Decision:
    decision = await _by_ani(p, number, caller)
    return decision if decision.accepted else await _by_pin(p, number, caller)


async def _by_ani_and_pin(p: Platform, number, caller: str | None) -> Decision:
    # Caller ID can be spoofed, so a registered ANI alone is not enough here:
    # the PIN typed on the callback leg must be that same account's PIN.
    decision = await _by_ani(p, number, caller)
    if not decision.accepted:
        return decision
    return Decision(leg_a_number=caller, account=decision.account, needs_pin=True)


async def _by_did(p: Platform, number, caller: str | None) -> Decision:
    account = await accounts.get_account(p.db, account_id=number["account_id"]) if number["account_id"] else None
    if account is None:
        return Decision(refusal="DID has no account")
    if not account["default_number"]:
        return Decision(refusal="DID account has no default number to call back")
    # Never the caller ID: the DID works with a blocked caller ID, and calling
    # back whoever rang would let strangers spend the account's money.
    return Decision(leg_a_number=account["default_number"], account=account)


MODES = {
    "pin": _by_pin,
    "ani": _by_ani,
    "ani-then-pin": _by_ani_then_pin,
    "ani-and-pin": _by_ani_and_pin,
    "did": _by_did,
}


async def decide(p: Platform, number, caller_raw: str | None) -> tuple[Decision, str | None]:
    """(decision, failure reason) for a call from `caller_raw` to service `number`."""
    if await limits.requester_over_limit(p.db, p.settings, requester=storable(caller_raw, 32)):
        return Decision(refusal="too many triggers from this caller"), states.RATE_LIMITED
    caller = usable_caller_id(caller_raw)
    decision = await MODES[number["mode"]](p, number, caller)
    if not decision.accepted:
        return decision, states.AUTH_FAILED
    if decision.needs_pin and await lockouts.requester_locked(p.db, requester=decision.leg_a_number):
        return Decision(refusal="locked out after too many wrong PINs"), states.AUTH_FAILED
    account = decision.account
    if account is not None and account["status"] != "active":
        return Decision(refusal="account is blocked"), states.AUTH_FAILED
    # The callback leg is a call the operator pays for too: the same policy applies.
    why = await policy.check(p.db, account_id=account["id"] if account is not None else None,
                             number=decision.leg_a_number)
    tariff = account["callback_tariff"] if account is not None else "default"
    if why or await rates.find_rate(p.db, number=decision.leg_a_number, tariff=tariff) is None:
        return Decision(refusal=f"callback number {decision.leg_a_number}: {why or 'no rate'}"), \
            states.DESTINATION_BLOCKED
    if account is not None and account["balance"] - account["reserved"] <= 0:
        return Decision(refusal="balance exhausted"), states.INSUFFICIENT_FUNDS
    # The caps (per requester, per account) are counted again where the row is written.
    return decision, None


async def _over_caps(p: Platform, decision: Decision, requester: str) -> tuple[Decision, str | None]:
    """Inside `limits.capped`: the caps that parallel triggers would otherwise all pass."""
    if await limits.requester_over_limit(p.db, p.settings, requester=requester):
        return Decision(refusal="too many triggers from this caller"), states.RATE_LIMITED
    if decision.account is not None and await limits.account_over_concurrency(p.db, account=decision.account):
        return Decision(refusal="too many callbacks in progress"), states.RATE_LIMITED
    return decision, None


async def _refuse(p: Platform, number, call_sid: str, decision: Decision, reason: str, *, now, common: dict) -> None:
    log.info("trigger %s on %s refused: %s", call_sid, number["number"], decision.refusal,
             extra={"call_sid": call_sid, "reason": reason})
    await machine.refuse(p.db, reason=reason, detail=decision.refusal, due_at=now, expires_at=now, **common)
    return None


async def accept_voice_trigger(p: Platform, *, number, call_sid: str, caller_raw: str | None, base_url: str) -> int | None:
    """Write the outbox row for one trigger call; return its id (None if a duplicate)."""
    decision, reason = await decide(p, number, caller_raw)
    requester = storable(caller_raw, 32)
    now = utcnow()
    common = dict(
        trigger_kind="voice", trigger_id=call_sid, service_number=number["number"], mode=number["mode"],
        caller_id=requester, base_url=base_url,
    )
    if reason:
        return await _refuse(p, number, call_sid, decision, reason, now=now, common=common)
    subjects = [limits.requester_subject(requester)]
    if decision.account is not None:
        subjects.append(limits.account_subject(decision.account))
    async with limits.capped(p.db, *subjects):
        refused, reason = await _over_caps(p, decision, requester)
        if reason:
            return await _refuse(p, number, call_sid, refused, reason, now=now, common=common)
        request_id, created = await machine.accept(
            p.db,
            account_id=decision.account["id"] if decision.account is not None else None,
            needs_pin=decision.needs_pin,
            leg_a_number=decision.leg_a_number,
            leg_a_from=number["number"],
            due_at=now + dt.timedelta(seconds=p.settings.dispatch_delay_seconds),
            expires_at=now + dt.timedelta(seconds=p.settings.request_ttl_seconds),
            **common,
        )
    if not created:
        return None
    log.info("trigger %s on %s queued", call_sid, number["number"], extra={"callback_id": request_id})
    p.wake_dispatcher()
    return request_id
