"""Callback requests made on a subscriber's behalf by text, web page or API.

Voice triggers have their own rules (app/calls/triggers.py); these have an account
already authorized and say who to call, so one function serves them all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.calls import machine
from app.data import accounts, rates, service_numbers
from app.fraud import limits, policy
from app.core import states
from app.data.db import storable, utcnow
from app.core.phone import InvalidNumber, to_e164
from app.platform import Platform


class Refused(Exception):
    """Why a request was not queued: `reason` from app/core/states.py, and a `detail` safe to show."""

    def __init__(self, reason: str, detail: str, number: str | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.number = reason, detail, number


@dataclass(frozen=True)
class Queued:
    request_id: int
    created: bool  # False: this trigger (idempotency key) was seen before
    leg_a: str
    destination: str | None


def normalize(raw: str, account) -> str:
    try:
        return to_e164(raw, account["country"])
    except InvalidNumber:
        raise Refused("invalid_number", "not a valid phone number") from None


async def caller_id_for(p: Platform, to: str | None) -> str | None:
    """The number the callback comes from: the one the subscriber used, else the first shared service number."""
    if to:
        try:
            row = await service_numbers.get_number(p.db, number=to_e164(to, "US"))
        except InvalidNumber:
            row = None
        if row is not None:
            return row["number"]
    shared = [row for row in await service_numbers.list_numbers(p.db) if row["mode"] != "did"]
    return shared[0]["number"] if shared else None


async def _own_number(p: Platform, account, number: str) -> bool:
    """The account's default number or one of its verified caller IDs: a number known to be the subscriber's."""
    if number == account["default_number"]:
        return True
    return number in await accounts.list_anis(p.db, account_id=account["id"], verified_only=True)


async def request_callback(
    p: Platform,
    *,
    account,
    trigger_kind: str,
    trigger_id: str,
    leg_a: str,
    destination: str | None,
    base_url: str,
    requester: str,
    service_number: str | None = None,
    notify_number: str | None = None,
) -> Queued:
    """Queue a callback to `leg_a` (then `destination`, if given) for an authorized account.

    Numbers are E.164 already (see `normalize`). Raises Refused.
    """
    if account["status"] != "active":
        raise Refused(states.AUTH_FAILED, "account is blocked")
    if account["balance"] - account["reserved"] <= 0:
        raise Refused(states.INSUFFICIENT_FUNDS, "balance too low")
    for number, tariff in ((leg_a, account["callback_tariff"]), (destination, account["tariff"])):
        if number is None:
            continue
        why = await policy.check(p.db, account_id=account["id"], number=number)
        if why or await rates.find_rate(p.db, number=number, tariff=tariff) is None:
            raise Refused(states.DESTINATION_BLOCKED, "calls to that number are not available", number)
    caller_id = await caller_id_for(p, service_number)
    if caller_id is None:
        raise Refused("unavailable", "no service number to call from")
    if notify_number is not None and trigger_kind != "sms" and not await _own_number(p, account, notify_number):
        # A web or API callback may ring any number, but the platform texts only the
        # subscriber's own: a failure notice must not be a free text to a stranger.
        notify_number = None
    # Texts and web forms are counted per requester; API clients are trusted
    # integrators whose volume is bounded by the account's concurrency cap.
    per_requester = trigger_kind != "api"
    requester = storable(requester, 32)
    now = utcnow()
    # Count and insert under the account's (and requester's) lock: thirty parallel
    # requests must not all see the same free slots.
    async with limits.capped(p.db, limits.account_subject(account),
                             limits.requester_subject(requester) if per_requester else ""):
        if per_requester and await limits.requester_over_limit(p.db, p.settings, requester=requester):
            raise Refused(states.RATE_LIMITED, "too many requests; wait a few minutes")
        if await limits.account_over_concurrency(p.db, account=account):
            raise Refused(states.RATE_LIMITED, "too many callbacks in progress")
        request_id, created = await machine.accept(
            p.db,
            trigger_kind=trigger_kind,
            trigger_id=storable(trigger_id, 64),
            service_number=caller_id,
            mode=trigger_kind,
            caller_id=requester,
            account_id=account["id"],
            needs_pin=False,
            leg_a_number=leg_a,
            leg_a_from=caller_id,
            leg_b_number=destination,
            confirm_mode=account["confirm_mode"] if destination else None,
            notify_number=notify_number,
            base_url=base_url,
            due_at=now + dt.timedelta(seconds=p.settings.dispatch_delay_seconds),
            expires_at=now + dt.timedelta(seconds=p.settings.request_ttl_seconds),
        )
    if created:
        p.wake_dispatcher()
    return Queued(request_id=request_id, created=created, leg_a=leg_a, destination=destination)
