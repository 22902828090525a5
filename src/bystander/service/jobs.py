"""Background jobs: long work (protecting a video) runs on worker threads; callers poll.

Jobs live in memory for the life of the server process (a restart forgets them; their files
stay under the home folder). Each has an owner (the token that started it), a state
(``queued``, ``running``, ``done``, ``failed``), progress from 0 to 1, a one-line message and
a result.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

Progress = Callable[[float, str], None]


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

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state,
                "progress": round(self.progress, 3), "message": self.message,
                "result": self.result, "created_at": self.created_at}  # fmt: skip


class JobRunner:
    """A small pool of worker threads running submitted jobs."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bystander-job")
        self._jobs: dict[str, JobInfo] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, owner: str, work: Callable[[Progress], dict[str, Any]]) -> JobInfo:
        """Queue ``work``; it gets a progress callback and returns the job's result."""
        job = JobInfo(uuid.uuid4().hex, kind, owner)
        self._set(job)
        self._pool.submit(self._run, job.id, work)
        return job

    def get(self, job_id: str) -> JobInfo | None:
        with self._lock:
            return self._jobs.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str, work: Callable[[Progress], dict[str, Any]]) -> None:
        self._update(job_id, state="running")

        def progress(share: float, message: str = "") -> None:
            self._update(job_id, progress=max(0.0, min(1.0, share)), message=message)

        try:
            result = work(progress)
        except Exception as exc:  # the job fails; the server goes on
            text = str(exc).strip().splitlines()
            self._update(job_id, state="failed", message=text[0] if text else type(exc).__name__)
            return
        self._update(job_id, state="done", progress=1.0, message="done", result=result)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _set(self, job: JobInfo) -> None:
        with self._lock:
            self._jobs[job.id] = job
