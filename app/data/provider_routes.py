"""Queries for least-cost routing: what each provider charges per destination prefix, and providers marked down.

Read on every leg A placed (app/calls/routing.py), changed rarely by the
operator: kept for a few seconds per process (app/core/timed_cache.py), and
cleared at once by a change made in this process.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core.timed_cache import TimedCache
from app.data.db import Database, utcnow
from app.data.rates import RateError, clean_prefix
from app.data.tables import provider_routes, provider_states

# Two seconds: a provider marked down by the CLI (another process) is avoided within that.
_routes: TimedCache[tuple] = TimedCache(ttl=2.0)
_down: TimedCache[frozenset[str]] = TimedCache(ttl=2.0)

def _upsert(db: Database, table, *, keys: list[str], values: dict, changes: dict):
    dialect = postgresql if db.is_postgres else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_update(index_elements=keys, set_=changes)


def _changed() -> None:
    _routes.clear()
    _down.clear()


async def set_route(db: Database, *, prefix: str, provider: str, cost_per_minute: int) -> str:
    """Add or change what `provider` costs for numbers starting with `prefix`; the prefix as stored."""
    prefix = clean_prefix(prefix)
    if cost_per_minute < 0:
        raise RateError("a cost per minute is never negative")
    changes = dict(cost_per_minute=cost_per_minute, updated_at=utcnow())
    await db.execute(_upsert(db, provider_routes, keys=["prefix", "provider"],
                             values=dict(prefix=prefix, provider=provider, **changes), changes=changes))
    _changed()
    return prefix


async def remove_route(db: Database, *, prefix: str, provider: str) -> bool:
    removed = await db.fetch_val(provider_routes.delete()
                                 .where(provider_routes.c.prefix == clean_prefix(prefix),
                                        provider_routes.c.provider == provider)
                                 .returning(provider_routes.c.prefix))
    _changed()
    return removed is not None


async def list_routes(db: Database):
    return await db.fetch_all(provider_routes.select().order_by(provider_routes.c.prefix,
                                                                provider_routes.c.cost_per_minute,
                                                                provider_routes.c.provider))


async def routes_for(db: Database, *, number: str) -> tuple[tuple[str, int], ...]:
    """(provider, cost per minute) of the longest prefix of `number` that has routes, cheapest first."""
    digits = number.lstrip("+")

    async def load():
        prefixes = [digits[:n] for n in range(1, min(len(digits), 16) + 1)]
        rows = await db.fetch_all(
            sa.select(provider_routes.c.prefix, provider_routes.c.provider, provider_routes.c.cost_per_minute)
            .where(provider_routes.c.prefix.in_(prefixes)))
        if not rows:
            return ()
        longest = max(len(row["prefix"]) for row in rows)
        chosen = sorted((row for row in rows if len(row["prefix"]) == longest),
                        key=lambda row: (row["cost_per_minute"], row["provider"]))
        return tuple((row["provider"], row["cost_per_minute"]) for row in chosen)

    return await _routes.get(digits, load)


async def set_down(db: Database, *, provider: str, down: bool, note: str | None = None) -> None:
    changes = dict(down=down, note=(note or "")[:255] or None, updated_at=utcnow())
    await db.execute(_upsert(db, provider_states, keys=["provider"], values=dict(provider=provider, **changes),
                             changes=changes))
    _changed()


async def down_providers(db: Database) -> frozenset[str]:
    async def load():
        rows = await db.fetch_all(sa.select(provider_states.c.provider).where(provider_states.c.down.is_(True)))
        return frozenset(row["provider"] for row in rows)

    return await _down.get("down", load)


async def list_states(db: Database):
    return await db.fetch_all(provider_states.select().order_by(provider_states.c.provider))
