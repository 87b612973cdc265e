"""Admission: whether a trigger becomes a queued callback, the same checks for every channel.

Every way to ask for a callback (a call to a service number in any mode, a
text, the portal's Connect Two, the REST API and so the Callback Dialer) first
works out, its own way, who asks and for which account, then hands an `Ask` to
`admit`, which checks, in this order:

1. the account's status (when the account is known), and a PIN card's expiry;
2. lockouts: a caller whose PIN is still to be typed (`Ask.needs_pin`) must not
   be locked out after wrong PINs; channels that authorize with a secret before
   asking (texts, web logins) count theirs as they authorize;
3. the destination, leg A then leg B: the account's destination policy, then a
   rate for the number (leg A at the callback tariff, leg B at the call tariff);
4. the balance: something left to spend once holds are taken off;
5. a number for the callback to come from (`Ask.service_number`);
6. the trigger limit per requester (`per_requester`);
7. the account's concurrency cap.

Step 6 is one upsert of the requester's count (app/fraud/limits.py). A voice
trigger takes it first, before anything is looked up, so that every trigger
counts, and the same statement reads step 2's lockout; the other channels count
what passed steps 1 to 5. Step 7 is
counted, and the row written, inside one `limits.capped(...)` transaction
holding the account's lock: thirty requests at once must not all see the same
free slots. A request with no account yet (a voice trigger whose PIN is to
come) has nothing more to count: its row is one statement, so such a trigger
costs two (the count, the row).

The one outcome is `Admitted` or `Refused`; each channel turns it into its own
answer (a rejected call, a text, a 4xx JSON body, a form message).

Where channels differ on purpose, the difference is a parameter, not a copy:

- `per_requester=False` (the API): integrators are trusted; their volume is
  bounded by the account's concurrency cap, not counted per requester.
- `Ask.account is None` (a voice trigger in PIN mode): there is no account
  until the PIN is typed, so the status, the balance and the concurrency cap
  are checked at PIN entry (app/calls/ivr.py), and leg A is checked against
  the operator's policy at the default tariff.
- `keep_refusals=True` (voice): a refused trigger is kept as a failed row,
  the operator's log of calls that got no callback.
- `Ask.confirm_mode` (the website widget): how leg A confirms before leg B,
  instead of the account's setting; a widget always asks for press-1, since
  its visitor is a stranger whose voicemail must never be bridged.
- `precheck` (the website widget): steps 1 to 5 alone, before a channel spends
  anything (a texted code) on a request that would be refused anyway.
- `Ask.at` (a scheduled callback: API, portal, text): the checks run when it is
  asked for, and the row is due at its time; the queue's time to live counts
  from then, so it is never expired early. It does not take one of the
  account's concurrent calls until its time (app/fraud/limits.py), but an
  account may have at most `limits.MAX_SCHEDULED` waiting. When it is due the
  dispatcher checks again what may have changed meanwhile: the account's
  status, the policy for leg A and the balance (the hold of leg A's IVR
  time), and the IVR checks
  the destination's policy and rate as for any call (app/calls/dialing.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from app.core import states
from app.core.keys import stored_key
from app.billing import reservations
from app.calls import machine
from app.data import cards, rates
from app.data.db import utcnow
from app.fraud import limits, lockouts, policy
from app.platform import Platform

log = logging.getLogger(__name__)

# Every reason `admit` refuses with, so each channel can be checked to answer them all
# (account_requests.normalize adds "invalid_number" for a number that is not one).
REASONS = (states.AUTH_FAILED, states.DESTINATION_BLOCKED, states.INSUFFICIENT_FUNDS, "unavailable",
           states.RATE_LIMITED)


@dataclass(frozen=True)
class Ask:
    """A channel's request for a callback, its numbers E.164 already."""

    channel: str  # the trigger kind: voice, sms, web, api
    trigger_id: str  # with the channel, the idempotency key: the same trigger twice is one request
    requester: str  # who asked, as limits count it: caller ID, sender, web:<login>, api:<login>
    account: object | None  # the account row; None only for a voice trigger whose PIN is still to come
    leg_a: str
    destination: str | None
    service_number: str | None  # the number the callback comes from; None: there is none to use
    mode: str  # the service number's mode for voice, else the channel
    base_url: str
    needs_pin: bool = False
    notify_number: str | None = None
    confirm_mode: str | None = None  # instead of the account's (none, press1, amd); see the module's docstring
    at: dt.datetime | None = None  # scheduled: naive UTC, checked by app/core/schedule.py; None: now


@dataclass(frozen=True)
class Admitted:
    request_id: int
    created: bool  # False: this trigger (idempotency key) was seen before
    leg_a: str
    destination: str | None


class Refused(Exception):
    """Why a request was not queued: `reason` from app/core/states.py (or invalid_number,
    unavailable), a `detail` safe to show whoever asked, the `number` refused if one was,
    and `note`, the operator's fuller account (a voice trigger's failed row)."""

    def __init__(self, reason: str, detail: str, number: str | None = None, note: str | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.number = reason, detail, number
        self.note = note or detail

    def __repr__(self) -> str:
        return f"Refused({self.reason!r}, {self.note!r})"


MAX_SCHEDULED = limits.MAX_SCHEDULED  # for the channels, which do not import the caps
TOO_MANY_SCHEDULED = f"at most {MAX_SCHEDULED} scheduled callbacks may wait; cancel one first"
TRIGGER_ID_LENGTH, REQUESTER_LENGTH = 64, 32  # callback_requests.trigger_id, .caller_id


async def count_trigger(p: Platform, requester: str, *, pin_source: str | None = None) -> limits.Counted:
    """Step 6's count, taken once per trigger before anything is looked up (a caller ringing in a loop
    costs this one statement), with step 2's lockout of `pin_source` (the caller whose PIN may follow;
    else the requester) read by the same statement. Refusals are counted too."""
    return await limits.count_trigger(p.db, p.settings, requester=stored_key(requester, REQUESTER_LENGTH),
                                      source=pin_source or requester)


def over_limit(counted: limits.Counted) -> Refused | None:
    if counted.over_limit:
        return Refused(states.RATE_LIMITED, "too many requests; wait a few minutes",
                       note="too many triggers from this caller")
    return None


async def _locked_out(p: Platform, ask: Ask, counted: limits.Counted | None) -> bool:
    if counted is not None and counted.source == ask.leg_a:
        return lockouts.too_many(counted.failures)
    return await lockouts.requester_locked(p.db, requester=ask.leg_a)


async def _destination(p: Platform, account, number: str, tariff: str, leg: str) -> Refused | None:
    # The callback leg is a call the operator pays for too: the same policy applies to both legs.
    why = await policy.check(p.db, account_id=account["id"] if account is not None else None, number=number)
    if why or await rates.find_rate(p.db, number=number, tariff=tariff) is None:
        return Refused(states.DESTINATION_BLOCKED, "calls to that number are not available", number,
                       note=f"{leg} {number}: {why or 'no rate'}")
    return None


async def _checks(p: Platform, ask: Ask, counted: limits.Counted | None = None) -> Refused | None:
    """Steps 1 to 5: what can be refused without a lock."""
    account = ask.account
    if account is not None and account["status"] != "active":
        return Refused(states.AUTH_FAILED, "account is blocked")
    if cards.expired(account):
        return Refused(states.AUTH_FAILED, "this card has expired")
    if ask.needs_pin and await _locked_out(p, ask, counted):
        return Refused(states.AUTH_FAILED, "locked out after too many wrong PINs")
    legs = [(ask.leg_a, account["callback_tariff"] if account is not None else "default", "callback number")]
    if ask.destination is not None:
        legs.append((ask.destination, account["tariff"], "destination"))
    for number, tariff, leg in legs:
        refused = await _destination(p, account, number, tariff, leg)
        if refused:
            return refused
    if account is not None and account["balance"] - account["reserved"] <= 0:
        return Refused(states.INSUFFICIENT_FUNDS, "balance too low", note="balance exhausted")
    if (account is not None and account["reseller_id"] is not None
            and await reservations.spendable(p.db, account_id=account["id"]) <= 0):
        # The reseller's credit is used up: none of its accounts may call, whatever their balances.
        return Refused(states.INSUFFICIENT_FUNDS, "reseller credit exhausted", note="reseller credit exhausted")
    if ask.service_number is None:
        return Refused("unavailable", "no service number to call from")
    return None


async def precheck(p: Platform, ask: Ask) -> Refused | None:
    """Steps 1 to 5 without queueing anything: a channel asks before it spends on the request."""
    return await _checks(p, ask)


async def _caps(p: Platform, ask: Ask) -> Refused | None:
    """Step 7, inside `limits.capped`: the account's caps, which parallel requests would otherwise all pass."""
    if ask.at is None and await limits.account_over_concurrency(p.db, account=ask.account):
        return Refused(states.RATE_LIMITED, "too many callbacks in progress")
    if ask.at is not None and await limits.account_over_scheduled(p.db, account=ask.account):
        return Refused(states.RATE_LIMITED, TOO_MANY_SCHEDULED)
    return None


async def refuse(p: Platform, ask: Ask, refused: Refused, *, keep: bool) -> Refused:
    """The refusal as the outcome; with `keep` (voice) also as a failed row, the operator's log."""
    if keep:
        log.info("trigger %s on %s refused: %s", ask.trigger_id, ask.service_number, refused.note,
                 extra={"call_sid": ask.trigger_id, "reason": refused.reason})
        now = utcnow()
        await machine.refuse(
            p.db, reason=refused.reason, detail=refused.note, due_at=now, expires_at=now,
            trigger_kind=ask.channel, trigger_id=stored_key(ask.trigger_id, TRIGGER_ID_LENGTH),
            service_number=ask.service_number, mode=ask.mode, caller_id=stored_key(ask.requester, REQUESTER_LENGTH),
            base_url=ask.base_url,
        )
    return refused


async def admit(p: Platform, ask: Ask, *, per_requester: bool = True, keep_refusals: bool = False,
                counted: limits.Counted | None = None) -> Admitted | Refused:
    """Check `ask` in the order of this module's docstring and queue it: Admitted, or the first Refused.

    `counted`: the trigger's count (`count_trigger`) when the channel took it before its own lookups.
    """
    requester = stored_key(ask.requester, REQUESTER_LENGTH)
    refused = await _checks(p, ask, counted)
    if not refused and per_requester:
        # Counted here, after steps 1 to 5, unless the channel counted every trigger up front (voice).
        refused = over_limit(counted or await count_trigger(p, ask.requester))
    if refused:
        return await refuse(p, ask, refused, keep=keep_refusals)
    account = ask.account
    now = utcnow()
    values = dict(
        trigger_kind=ask.channel,
        trigger_id=stored_key(ask.trigger_id, TRIGGER_ID_LENGTH),
        service_number=ask.service_number,
        mode=ask.mode,
        caller_id=requester,
        account_id=account["id"] if account is not None else None,
        needs_pin=ask.needs_pin,
        leg_a_number=ask.leg_a,
        leg_a_from=ask.service_number,
        leg_b_number=ask.destination,
        confirm_mode=(ask.confirm_mode or account["confirm_mode"]) if account is not None and ask.destination
        else None,
        notify_number=ask.notify_number,
        base_url=ask.base_url,
        due_at=ask.at or now + dt.timedelta(seconds=p.settings.dispatch_delay_seconds),
        # From the time it is due: a callback scheduled for tomorrow must not expire tonight.
        expires_at=(ask.at or now) + dt.timedelta(seconds=p.settings.request_ttl_seconds),
        scheduled_at=ask.at,
    )
    if account is None:
        # No account yet (a PIN follows): nothing left to count, and the row is one statement.
        request_id, created = await machine.accept(p.db, **values)
    else:
        async with limits.capped(p.db, limits.account_subject(account)):
            refused = await _caps(p, ask)
            if refused:
                return await refuse(p, ask, refused, keep=keep_refusals)
            request_id, created = await machine.accept(p.db, **values)
    if created:
        if account is not None:
            await cards.start_use(p.db, account=account)  # a PIN card's validity runs from its first use
        p.wake_dispatcher()
    return Admitted(request_id=request_id, created=created, leg_a=ask.leg_a, destination=ask.destination)
