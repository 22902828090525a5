"""Clocks for the capture guard: the system's monotonic clock, and a fake one for tests.

Every time the guard records (sample stamps, read-back times, faults) is a reading of one
``Clock``, in nanoseconds, so the audit log can be replayed against a single time base.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


class Clock(Protocol):
    """A monotonic clock the guard reads and sleeps on."""

    def monotonic_ns(self) -> int:
        """Now, in nanoseconds (only differences mean anything)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class SystemClock:
    """The host's monotonic clock (``time.monotonic_ns``)."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A thread-safe clock that moves only when told to.

    ``advance(ns)`` moves it forward. ``sleep`` either advances the clock itself
    (``auto_advance=True``, the default: single-threaded tests stay deterministic) or blocks
    until another thread has advanced the clock far enough.

    >>> clock = FakeClock()
    >>> clock.advance(5)
    >>> clock.monotonic_ns()
    5
    """

    def __init__(self, start_ns: int = 0, auto_advance: bool = True) -> None:
        self._now = start_ns
        self._auto = auto_advance
        self._changed = threading.Condition()

    def monotonic_ns(self) -> int:
        with self._changed:
            return self._now

    def advance(self, ns: int) -> None:
        """Move the clock ``ns`` nanoseconds forward (never backwards)."""
        if ns < 0:
            raise ValueError("a monotonic clock never goes back")
        with self._changed:
            self._now += ns
            self._changed.notify_all()

    def advance_ms(self, ms: float) -> None:
        self.advance(round(ms * NS_PER_MS))

    def sleep(self, seconds: float) -> None:
        ns = max(0, round(seconds * NS_PER_S))
        if self._auto:
            self.advance(ns)
            return
        with self._changed:
            until = self._now + ns
            while self._now < until:
                self._changed.wait()
