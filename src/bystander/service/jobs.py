"""Background jobs: long work (protecting a video) runs on worker threads; callers poll.

Every job is a row in ``service_jobs`` (state ``queued``, ``running``, ``done``, ``failed``;
progress from 0 to 1; a one-line message; a result; its folder and the parameters needed to
run it again), so a restart loses none: :meth:`JobRunner.recover` runs unfinished jobs again
where their kind can be rebuilt from its parameters, and marks the rest failed. Workers are
sized to the machine (half the CPUs, 2 to 8), and the queue is fair: owners take turns, so
one client's long batch does not hold everyone else's jobs. With ``processes`` (what
``bystander serve`` uses), each worker thread hands ``Task`` work to a worker process of its
own (``service.job_processes``), so heavy jobs do not hold the GIL of the process that
answers requests; a live capture session's work stays on its thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from bystander.evidence.db import session_scope
from bystander.service.job_model import (
    Builder,
    JobInfo,
    Task,
    Work,
    _worker_engine,
)
from bystander.service.messages import public_line
from bystander.service.native import prime_native_bindings
from bystander.service.tables import ServiceJob

log = logging.getLogger(__name__)

UNFINISHED = ("queued", "running")
MAX_ATTEMPTS = 3  # a job that was running at three crashes is not tried a fourth time
_SAVE_EVERY = 0.5  # seconds between progress writes of one job
_STORE_TRIES = 5  # a final state is written again (backing off) when the database refuses


def default_workers() -> int:
    return max(2, min(8, (os.cpu_count() or 2) // 2))


class JobRunner:
    """Worker threads over a fair queue, with every job's state in the database. With
    ``processes`` each thread runs ``Task`` work in a worker process of its own (see
    ``service.job_processes``), whose writes go to ``database_url``. With ``ray`` each thread
    runs portable tasks on a Ray actor of its own (``service.job_ray``), on the cluster at
    ``ray_address`` or on one started here."""

    def __init__(
        self,
        engine: Engine | None = None,
        workers: int = 0,
        on_end: Callable[[JobInfo], None] | None = None,
        *,
        processes: bool = False,
        database_url: str | None = None,
        ray: bool = False,
        ray_address: str | None = None,
    ) -> None:
        self.engine = engine
        self.on_end = on_end
        self.processes = processes
        self.database_url = database_url
        self.ray = ray
        self._jobs: dict[str, JobInfo] = {}
        self._saved: dict[str, float] = {}
        self._queues: OrderedDict[str, deque[tuple[str, Work | Task]]] = OrderedDict()
        self._cond = threading.Condition()
        self._closing = False
        prime_native_bindings()  # before two workers can make a first inference call at once
        count = workers or default_workers()
        if ray:
            from bystander.service.job_ray import connect_cluster

            connect_cluster(ray_address, count)
        self._threads = [
            threading.Thread(target=self._worker, name=f"bystander-job-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def workers(self) -> int:
        return len(self._threads)

    def submit(self, kind: str, owner: str, work: Work | Task, *, folder: str = "",
               params: Mapping[str, Any] | None = None) -> JobInfo:  # fmt: skip
        """Queue ``work`` (stored first); it gets a progress callback, returns the result."""
        job = JobInfo(uuid.uuid4().hex, kind, owner, folder=folder, params=dict(params or {}))
        return self.submit_job(job, work)

    def submit_job(self, job: JobInfo, work: Work | Task) -> JobInfo:
        """Queue ``job`` (its id chosen by the caller) with ``work``."""
        self._store(job, new=True)
        self._enqueue(job, work)
        return job

    def get(self, job_id: str) -> JobInfo | None:
        with self._cond:
            found = self._jobs.get(job_id)
        return found if found is not None else self._load(job_id)

    def recover(self, rebuild: Mapping[str, Builder | Task]) -> tuple[list[str], list[str]]:
        """After a restart: queue again every unfinished job whose kind can be rebuilt, mark
        the others failed. Returns (resumed ids, failed ids)."""
        if self.engine is None:
            return [], []
        with session_scope(self.engine) as session:
            rows = session.scalars(select(ServiceJob).where(ServiceJob.state.in_(UNFINISHED))
                                   .order_by(ServiceJob.created_at)).all()  # fmt: skip
            jobs = [(_info(row), row.attempts or 0) for row in rows]
        resumed, failed = [], []
        for job, attempts in jobs:
            maker = rebuild.get(job.kind) if attempts < MAX_ATTEMPTS else None
            if maker is None:
                ended = replace(
                    job,
                    state="failed",
                    message="interrupted by a server restart (cannot be resumed)",
                )
                self._store(ended)
                self._end(ended)
                failed.append(job.id)
                continue
            queued = replace(job, state="queued", progress=0.0,
                             message="resumed after a server restart")  # fmt: skip
            self._store(queued)
            self._enqueue(queued, maker if isinstance(maker, Task) else Task(maker))
            resumed.append(job.id)
        return resumed, failed

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; a running job finishes (``wait``) or is resumed next start."""
        with self._cond:
            self._closing = True
            self._queues.clear()
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()
        if self.ray:
            from bystander.service.job_ray import disconnect_cluster

            disconnect_cluster()

    # -- internals ------------------------------------------------------------------------

    def _enqueue(self, job: JobInfo, work: Work | Task) -> None:
        with self._cond:
            self._jobs[job.id] = job
            self._queues.setdefault(job.owner, deque()).append((job.id, work))
            self._cond.notify()

    def _next(self) -> tuple[str, Work | Task] | None:
        """The next job, owners in turn (the served owner goes to the back)."""
        with self._cond:
            while not self._queues and not self._closing:
                self._cond.wait()
            if self._closing:
                return None
            owner, queue = next(iter(self._queues.items()))
            item = queue.popleft()
            del self._queues[owner]
            if queue:
                self._queues[owner] = queue
            return item

    def _worker(self) -> None:
        """Runs jobs until shutdown. Nothing a job or the database raises ends this thread:
        a job that cannot run ends failed (or, if even that cannot be stored, is resumed at
        the next start, as after a crash)."""
        _worker_engine.engine = self.engine
        slot = remote = None
        if self.processes:
            from bystander.service.job_processes import ProcessSlot

            slot = ProcessSlot(self.database_url)
        if self.ray:
            from bystander.service.job_ray import RaySlot

            remote = RaySlot()
        try:
            while (item := self._next()) is not None:
                try:
                    self._run(*item, slot=slot, remote=remote)
                except Exception:
                    log.exception("job %s: the worker could not run it", item[0])
                    self._fail(item[0], "internal error: the job could not be run")
        finally:
            for used in (slot, remote):
                if used is not None:
                    used.close()

    def _run(self, job_id: str, work: Work | Task, slot: Any = None, remote: Any = None) -> None:
        job = self._update(job_id, state="running")

        def progress(share: float, message: str = "") -> None:
            share = max(0.0, min(1.0, float(share)))
            try:
                self._update(job_id, save=False, progress=share, message=message[:200])
            except Exception:  # progress is advisory: a refused write never stops the work
                log.warning("job %s: progress not stored", job_id, exc_info=True)

        try:
            if isinstance(work, Task) and work.portable and remote is not None:
                result = remote.run(work, job, progress)
            elif isinstance(work, Task) and slot is not None:
                result = slot.run(work, job, progress)
            elif isinstance(work, Task):
                result = work.build(job)(progress)
            else:
                result = work(progress)
        except Exception as exc:  # the job fails; the server goes on
            changes: dict[str, Any] = {"state": "failed", "message": public_line(exc)}
        else:
            changes = {"state": "done", "progress": 1.0, "message": "done", "result": result}
        self._finish(job_id, changes)

    def _finish(self, job_id: str, changes: dict[str, Any]) -> None:
        with self._cond:
            ended = self._jobs[job_id] = replace(self._jobs[job_id], **changes)
            self._saved.pop(job_id, None)
        self._end(ended)  # clean-up first: a finished job has no original left behind
        self._store_final(ended)

    def _fail(self, job_id: str, message: str) -> None:
        with self._cond:
            if job_id not in self._jobs or self._jobs[job_id].state in ("done", "failed"):
                return
        with contextlib.suppress(Exception):
            self._finish(job_id, {"state": "failed", "message": message})

    def _store_final(self, job: JobInfo) -> None:
        """Store an ended job, trying again while the database is busy; if it never takes,
        the row stays unfinished and the next start resumes or fails it."""
        for attempt in range(_STORE_TRIES):
            try:
                self._store(job)
                return
            except Exception:
                if attempt == _STORE_TRIES - 1:
                    log.exception("job %s: its final state was not stored", job.id)
                    return
                time.sleep(0.2 * 2**attempt)

    def _end(self, job: JobInfo) -> None:
        if self.on_end is not None:
            with contextlib.suppress(Exception):  # retention retries clean-up; state stands
                self.on_end(job)

    def _update(self, job_id: str, save: bool = True, **changes: Any) -> JobInfo:
        with self._cond:
            job = self._jobs[job_id] = replace(self._jobs[job_id], **changes)
        now = time.monotonic()
        if save or now - self._saved.get(job_id, 0.0) >= _SAVE_EVERY:
            self._saved[job_id] = now
            self._store(job)
        return job

    def _store(self, job: JobInfo, new: bool = False) -> None:
        if self.engine is None:
            return
        now = datetime.now(UTC)
        with session_scope(self.engine) as session:
            row = None if new else session.get(ServiceJob, job.id)
            if row is None:
                row = ServiceJob(id=job.id, kind=job.kind, owner=job.owner, attempts=0,
                                 created_at=datetime.fromisoformat(job.created_at))  # fmt: skip
                session.add(row)
            if job.state == "running" and row.state != "running":
                row.attempts = (row.attempts or 0) + 1
            row.state, row.progress, row.message = job.state, job.progress, job.message[:500]
            row.result, row.params = json.dumps(job.result), json.dumps(job.params)
            row.folder, row.updated_at = job.folder, now

    def _load(self, job_id: str) -> JobInfo | None:
        if self.engine is None or len(job_id) > 32:
            return None
        with session_scope(self.engine) as session:
            row = session.get(ServiceJob, job_id)
            return _info(row) if row is not None else None


def _info(row: ServiceJob) -> JobInfo:
    return JobInfo(row.id, row.kind, row.owner, row.state, row.progress, row.message,
                   json.loads(row.result or "{}"),
                   row.created_at.isoformat(timespec="seconds"), row.folder,
                   json.loads(row.params or "{}"))  # fmt: skip
