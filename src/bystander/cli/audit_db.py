"""Opening the database an audit command reads: it must already hold an audit log."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bystander import config
from bystander.errors import InputError
from bystander.evidence.audit import require_audit_tables
from bystander.evidence.db import make_engine


def open_database(url: str | None) -> Engine:
    """An engine for ``url`` (or the configured database) that holds an audit log.

    Never creates anything: a missing SQLite file or missing tables are errors.
    """
    url = url or config.database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or not Path(path).is_file():
            raise InputError(f"no database at {path or url}")
    engine = make_engine(url)
    try:
        require_audit_tables(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
