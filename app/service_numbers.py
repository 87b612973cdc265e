"""Queries for the operator's service numbers (the numbers subscribers ring or text)."""

from __future__ import annotations

import time

from app.db import Database, utcnow
from app.tables import MODES, service_numbers


class NumberError(ValueError):
    pass


async def add_number(db: Database, *, number: str, mode: str, account_id: int | None = None) -> int:
    if mode not in MODES:
        raise NumberError(f"mode must be one of {', '.join(MODES)}")
    if mode == "did" and account_id is None:
        raise NumberError("a DID number belongs to an account: give --account")
    if mode != "did" and account_id is not None:
        raise NumberError("only a DID number belongs to an account")
    if await get_number(db, number=number):
        raise NumberError(f"{number} is already a service number")
    return await db.execute(
        service_numbers.insert().values(number=number, mode=mode, account_id=account_id, created_at=utcnow())
    )


async def get_number(db: Database, *, number: str):
    return await db.fetch_one(service_numbers.select().where(service_numbers.c.number == number))


class NumberCache:
    """Service numbers by E.164, remembered for a few seconds.

    Every trigger looks its number up, and numbers change rarely (an operator
    adding one); a short lifetime keeps several instances in step without
    any invalidation traffic between them.
    """

    def __init__(self, ttl: float = 10.0, clock=time.monotonic):
        self.ttl, self.clock = ttl, clock
        self._entries: dict[str, tuple[float, object]] = {}

    async def get(self, db: Database, number: str):
        now = self.clock()
        hit = self._entries.get(number)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        row = await get_number(db, number=number)
        if len(self._entries) > 10_000:  # numbers that do not exist must not grow it forever
            self._entries.clear()
        self._entries[number] = (now, row)
        return row


async def list_numbers(db: Database):
    return await db.fetch_all(service_numbers.select().order_by(service_numbers.c.number))


async def update_number(db: Database, *, number: str, **values) -> None:
    await db.execute(service_numbers.update().where(service_numbers.c.number == number).values(**values))
