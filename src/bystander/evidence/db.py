"""Database access: one SQLAlchemy engine per URL, SQLite by default, PostgreSQL by URL.

Every table of every package derives from ``Base``; the schema is created and upgraded by
the Alembic migrations in ``bystander/evidence/migrations`` (``init_db``).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, Engine, TypeDecorator, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from bystander import config


class Base(DeclarativeBase):
    """Declarative base for all Bystander tables."""


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored
    naive, in UTC. A naive value passed in is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: ``config.database_url()``).

    SQLite gets WAL journalling, ``synchronous=FULL`` (an acknowledged write survives a
    crash) and foreign keys; PostgreSQL uses its defaults (``fsync`` on commit).
    """
    url = url or config.database_url()
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def scratch_database(url: str | None = None) -> Iterator[Engine]:
    """A throwaway, initialised database, removed afterwards (tests and benchmarks).

    Without ``url``: a SQLite file in a temporary folder. With a PostgreSQL ``url``: a private
    schema in that database, dropped at the end.
    """
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="bystander-db-") as folder:
            engine = make_engine(url or f"sqlite:///{Path(folder) / 'scratch.db'}")
            try:
                init_db(engine)
                yield engine
            finally:
                engine.dispose()
        return
    schema = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        init_db(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


#: Modules that define tables; importing them registers their tables on ``Base.metadata``.
TABLE_MODULES: tuple[str, ...] = (
    "bystander.evidence.audit",
    "bystander.consent.tables",
    "bystander.evidence.retention",
    "bystander.evidence.vault",
    "bystander.screening.tables",
    "bystander.service.tables",
)


def load_table_modules() -> None:
    import importlib

    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # pragma: no cover - a table module went missing
            raise RuntimeError(f"table module {name} is missing") from exc


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema by running the Alembic migrations."""
    from bystander.evidence import migrate

    load_table_modules()
    migrate.upgrade(engine)
