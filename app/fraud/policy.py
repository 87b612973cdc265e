"""Destination policy: which numbers an account may call (or be called back on).

Rules are rows of `destination_rules`, operator-wide (account NULL) or for one
account. A number must pass both levels: where a level lists allowed countries
or prefixes, the number must match one of them; a denied prefix at either level
refuses it; high-risk number types and ranges (app/fraud/destination_risk.py) are
refused unless a rule at either level allows them: `allow_type` for a type,
`allow_range` for a prefix (which allows without restricting), or an
`allow_prefix` at least as long as the blocked range.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers

from app.fraud import destination_risk
from app.data import call_limits, destination_rules
from app.data.db import Database
from app.core.phone import NUMBERS_REMEMBERED, parsed_international, region_of
from app.core.timed_cache import TimedCache

KINDS = ("allow_country", "allow_prefix", "deny_prefix", "allow_type", "allow_range")
# The number types refused unless allowed (the name is kept for the modules that use it).
GUARDED_TYPES = destination_risk.RISKY_TYPES
OPERATOR_LIMITS = ("max_call_seconds", "max_call_cost")


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Rules:
    allow_country: frozenset = frozenset()
    allow_prefix: frozenset = frozenset()
    deny_prefix: frozenset = frozenset()
    allow_type: frozenset = frozenset()
    allow_range: frozenset = frozenset()


def _rules(rows) -> Rules:
    grouped = {kind: set() for kind in KINDS}
    for row in rows:
        grouped[row["kind"]].add(row["value"])
    return Rules(**{kind: frozenset(values) for kind, values in grouped.items()})


# Every trigger and every destination typed is checked against the rules.
_loaded: TimedCache[tuple[Rules, Rules]] = TimedCache()


async def load(db: Database, *, account_id: int | None) -> tuple[Rules, Rules]:
    """(operator-wide rules, the account's rules), as this process saw them at most a few seconds ago."""
    return await _loaded.get((db.url, account_id), lambda: _read(db, account_id=account_id))


async def _read(db: Database, *, account_id: int | None) -> tuple[Rules, Rules]:
    rows = await destination_rules.for_account(db, account_id=account_id)
    operator = _rules([row for row in rows if row["account_id"] is None])
    account = _rules([row for row in rows if row["account_id"] is not None])
    return operator, account


@functools.lru_cache(maxsize=NUMBERS_REMEMBERED)
def _country_and_kind(number: str) -> tuple[str, str | None]:
    """The region of an E.164 number, and its high-risk type if it has one."""
    parsed = parsed_international(number)
    if parsed is None:
        raise phonenumbers.NumberParseException(phonenumbers.NumberParseException.NOT_A_NUMBER, number)
    return region_of(number) or "", destination_risk.risky_type(parsed)


def _allowed_risk(digits: str, blocked_range: str | None, operator: Rules, account: Rules) -> bool:
    """Whether a rule lets this high-risk number through: an allow_range covering it, or an
    allow_prefix that names the blocked range or more of it."""
    for rules in (operator, account):
        if any(digits.startswith(prefix) for prefix in rules.allow_range):
            return True
        if blocked_range and any(digits.startswith(prefix) and len(prefix) >= len(blocked_range)
                                 for prefix in rules.allow_prefix):
            return True
    return False


def refusal(number: str, operator: Rules, account: Rules) -> str | None:
    """Why `number` (E.164) may not be called under these rules; None when it may."""
    digits = number.lstrip("+")
    country, kind = _country_and_kind(number)
    for rules in (operator, account):
        if any(digits.startswith(prefix) for prefix in rules.deny_prefix):
            return "prefix denied"
        if rules.allow_country and country not in rules.allow_country:
            return f"country {country or 'unknown'} not allowed"
        if rules.allow_prefix and not any(digits.startswith(prefix) for prefix in rules.allow_prefix):
            return "prefix not allowed"
    blocked_range = destination_risk.risky_range(digits)
    if blocked_range and not _allowed_risk(digits, blocked_range, operator, account):
        return f"high-risk range +{blocked_range} ({destination_risk.RISKY_RANGES[blocked_range]})"
    if kind and kind not in operator.allow_type | account.allow_type \
            and not _allowed_risk(digits, None, operator, account):
        return f"{kind.replace('_', '-')} number"
    return None


async def check(db: Database, *, account_id: int | None, number: str) -> str | None:
    operator, account = await load(db, account_id=account_id)
    return refusal(number, operator, account)


def clean_value(kind: str, value: str) -> str:
    if kind not in KINDS:
        raise PolicyError(f"kind is one of {', '.join(KINDS)}")
    value = value.strip()
    if kind == "allow_country":
        if len(value) != 2 or not value.isalpha() or not value.isascii():
            raise PolicyError("a country is a two-letter ISO code such as GB")
        return value.upper()
    if kind == "allow_type":
        if value not in GUARDED_TYPES.values():
            raise PolicyError(f"a number type is one of {', '.join(GUARDED_TYPES.values())}")
        return value
    digits = value.lstrip("+")
    if not digits.isdigit() or not digits.isascii() or len(digits) > 16:
        raise PolicyError("a prefix is 1 to 16 digits")
    if kind == "allow_range" and len(digits) < 2:
        # '1' or '4' would switch the high-risk list off for a whole zone by a slip.
        raise PolicyError("an allowed range is at least 2 digits")
    return digits


async def add_rule(db: Database, *, kind: str, value: str, account_id: int | None = None) -> bool:
    value = clean_value(kind, value)
    if not await destination_rules.add(db, kind=kind, value=value, account_id=account_id):
        return False
    _loaded.clear()
    return True


async def remove_rule(db: Database, *, kind: str, value: str, account_id: int | None = None) -> bool:
    value = clean_value(kind, value)
    removed = await destination_rules.remove(db, kind=kind, value=value, account_id=account_id)
    _loaded.clear()
    return removed


async def list_rules(db: Database):
    return await destination_rules.list_all(db)


# Operator-wide limits on a single call, kept in instance_settings.

_limits: TimedCache[dict[str, int]] = TimedCache()


async def operator_limits(db: Database) -> dict[str, int]:
    """The operator's limits on a single call, as this process saw them at most a few seconds ago."""
    return await _limits.get(db.url, lambda: read_operator_limits(db))


async def read_operator_limits(db: Database) -> dict[str, int]:
    return await call_limits.read(db, names=OPERATOR_LIMITS)


async def set_operator_limit(db: Database, *, name: str, value: int | None) -> None:
    await call_limits.write(db, name=name, value=value)
    _limits.clear()
