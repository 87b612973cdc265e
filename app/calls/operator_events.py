"""Events for the operator's systems: voucher redemptions and balance changes.

`emit` is the one call the engine makes for each event (voucher.redeemed,
balance.low, balance.changed). It logs the event, with the fields of the
operator webhook's payload (PRODUCT.md §4: amounts as decimal strings); the
signed delivery to OPERATOR_WEBHOOK_URL hangs off this same function.
"""

from __future__ import annotations

import logging
import uuid

from app.core import money
from app.data.account_history import iso
from app.data.db import utcnow
from app.platform import Platform

log = logging.getLogger(__name__)

TYPES = ("voucher.redeemed", "balance.low", "balance.changed")
AMOUNT_FIELDS = ("amount", "balance", "threshold")


def payload(type: str, account, **fields) -> dict:
    """The event as the webhook's JSON: amounts (minor units in `fields`) as decimal strings."""
    currency = account["currency"]
    body = {"type": type, "id": f"evt_{uuid.uuid4().hex}", "created_at": iso(utcnow()),
            "account": {"id": account["id"], "login": account["login"]}, "currency": currency}
    for name, value in fields.items():
        body[name] = money.format_amount(value, currency) if name in AMOUNT_FIELDS and value is not None else value
    return body


async def emit(p: Platform, type: str, account, **fields) -> dict:
    if type not in TYPES:
        raise ValueError(f"unknown operator event {type!r}")
    event = payload(type, account, **fields)
    log.info("operator event %s", type, extra={"operator_event": event})
    return event
