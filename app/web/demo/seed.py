"""Demo data for `make run`: subscribers, service numbers in every mode, and rates.

Idempotent: running it again leaves what is there alone.
"""

from __future__ import annotations

from app.data import accounts, rates, service_numbers
from app.data.db import Database

ACCOUNTS = [
    # login, password, PIN, default number, ANIs, balance (minor units)
    ("alice", "alice-demo-password", "482193", "+14155550100", ["+14155550101"], 2000),
    ("bob", "bob-demo-password", "735102", None, ["+14155550111"], 500),
]
NUMBERS = [
    ("+18005550000", "pin", None),
    ("+18005550001", "ani", None),
    ("+18005550002", "ani-then-pin", None),
    ("+18005550003", "ani-and-pin", None),
    ("+18005550004", "did", "alice"),
]
RATES = [
    ("1", 10_000, (60, 60)),  # US/Canada 0.010/min
    ("44", 50_000, (30, 6)),  # UK 0.050/min
    ("33", 40_000, (30, 6)),  # France
    ("49", 45_000, (30, 6)),  # Germany
]


async def seed(db: Database, *, secret_key: str) -> list[str]:
    done = []
    ids = {}
    for login, password, pin, default_number, anis, balance in ACCOUNTS:
        existing = await accounts.get_account_by_login(db, login=login)
        if existing is None:
            ids[login] = await accounts.create_account(db, secret_key=secret_key, login=login, password=password,
                                                       pin=pin, default_number=default_number, balance=balance)
            for ani in anis:
                await accounts.add_ani(db, account_id=ids[login], number=ani)
            done.append(f"account {login} (PIN {pin})")
        else:
            ids[login] = existing["id"]
    for number, mode, owner in NUMBERS:
        if await service_numbers.get_number(db, number=number) is None:
            await service_numbers.add_number(db, number=number, mode=mode, account_id=ids.get(owner))
            done.append(f"number {number} ({mode})")
    for prefix, price, increment in RATES:
        found = await rates.find_rate(db, number=prefix + "0" * 10)
        if found is None or found.prefix != prefix:
            await rates.set_rate(db, prefix=prefix, price_per_minute=price, increment=increment)
            done.append(f"rate {prefix}")
    return done
