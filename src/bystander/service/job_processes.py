"""Job work in worker processes, so protect and screen jobs never hold the server's GIL.

Each job worker thread of ``JobRunner`` owns one ``ProcessSlot``: a spawned process (no fork
of a threaded server) that runs one job at a time. The thread sends the job's ``Task`` (a
module-level builder, pickled by reference) and the job; the process builds the work there,
runs it and sends back its progress (at most ten messages a second), then the result or a
one-line error. The thread waits on the pipe, so the server's event loop only shares its
GIL with threads that are blocked. A process that dies mid-job fails that job ("the worker
process died") and is started again for the next one. A process dies with its server: the
kernel kills it when the thread that started it ends (``PR_SET_PDEATHSIG``), and a progress
message it cannot send ends its job.

Worker processes run at a lower CPU priority (``JOB_NICENESS``): on a small machine whose
cores the jobs fill, the server's event loop (consent checks, ``/health``) is scheduled first
and the jobs take what is left (BENCHMARKS.md, issue 18).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

from bystander.service.job_model import JobInfo, Progress, Task, set_job_engine
from bystander.service.messages import public_line

_PROGRESS_EVERY = 0.1  # seconds between progress messages from a worker process
_CONTEXT = multiprocessing.get_context("spawn")
#: added to a worker process's nice value before it starts any thread (threads inherit it)
JOB_NICENESS = 10


class WorkerDied(RuntimeError):
    """The worker process ended in the middle of a job."""


class ProcessSlot:
    """One worker process and the pipe to it (used by one thread at a time)."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self._process: Any = None
        self._conn: Connection | None = None

    def run(self, task: Task, job: JobInfo, progress: Progress) -> dict[str, Any]:
        """Run ``task`` for ``job`` in the process; its result, or raise its error."""
        conn = self._ensure()
        try:
            conn.send((task.build, job))
            while True:
                message = conn.recv()
                if message[0] == "progress":
                    progress(message[1], message[2])
                elif message[0] == "done":
                    result: dict[str, Any] = message[1]
                    return result
                else:
                    raise RuntimeError(message[1])
        except (EOFError, OSError):
            self.close()
            raise WorkerDied("the worker process died") from None

    def close(self) -> None:
        """Stop the process (a job it runs is abandoned)."""
        conn, process, self._conn, self._process = self._conn, self._process, None, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    def _ensure(self) -> Connection:
        if self._conn is None or self._process is None or not self._process.is_alive():
            self.close()
            parent, child = _CONTEXT.Pipe()
            process = _CONTEXT.Process(target=_serve, args=(child, self.database_url),
                                       name="bystander-job-process", daemon=True)  # fmt: skip
            process.start()
            child.close()
            self._conn, self._process = parent, process
        return self._conn


def _serve(conn: Connection, database_url: str | None) -> None:
    """The worker process: run jobs from ``conn`` until it closes or sends None."""
    _die_with_parent()
    _lower_priority()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    from bystander.service.native import prime_native_bindings

    prime_native_bindings()
    if database_url:
        from bystander.evidence.db import make_engine

        set_job_engine(make_engine(database_url))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        build, job = message
        try:
            result = build(job)(_Reporter(conn))
        except Exception as exc:
            reply: tuple[Any, ...] = ("failed", public_line(exc))
        else:
            reply = ("done", result)
        try:
            conn.send(reply)
        except OSError:  # the server is gone
            return


class _Reporter:
    """The job's progress callback in the worker process: throttled messages to the pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.last = conn, 0.0

    def __call__(self, share: float, message: str = "") -> None:
        now = time.monotonic()
        if share >= 1.0 or now - self.last >= _PROGRESS_EVERY:
            self.last = now
            self.conn.send(("progress", float(share), str(message)[:200]))


def _lower_priority() -> None:
    """Yield the CPU to the server: jobs are batch work, requests are not."""
    with contextlib.suppress(OSError):
        os.nice(JOB_NICENESS)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that started it ends."""
    if not os.path.exists("/proc/self"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the server already died before the call
            os._exit(1)
