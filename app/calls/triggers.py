"""Voice triggers: who may ask for a callback on a service number, and who is called back.

Each mode of PRODUCT.md section 3 is one small function from (the number, the
caller) to a decision: who is called back, for which account, whether a PIN
follows. What is checked then is the admission every channel goes through
(app/calls/admission.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.calls import admission
from app.data import accounts
from app.core import states
from app.data.db import storable
from app.core.phone import usable_caller_id
from app.platform import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    leg_a_number: str | None = None
    account: object | None = None  # the account row when known before the PIN
    needs_pin: bool = False
    refusal: str | None = None  # why no callback, for the operator's log
    destination: str | None = None  # leg B known up front (DID-direct); None: the IVR asks

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


async def _by_did_direct(p: Platform, number, caller: str | None) -> Decision:
    # A DID bound to one destination: the DID's own rules, then that number, no IVR. The
    # admission checks the destination's policy and rate as for any number asked for.
    decision = await _by_did(p, number, caller)
    if not decision.accepted:
        return decision
    if not number["destination"]:
        return Decision(refusal="DID-direct number has no destination")
    return Decision(leg_a_number=decision.leg_a_number, account=decision.account, destination=number["destination"])


MODES = {
    "pin": _by_pin,
    "ani": _by_ani,
    "ani-then-pin": _by_ani_then_pin,
    "ani-and-pin": _by_ani_and_pin,
    "did": _by_did,
    "did-direct": _by_did_direct,
}


async def _ask(p: Platform, number, call_sid: str, caller_raw: str | None, base_url: str):
    """The Ask a call from `caller_raw` to service `number` makes, its count, and why it is refused, if it is."""
    requester = storable(caller_raw, 32)
    fields = dict(channel="voice", trigger_id=call_sid, requester=requester, service_number=number["number"],
                  mode=number["mode"], base_url=base_url)
    # The flood guard comes first: a caller ringing in a loop costs one count, not the lookups. The same
    # statement reads the lockout of the caller, whose PIN may follow.
    caller = usable_caller_id(caller_raw)
    counted = await admission.count_trigger(p, requester, pin_source=caller)
    refused = admission.over_limit(counted)
    if refused is None:
        decision = await MODES[number["mode"]](p, number, caller)
        if decision.accepted:
            return admission.Ask(account=decision.account, leg_a=decision.leg_a_number,
                                 destination=decision.destination,
                                 needs_pin=decision.needs_pin, **fields), counted, None
        refused = admission.Refused(states.AUTH_FAILED, decision.refusal)
    return admission.Ask(account=None, leg_a="", destination=None, **fields), counted, refused


async def accept_voice_trigger(p: Platform, *, number, call_sid: str, caller_raw: str | None, base_url: str) -> int | None:
    """Admit one trigger call (app/calls/admission.py); return its request's id (None if refused or a duplicate).

    A refused trigger is kept as a failed row: the caller hears the same busy signal either way.
    """
    ask, counted, refused = await _ask(p, number, call_sid, caller_raw, base_url)
    if refused:
        await admission.refuse(p, ask, refused, keep=True)
        return None
    outcome = await admission.admit(p, ask, keep_refusals=True, counted=counted)
    if isinstance(outcome, admission.Refused) or not outcome.created:
        return None
    # DEBUG: the row and its events are the record of an accepted trigger, and at INFO this line (JSON, on
    # every trigger) cost more than the trigger's own write. Refusals stay at INFO: they are the exceptions.
    log.debug("trigger %s on %s queued", call_sid, number["number"], extra={"callback_id": outcome.request_id})
    return outcome.request_id
