"""Where Bystander keeps its state: ``BYSTANDER_HOME`` and ``BYSTANDER_DATABASE_URL``."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

HOME_ENV = "BYSTANDER_HOME"
DATABASE_URL_ENV = "BYSTANDER_DATABASE_URL"


def home() -> Path:
    """The data folder: ``$BYSTANDER_HOME``, else the user's data directory. Created on use."""
    configured = os.environ.get(HOME_ENV)
    path = Path(configured).expanduser() if configured else Path(user_data_dir("bystander"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """``$BYSTANDER_DATABASE_URL`` (``postgresql+psycopg://...``), else SQLite in home."""
    configured = os.environ.get(DATABASE_URL_ENV)
    if configured:
        if configured.startswith("postgresql://") or configured.startswith("postgres://"):
            # SQLAlchemy's default PostgreSQL driver is psycopg2; we ship psycopg 3.
            return "postgresql+psycopg://" + configured.split("://", 1)[1]
        return configured
    return f"sqlite:///{home() / 'bystander.db'}"


def keys_dir() -> Path:
    """Secret keys live here, outside the database (mode 0700)."""
    path = home() / "keys"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
