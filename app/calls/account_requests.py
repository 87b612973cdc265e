"""Callback requests made on a subscriber's behalf by text, web page or API.

These channels have an account already authorized (a text's PIN or caller ID,
a portal session, an API token) and say who to call, so one function builds
their Ask for the admission every channel goes through (app/calls/admission.py).
A refusal is raised up to the channel's handler, which answers it its own way.
"""

from __future__ import annotations

import datetime as dt

from app.calls.admission import MAX_SCHEDULED, TOO_MANY_SCHEDULED, Admitted, Ask, Refused, admit
from app.core.phone import InvalidNumber, to_e164
from app.data import accounts, service_numbers
from app.platform import Platform

__all__ = ["MAX_SCHEDULED", "TOO_MANY_SCHEDULED", "Admitted", "Refused", "normalize", "request_callback"]


def normalize(raw: str, account) -> str:
    try:
        return to_e164(raw, account["country"])
    except InvalidNumber:
        raise Refused("invalid_number", "not a valid phone number") from None


async def _own_number(p: Platform, account, number: str) -> bool:
    """A verified caller ID of the account, or its default number if the operator set it: a number
    known to be the subscriber's. A default number typed in the portal proves nothing."""
    return number in await accounts.own_numbers(p.db, account=account)


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
    at: dt.datetime | None = None,
) -> Admitted:
    """Queue a callback to `leg_a` (then `destination`, if given) for an authorized account.

    Numbers are E.164 already (see `normalize`); `at`, a scheduled time, naive UTC and
    within app/core/schedule.py's window. Raises Refused.
    """
    if notify_number is not None and trigger_kind != "sms" and not await _own_number(p, account, notify_number):
        # A web or API callback may ring any number, but the platform texts only the
        # subscriber's own: a failure notice must not be a free text to a stranger.
        notify_number = None
    ask = Ask(channel=trigger_kind, trigger_id=trigger_id, requester=requester, account=account, leg_a=leg_a,
              destination=destination, service_number=await service_numbers.caller_id_for(p.db, service_number),
              mode=trigger_kind, base_url=base_url, notify_number=notify_number, at=at)
    # Texts and web forms are counted per requester; API clients are trusted
    # integrators whose volume is bounded by the account's concurrency cap.
    outcome = await admit(p, ask, per_requester=trigger_kind != "api")
    if isinstance(outcome, Refused):
        raise outcome
    return outcome
