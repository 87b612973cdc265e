"""Queries for the rate table: longest-prefix lookup, adding and importing rates."""

from __future__ import annotations

import csv
import functools
import io

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import money
from app.core.phone import NUMBERS_REMEMBERED
from app.core.tariff import NANP_OWN_RATE_DIGITS, Rate, needs_own_rate, parse_increment
from app.data.db import Database, utcnow
from app.data.tables import rates
from app.core.timed_cache import TimedCache

MAX_PREFIX = 16
# Every trigger, IVR hold, destination and CDR looks a rate up. Numbers that agree
# on as many digits as the tariff's longest prefix have one rate, so that is the key.
_found: TimedCache[Rate | None] = TimedCache()
_longest: TimedCache[int] = TimedCache()


class RateError(ValueError):
    pass


def clean_prefix(prefix: str) -> str:
    digits = prefix.strip().lstrip("+")
    if not digits.isdigit() or not digits.isascii() or len(digits) > MAX_PREFIX:
        raise RateError(f"prefix {prefix!r} must be 1 to {MAX_PREFIX} digits")
    return digits


async def set_rate(
    db: Database, *, prefix: str, price_per_minute: int, increment: tuple[int, int] = (60, 60),
    tariff: str = "default", connection_fee: int = 0,
) -> None:
    prefix = clean_prefix(prefix)
    values = dict(price_per_minute=price_per_minute, first_increment=increment[0], next_increment=increment[1],
                  connection_fee=connection_fee)
    # One statement (an upsert), so it never reads then writes: on SQLite a
    # read-then-write transaction can be refused outright by a concurrent writer.
    dialect = postgresql if db.is_postgres else sqlite
    await db.execute(
        dialect.insert(rates)
        .values(tariff=tariff, prefix=prefix, created_at=utcnow(), **values)
        .on_conflict_do_update(index_elements=["tariff", "prefix"], set_=values)
    )
    _found.clear()
    _longest.clear()


def parse_rates_csv(text: str) -> list[tuple[str, int, tuple[int, int], int]]:
    """Rows of `prefix,price_per_minute[,increment[,connection_fee]]`; a header row is allowed.

    Every row is checked before anything is written, so a bad file imports nothing.
    """
    parsed, errors = [], []
    for line_no, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
            continue
        if line_no == 1 and not row[0].strip().lstrip("+").isdigit():
            continue  # header
        try:
            prefix = clean_prefix(row[0])
            price = money.parse_price(row[1] if len(row) > 1 else "")
            increment = parse_increment(row[2].strip()) if len(row) > 2 and row[2].strip() else (60, 60)
            fee = money.parse_price(row[3]) if len(row) > 3 and row[3].strip() else 0
            parsed.append((prefix, price, increment, fee))
        except (RateError, money.MoneyError) as exc:
            errors.append(f"line {line_no}: {exc}")
    if errors:
        raise RateError("; ".join(errors[:10]))
    return parsed


async def import_rates(db: Database, *, text: str, tariff: str = "default") -> int:
    rows = parse_rates_csv(text)
    async with db.transaction():
        for prefix, price, increment, fee in rows:
            await set_rate(db, prefix=prefix, price_per_minute=price, increment=increment, tariff=tariff,
                           connection_fee=fee)
    return len(rows)


async def export_rates(db: Database, *, tariff: str = "default") -> str:
    """The tariff as CSV, in the format `import_rates` reads."""
    rows = await db.fetch_all(rates.select().where(rates.c.tariff == tariff).order_by(rates.c.prefix))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["prefix", "price_per_minute", "increment", "connection_fee"])
    for row in rows:
        writer.writerow([row["prefix"], money.format_price(row["price_per_minute"]),
                         f"{row['first_increment']}/{row['next_increment']}", money.format_price(row["connection_fee"])])
    return out.getvalue()


async def list_tariffs(db: Database) -> list[str]:
    return [row[0] for row in await db.fetch_all(sa.select(rates.c.tariff).distinct().order_by(rates.c.tariff))]


async def find_rate(db: Database, *, number: str, tariff: str = "default") -> Rate | None:
    """The rate of the longest prefix of `number` in `tariff`, as this process saw it at most a few seconds ago.

    None for a NANP number outside the US and Canada whose longest prefix does
    not name its area code: a '1' rate is a US price, not a Jamaican one.
    """
    longest = await _longest.get((db.url, tariff), lambda: _longest_prefix_length(db, tariff=tariff))
    head = number.lstrip("+")[:longest]
    rate = await _found.get((db.url, tariff, head), lambda: _longest_prefix(db, number=head, tariff=tariff))
    if rate is not None and len(rate.prefix) < NANP_OWN_RATE_DIGITS \
            and _needs_own_rate(number.lstrip("+")):
        return None
    return rate


# Every lookup asks; the same numbers come back all day.
_needs_own_rate = functools.lru_cache(maxsize=NUMBERS_REMEMBERED)(needs_own_rate)


async def _longest_prefix_length(db: Database, *, tariff: str) -> int:
    longest = await db.fetch_val(sa.select(sa.func.max(sa.func.length(rates.c.prefix))).where(rates.c.tariff == tariff))
    return longest or 0


async def _longest_prefix(db: Database, *, number: str, tariff: str) -> Rate | None:
    digits = number.lstrip("+")
    prefixes = [digits[:n] for n in range(1, min(len(digits), MAX_PREFIX) + 1)]
    query = (
        sa.select(rates.c.prefix, rates.c.price_per_minute, rates.c.first_increment, rates.c.next_increment,
                  rates.c.connection_fee)
        .where(rates.c.tariff == tariff, rates.c.prefix.in_(prefixes))
        .order_by(sa.func.length(rates.c.prefix).desc())
        .limit(1)
    )
    row = await db.fetch_one(query)
    if row is None:
        return None
    return Rate(prefix=row["prefix"], price_per_minute=row["price_per_minute"],
                        first_increment=row["first_increment"], next_increment=row["next_increment"],
                        connection_fee=row["connection_fee"])
