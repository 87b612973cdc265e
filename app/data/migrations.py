"""`callback-platform db upgrade`: Alembic, driven from the app's settings."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from app.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(settings: Settings) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.is_sqlite:
        _use_wal(settings)
    command.upgrade(alembic_config(settings), revision)


def _use_wal(settings: Settings) -> None:
    # WAL lets the portal read while webhooks write; it is a property of the file.
    from app.data.db import sync_engine

    engine = sync_engine(settings)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    engine.dispose()
