"""Queries for PIN cards (calling cards): batches of accounts with a PIN, a balance and no login.

A card is an account like any other (PIN mode finds it by its PIN at once); what
makes it a card is `accounts.card_batch_id`. Its password hash is not a hash, so
no password ever opens it: no portal, no SMS `U. P.`. It expires `valid_days`
after its first use (`start_use`), which admission and the PIN step check.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.core import security
from app.data.db import Database, utcnow
from app.data.tables import accounts, card_batches

MAX_BATCH = 10_000
PIN_LENGTH = 10  # a card's PIN alone opens it in PIN mode: longer than a subscriber's
NO_PASSWORD = "!card"  # not an argon2 hash: every password check fails


def _is_unique_violation(exc: Exception) -> bool:
    return type(exc).__name__ in ("IntegrityError", "UniqueViolationError")


async def create_batch(db: Database, *, secret_key: str, count: int, balance: int, currency: str,
                       valid_days: int | None, country: str = "US", language: str = "en",
                       pin_length: int = PIN_LENGTH) -> tuple[int, list[tuple[str, str]]]:
    """A batch of `count` cards: (batch id, [(login, PIN)]), the PINs to be shown once."""
    now = utcnow()
    # One transaction: a batch is made whole or not at all; each card a savepoint, redrawn on a taken PIN.
    async with db.transaction():
        batch_id = await db.execute(card_batches.insert().values(
            count=count, balance=balance, currency=currency, valid_days=valid_days, created_at=now))
        cards = []
        for number in range(1, count + 1):
            login = f"card-{batch_id}-{number}"
            for _ in range(50):
                pin = security.random_pin(pin_length)
                try:
                    # A PIN another account holds is drawn again: the unique index on pin_hash decides.
                    async with db.transaction():
                        await db.execute(accounts.insert().values(
                            login=login, password_hash=NO_PASSWORD, pin_hash=security.pin_digest(secret_key, pin),
                            balance=balance, currency=currency, country=country, language=language,
                            card_batch_id=batch_id, created_at=now))
                except Exception as exc:
                    if not _is_unique_violation(exc):
                        raise
                    continue
                break
            else:
                raise ValueError("no free PIN was found")
            cards.append((login, pin))
    return batch_id, cards


def is_card(account) -> bool:
    return account is not None and account["card_batch_id"] is not None


def expired(account, now: dt.datetime | None = None) -> bool:
    return (account is not None and account["card_expires_at"] is not None
            and (now or utcnow()) >= account["card_expires_at"])


async def start_use(db: Database, *, account) -> None:
    """A card's first use starts its validity; later uses change nothing."""
    if not is_card(account) or account["card_expires_at"] is not None:
        return
    days = await db.fetch_val(sa.select(card_batches.c.valid_days).where(card_batches.c.id == account["card_batch_id"]))
    if days is None:
        return
    await db.execute(accounts.update()
                     .where(accounts.c.id == account["id"], accounts.c.card_expires_at.is_(None))
                     .values(card_expires_at=utcnow() + dt.timedelta(days=days)))


async def list_batches(db: Database, *, limit: int = 200):
    used = (sa.select(sa.func.count()).where(accounts.c.card_batch_id == card_batches.c.id,
                                            accounts.c.card_expires_at.is_not(None))
            .scalar_subquery().label("used"))
    return await db.fetch_all(sa.select(card_batches, used).order_by(card_batches.c.id.desc()).limit(limit))
