"""Queries for the operator's service numbers (the numbers subscribers ring or text)."""

from __future__ import annotations

from app.core.phone import InvalidNumber, to_e164
from app.data.db import Database, utcnow
# MODES, the modes a service number may have, is read from here by the forms that offer them.
from app.data.tables import DID_MODES, MODES, service_numbers
from app.core.timed_cache import TimedCache


class NumberError(ValueError):
    pass


MAX_ID = 2**31 - 1


def _check_mode(mode: str, account_id: int | None, destination: str | None = None) -> None:
    if mode not in MODES:
        raise NumberError(f"mode must be one of {', '.join(MODES)}")
    if mode in DID_MODES and account_id is None:
        raise NumberError("a DID number belongs to an account")
    if mode not in DID_MODES and account_id is not None:
        raise NumberError("only a DID number belongs to an account")
    if mode == "did-direct" and not destination:
        raise NumberError("a DID-direct number connects one destination")
    if mode != "did-direct" and destination:
        raise NumberError("only a DID-direct number has a destination")


async def add_number(db: Database, *, number: str, mode: str, account_id: int | None = None,
                     destination: str | None = None) -> int:
    """Add a service number; `destination` (DID-direct) is E.164, its policy already checked
    (app/calls/did_direct.py)."""
    _check_mode(mode, account_id, destination)
    if await get_number(db, number=number):
        raise NumberError(f"{number} is already a service number")
    new_id = await db.execute(
        service_numbers.insert().values(number=number, mode=mode, account_id=account_id, destination=destination,
                                        created_at=utcnow())
    )
    _by_number.clear()
    return new_id


async def get_number(db: Database, *, number: str):
    return await db.fetch_one(service_numbers.select().where(service_numbers.c.number == number))


# Every trigger and text looks its service number up.
_by_number: TimedCache = TimedCache()


async def cached_number(db: Database, number: str):
    """The service number `number`, as this process saw it at most a few seconds ago."""
    return await _by_number.get((db.url, number), lambda: get_number(db, number=number))


async def list_numbers(db: Database):
    return await db.fetch_all(service_numbers.select().order_by(service_numbers.c.number))


async def get_number_by_id(db: Database, *, number_id: int):
    if not 0 < number_id <= MAX_ID:
        return None
    return await db.fetch_one(service_numbers.select().where(service_numbers.c.id == number_id))


async def update_number(db: Database, *, number: str, **values) -> None:
    await db.execute(service_numbers.update().where(service_numbers.c.number == number).values(**values))
    _by_number.clear()


async def set_mode(db: Database, *, number_id: int, mode: str, account_id: int | None,
                   destination: str | None = None) -> None:
    """Change a number's mode, with the rules `add_number` keeps: a DID, and only a DID, has an account;
    a DID-direct number, and only it, a destination."""
    _check_mode(mode, account_id, destination)
    await db.execute(service_numbers.update().where(service_numbers.c.id == number_id)
                     .values(mode=mode, account_id=account_id, destination=destination))
    _by_number.clear()


async def set_caller_id_mode(db: Database, *, number_id: int, caller_id_mode: str | None) -> None:
    await db.execute(service_numbers.update().where(service_numbers.c.id == number_id)
                     .values(caller_id_mode=caller_id_mode))
    _by_number.clear()


async def remove_number(db: Database, *, number_id: int) -> bool:
    removed = await db.fetch_all(service_numbers.delete().where(service_numbers.c.id == number_id)
                                 .returning(service_numbers.c.id))
    _by_number.clear()
    return bool(removed)


async def caller_id_for(db: Database, to: str | None) -> str | None:
    """The number a callback or a text comes from: the one the subscriber used (`to`, if it is
    a service number), else the first shared (not DID) service number; None when there is none."""
    if to:
        try:
            row = await get_number(db, number=to_e164(to, "US"))
        except InvalidNumber:
            row = None
        if row is not None:
            return row["number"]
    shared = [row for row in await list_numbers(db) if row["mode"] not in DID_MODES]
    return shared[0]["number"] if shared else None
