"""What both peers share: their settings, read from the app's own environment variables, and their outbox table."""

from __future__ import annotations

import os

# The peers' own outbox: they never write into the app's tables. Plain SQL that SQLite and PostgreSQL both take.
OUTBOX_DDL = """CREATE TABLE IF NOT EXISTS peer_outbox (
    call_sid TEXT PRIMARY KEY,
    caller TEXT,
    called TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""

# Taken inside the transaction that creates the table on PostgreSQL: the workers start together, and two
# concurrent CREATE TABLE IF NOT EXISTS may still collide in the catalogue.
DDL_LOCK = 0x70656572  # "peer"


def settings() -> tuple[str, str, str]:
    """(DATABASE_URL, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL without a trailing slash)."""
    return (os.environ["DATABASE_URL"], os.environ["TWILIO_AUTH_TOKEN"],
            os.environ["PUBLIC_BASE_URL"].rstrip("/"))


def sqlite_path(url: str) -> str | None:
    """The file of a sqlite:/// URL; None for any other database."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///", "sqlite+aiosqlite:///"):
        if url.startswith(prefix):
            return url[len(prefix):]
    return None


def postgres_dsn(url: str) -> str:
    """A libpq URL (what asyncpg and psycopg take) from the app's spelling of it."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.split("+")[0] in ("postgres", "postgresql") else url
