"""Changing a balance by hand or by a payment system: the change, its audit row and the operator
webhook's `balance.changed` event, in one transaction (so the event is sent exactly when the change
committed). Every top-up goes through here: the CLI, the admin pages and the API."""

from __future__ import annotations

from app.calls import operator_events
from app.core.settings import Settings
from app.data import accounts
from app.data.db import Database


async def change_balance(db: Database, settings: Settings, *, account, amount: int, actor: str, note: str = "",
                         reference: str | None = None) -> int:
    """Add `amount` (minor units; negative: a correction) to the account; the new balance."""
    async with db.transaction():
        balance = await accounts.top_up(db, account_id=account["id"], amount=amount, actor=actor, note=note)
        fields = {"amount": amount, "balance": balance, "actor": actor}
        if reference is not None:
            fields["reference"] = reference
        await operator_events.record(db, settings, "balance.changed", account, **fields)
    return balance
