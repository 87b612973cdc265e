"""Queries for the operator's limits on a single call, kept as `policy.<name>` rows of instance_settings."""

from __future__ import annotations

from app.data.db import Database
from app.data.tables import instance_settings

PREFIX = "policy."


async def read(db: Database, *, names) -> dict[str, int]:
    """The limits among `names` that are set."""
    rows = await db.fetch_all(instance_settings.select().where(instance_settings.c.key.in_(
        [PREFIX + name for name in names])))
    return {row["key"].removeprefix(PREFIX): int(row["value"]) for row in rows}


async def write(db: Database, *, name: str, value: int | None) -> None:
    """Set the limit, or remove it (None)."""
    key = PREFIX + name
    await db.execute(instance_settings.delete().where(instance_settings.c.key == key))
    if value is not None:
        await db.execute(instance_settings.insert().values(key=key, value=str(value)))
