"""The database handle and the clock every query agrees on."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from databases import Database

from app.settings import Settings


def utcnow() -> dt.datetime:
    # Naive UTC: SQLite has no time zones, and both backends must compare alike.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def storable(text: str | None, limit: int) -> str:
    """Text as both backends can store it: PostgreSQL refuses NUL characters outright."""
    return (text or "").replace("\x00", "")[:limit]


def make_database(settings: Settings) -> Database:
    if settings.is_sqlite:
        # Writers wait for each other instead of failing with "database is locked".
        return Database(settings.database_url, timeout=15)
    return Database(settings.database_url, min_size=2, max_size=10)


def sync_url(settings: Settings) -> str:
    """The URL for synchronous tools (Alembic): psycopg 3 on PostgreSQL."""
    if settings.database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + settings.database_url[len("postgresql://") :]
    return settings.database_url


def sync_engine(settings: Settings) -> sa.Engine:
    return sa.create_engine(sync_url(settings))
