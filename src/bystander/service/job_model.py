"""What a service job is, apart from how it runs: its record (``JobInfo``), its work
(``Work``, or a ``Task`` that may run in a worker process or on Ray), and the database a
job's own writes go to. The runner (``service.jobs``) and the places work runs
(``service.job_processes``, ``service.job_ray``) all build on this module."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

Progress = Callable[[float, str], None]
Work = Callable[[Progress], dict[str, Any]]
#: Builds a job's work from its row (when it is queued, and again after a restart).
Builder = Callable[["JobInfo"], Work]


@dataclass(frozen=True)
class JobInfo:
    id: str
    kind: str
    owner: str
    state: str = "queued"
    progress: float = 0.0
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    folder: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state,
                "progress": round(self.progress, 3), "message": self.message,
                "result": self.result, "created_at": self.created_at}  # fmt: skip


@dataclass(frozen=True)
class Task:
    """Work that may run in a worker process: ``build`` (a module-level function, pickled by
    reference) makes the work from the job there. Other work runs on the worker thread.
    ``portable``: the work only reads and writes plain files at the top of the job's folder
    (no database, no other path), so it may also run on another machine (``--ray``)."""

    build: Builder
    portable: bool = False


_job_engine: Engine | None = None
_worker_engine = threading.local()  # a runner's worker thread: that runner's engine


def set_job_engine(engine: Engine | None) -> None:
    """The database a job's work writes to in this process (each worker process sets it
    from the server's database URL)."""
    global _job_engine
    _job_engine = engine


def job_engine() -> Engine:
    """The database for a job's own writes (a screening job's queue item): the runner's,
    on its worker threads; the process's, in a worker process."""
    engine: Engine | None = getattr(_worker_engine, "engine", None) or _job_engine
    if engine is None:
        raise RuntimeError("no database for job work in this process")
    return engine
