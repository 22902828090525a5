"""Pipeline stages on threads: overlap decoding, detection and encoding on a multi-core CPU.

FFmpeg (through PyAV) and OpenVINO release the GIL while they work, so a decoder thread, the
caller's detection loop and an encoder thread run at the same time. Both helpers keep order,
bound their queues (a slow stage holds the others back instead of filling memory) and hand
the first error back to the caller, so a failure anywhere stops the whole job.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.05
_END = object()


def _put(q: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; returns whether it was put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(
    items: Iterator[T], depth: int = 8, name: str = "prefetch"
) -> Generator[T, None, None]:
    """Iterate ``items`` on a background thread, up to ``depth`` items ahead of the caller.

    An exception raised by ``items`` is re-raised in the caller at that point of the
    sequence. When the caller stops early (break or error), the thread is stopped and
    joined before this generator returns, so ``items``' resources can be closed safely.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(buffer, item, stop):
                    return
            _put(buffer, _END, stop)
        except BaseException as exc:
            _put(buffer, _Failure(exc), stop)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                buffer.get(timeout=_POLL_SECONDS)
        thread.join()


class Worker:
    """Runs submitted jobs in order on one thread.

    The first job that raises stops the rest (they are skipped); its exception is raised
    by the next ``submit`` or by ``close``. Use as a context manager: leaving the block
    normally waits for every job (and raises a job's error); leaving it with an exception
    discards the jobs not yet run.
    """

    def __init__(self, name: str = "worker", depth: int = 8) -> None:
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        self._closed = False

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._error is not None or self._cancelled.is_set():
                continue
            try:
                job()
            except BaseException as exc:
                self._error = exc

    def submit(self, job: Callable[[], object]) -> None:
        """Queue ``job``; raises the error of an earlier job if one failed."""
        self._raise()
        self._jobs.put(job)

    def close(self) -> None:
        """Wait for every queued job; raise the first job error, if any."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()
        self._raise()

    def cancel(self) -> None:
        """Skip the jobs not yet started and stop the thread (errors are dropped)."""
        if not self._closed:
            self._closed = True
            self._cancelled.set()
            self._jobs.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()
