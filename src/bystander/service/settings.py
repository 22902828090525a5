"""Settings of `bystander serve`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSettings:
    """``database_url`` None: SQLite in BYSTANDER_HOME (or BYSTANDER_DATABASE_URL)."""

    database_url: str | None = None
    max_upload_bytes: int = 512 * 1024 * 1024
