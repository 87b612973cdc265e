"""Alembic takes its database URL from the app's settings, never from alembic.ini."""

from alembic import context

from app.data.db import sync_engine
from app.core.settings import load_settings
from app.data.tables import metadata

config = context.config
settings = config.attributes.get("settings") or load_settings()


def run_migrations_offline() -> None:
    from app.data.db import sync_url

    context.configure(url=sync_url(settings), target_metadata=metadata, literal_binds=True,
                      render_as_batch=settings.is_sqlite)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = sync_engine(settings)
    with engine.connect() as connection:
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=settings.is_sqlite)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
