"""DID-direct numbers: a personal DID bound to one destination, connected with no IVR.

The operator sets the destination (`number add ... --mode did-direct --destination N`, or the
admin pages); it is checked here then, against the account's destination policy and rate, so
that a number the calls could never reach is refused at once. When the DID rings, the trigger
(app/calls/triggers.py) asks the admission for that destination like any other, and the IVR
checks it once more before dialling (app/calls/dialing.py): the policy may change meanwhile.
"""

from __future__ import annotations

from app.core.phone import InvalidNumber, to_e164
from app.data import rates
from app.data.db import Database
from app.fraud import policy


class DestinationError(ValueError):
    """Why a destination cannot be bound to a DID; the message is for the operator."""


async def checked_destination(db: Database, *, account, raw: str) -> str:
    """`raw` as E.164 (in the account's country), if the account may call it; DestinationError otherwise."""
    if not raw or not raw.strip():
        raise DestinationError("a DID-direct number needs a destination")
    try:
        number = to_e164(raw.strip()[:40], account["country"])
    except InvalidNumber:
        raise DestinationError(f"{raw.strip()[:40]!r} is not a valid phone number") from None
    why = await policy.check(db, account_id=account["id"], number=number)
    if why:
        raise DestinationError(f"{number} is blocked for {account['login']}: {why}")
    if await rates.find_rate(db, number=number, tariff=account["tariff"]) is None:
        raise DestinationError(f"{number} has no rate in {account['login']}'s tariff")
    return number
