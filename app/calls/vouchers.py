"""Redeeming a voucher, the same for every channel (IVR, SMS, portal, API).

The channel has authorized its account its own way and hands over what was
typed. Every attempt is counted against the account and the requester before
the code is looked at (app/fraud/lockouts.py `begin_voucher`); an unknown,
used, expired, disabled, wrong-currency or mistyped code all come back as the
one `INVALID`, so trying codes teaches nothing but "no".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.calls import operator_events
from app.core import voucher_codes
from app.data import vouchers
from app.fraud import lockouts
from app.platform import Platform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credited:
    value: int  # minor units of the account's currency
    balance: int  # the new balance


INVALID = "invalid"  # no such usable code; one answer for every reason
LOCKED = "locked"  # too many wrong codes this hour, for the account or the requester


async def redeem(p: Platform, *, account, typed: str, channel: str, requester: str) -> Credited | str:
    attempt = await lockouts.begin_voucher(p.db, account_id=account["id"], requester=requester)
    if attempt is None:
        log.info("voucher redemption for account %s refused: locked", account["id"], extra={"channel": channel})
        return LOCKED
    code = voucher_codes.read(typed)
    credited = None
    if code is not None:
        # The operator webhook's events are written with the credit, so neither goes without the other.
        async with p.db.transaction():
            credited = await vouchers.redeem(p.db, secret_key=p.secret_key, code=code, account_id=account["id"],
                                             currency=account["currency"], channel=channel)
            if credited is not None:
                value, balance = credited
                await operator_events.emit(p, "voucher.redeemed", account, amount=value, balance=balance,
                                           channel=channel)
                await operator_events.emit(p, "balance.changed", account, amount=value, balance=balance,
                                           reason="voucher")
    if credited is None:
        log.info("voucher redemption for account %s: invalid code", account["id"], extra={"channel": channel})
        return INVALID
    await lockouts.succeeded(p.db, attempt)
    value, balance = credited
    return Credited(value=value, balance=balance)
