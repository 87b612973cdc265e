"""Per-installation values: the secret key (the provider credentials are in app/providers/credentials.py)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.core import security
from app.data.db import Database
from app.core.settings import Settings
from app.data.tables import instance_settings

log = logging.getLogger(__name__)


async def resolve_secret_key(db: Database, settings: Settings) -> str:
    """SECRET_KEY, or one generated on first start and kept in the database.

    PIN hashes are keyed with it, so a key that changed on every restart would
    lock every subscriber out; keeping it with the data keeps them valid.
    """
    if settings.secret_key:
        return settings.secret_key
    stored = await db.fetch_val(sa.select(instance_settings.c.value).where(instance_settings.c.key == "secret_key"))
    if stored:
        return stored
    dialect = postgresql if db.is_postgres else sqlite
    await db.execute(
        dialect.insert(instance_settings)
        .values(key="secret_key", value=security.new_secret_key())
        .on_conflict_do_nothing(index_elements=["key"])
    )
    log.warning("SECRET_KEY is not set: using a generated key stored in the database. "
                "Set SECRET_KEY in production so it survives a database restore.")
    # Re-read: another instance may have won the insert.
    return await db.fetch_val(sa.select(instance_settings.c.value).where(instance_settings.c.key == "secret_key"))
