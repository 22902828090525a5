"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from bystander.evidence import migrate
from bystander.evidence.db import Base, init_db, load_table_modules


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    load_table_modules()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_database_is_at_the_head_revision_and_init_is_idempotent(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None and head >= "0003"
    assert migrate.current_revision(engine) == head
    init_db(engine)  # running again changes nothing
    assert migrate.current_revision(engine) == head
    tables = set(inspect(engine).get_table_names())
    assert {"audit_entries", "consent_records", "stored_items", "biometric_templates"} <= tables
