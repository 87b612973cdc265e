"""Phonebooks and speed dials: what an entry may hold, and the IVR's key sequences.

At the IVR's destination prompt (app/calls/ivr.py), besides a number:

    *<code>#   dials the phonebook entry with that speed-dial code (1 or 2 digits)
    **#        redials the account's last destination

Either way the number is then dialled as a typed one would be: the same policy,
rate, limit and balance checks (app/calls/dialing.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.core.phone import InvalidNumber, to_e164
from app.data import phonebook
from app.data.db import Database

MAX_ENTRIES = 100  # per account
MAX_NAME = 64
CODE = re.compile(r"[0-9]{1,2}")
REDIAL = "**"

CodeTaken = phonebook.CodeTaken


class EntryError(ValueError):
    """A field of an entry that cannot be kept; `field` names it, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Entry:
    name: str
    number: str  # E.164
    code: str | None


def clean_name(raw: object) -> str:
    if not isinstance(raw, str):
        raise EntryError("name", "a name is text")
    # Control and format characters (RTL overrides, zero-width spaces) would disguise a name.
    name = " ".join("".join(ch for ch in raw if unicodedata.category(ch) not in ("Cc", "Cf")).split())
    if not 1 <= len(name) <= MAX_NAME:
        raise EntryError("name", f"a name is 1 to {MAX_NAME} characters")
    return name


def clean_code(raw: object) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str) or not CODE.fullmatch(raw.strip()):
        raise EntryError("code", "a speed-dial code is 1 or 2 digits (0-9), or empty")
    return raw.strip()


def entry(account, *, name: object, number: object, code: object) -> Entry:
    """An entry's values as typed -> checked and normalized (the number E.164 in the account's country)."""
    if not isinstance(number, str) or not number.strip() or len(number) > 40:
        raise EntryError("number", "a number is 1 to 40 characters")
    try:
        e164 = to_e164(number.strip(), account["country"])
    except InvalidNumber:
        raise EntryError("number", "that is not a valid phone number") from None
    return Entry(name=clean_name(name), number=e164, code=clean_code(code))


async def add(db: Database, account, values: Entry) -> int:
    """Add an entry; EntryError when the phonebook is full or the code is taken."""
    try:
        new_id = await phonebook.add_entry(db, account_id=account["id"], name=values.name, number=values.number,
                                           code=values.code, most=MAX_ENTRIES)
    except CodeTaken:
        raise EntryError("code", f"code {values.code} is already another entry's") from None
    if new_id is None:
        raise EntryError("name", f"a phonebook holds at most {MAX_ENTRIES} entries")
    return new_id


async def change(db: Database, account, entry_id: int, values: Entry) -> bool:
    try:
        return await phonebook.update_entry(db, account_id=account["id"], entry_id=entry_id, name=values.name,
                                            number=values.number, code=values.code)
    except CodeTaken:
        raise EntryError("code", f"code {values.code} is already another entry's") from None


@dataclass(frozen=True)
class KeyedNumber:
    """What keys typed at the destination prompt stand for: a number, or why none (an IVR prompt)."""

    number: str | None = None
    prompt: str | None = None


async def resolve_keys(db: Database, account, digits: str) -> KeyedNumber | None:
    """`*<code>` or `**` (the # ends the gather) -> the number they stand for; None: not a key sequence."""
    if not digits.startswith("*"):
        return None
    if digits == REDIAL:
        last = await phonebook.last_destination(db, account_id=account["id"])
        return KeyedNumber(number=last) if last else KeyedNumber(prompt="no_last_number")
    code = digits[1:]
    found = await phonebook.by_code(db, account_id=account["id"], code=code) if CODE.fullmatch(code) else None
    return KeyedNumber(number=found["number"]) if found is not None else KeyedNumber(prompt="speed_dial_unknown")
