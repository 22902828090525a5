"""Refused requests (401, 403, 404 on ``/api``) become audit events, written off the event loop.

A hostile client can send thousands of bad requests a second; writing each to the audit log
on the event loop would stall every other client, and an unbounded queue would grow without
limit. So refusals go into a bounded queue that one thread drains; when the queue is full
(or more than ``BURST`` arrive within a second) the extra ones are counted, and the next
event written carries ``"suppressed": N``, so the log still says how many were refused.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from bystander.evidence.events import AuditEvent, EventSink, EventType

BURST = 50  # refusals written per second at most; the rest are counted


class RefusalLog:
    """A background writer of ``api.access_denied`` events."""

    def __init__(self, sink: EventSink, capacity: int = 1000) -> None:
        self.sink = sink
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._suppressed = 0
        self._window = (0.0, 0)  # (second started, events in it)
        self._thread = threading.Thread(target=self._drain, name="bystander-refusals",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def record(self, status: int, method: str, path: str, **extra: Any) -> None:
        """Queue one refusal (never blocks; counted instead when over the limits)."""
        now = time.monotonic()
        with self._lock:
            start, count = self._window
            if now - start >= 1.0:
                start, count = now, 0
            if count >= BURST:
                self._suppressed += 1
                self._window = (start, count)
                return
            self._window = (start, count + 1)
        data = {"status": status, "method": method, "path": path[:300], **extra}
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            with self._lock:
                self._suppressed += 1

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _drain(self) -> None:
        while (data := self._queue.get()) is not None:
            with self._lock:
                suppressed, self._suppressed = self._suppressed, 0
            if suppressed:
                data["suppressed"] = suppressed
            try:
                self.sink.append(AuditEvent(type=EventType.API_ACCESS_DENIED, data=data))
            except Exception:  # the log is unavailable: count it, keep serving
                with self._lock:
                    self._suppressed += 1 + suppressed
