"""The migrations create exactly the schema of app/data/tables.py, and can be undone."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.data.migrations import alembic_config, upgrade
from app.data.tables import metadata


def test_migrated_database_matches_the_schema(settings, engine):
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(settings, engine):
    command.downgrade(alembic_config(settings), "base")
    with engine.connect() as connection:
        assert set(engine.dialect.get_table_names(connection)) <= {"alembic_version"}
    upgrade(settings)
    with engine.connect() as connection:
        assert {t.name for t in metadata.sorted_tables} <= set(engine.dialect.get_table_names(connection))
