"""The indicator read-back history: proof from the driver's own timestamps that the light
was ON around a sample.

A sample stamped ``ts`` is *proven ON* when the history holds a read-back at or before
``ts`` and one at or after it, both ON and unoccluded, in the same *run*: a sequence of ON
read-backs each at most ``gap_ns`` after the one before. The proof rests on when the driver
sampled the hardware (``IndicatorReading.at_ns``), not on when a thread got round to asking,
so a sampler that the host starved of CPU leaves an *unproven gap* (samples there are
withheld), never a false fault.

>>> h = ReadbackHistory(gap_ns=100)
>>> h.add(IndicatorReading(True, 0)); h.add(IndicatorReading(True, 80))
>>> h.proof(40).verdict, h.proof(81).verdict
(<Proof.PROVEN: 'proven'>, <Proof.PENDING: 'pending'>)
>>> h.add(IndicatorReading(True, 300))     # a 220 ns gap: too long to prove anything in it
>>> h.proof(200).verdict
<Proof.UNPROVEN: 'unproven'>
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from enum import StrEnum

from bystander.guard.indicator import IndicatorReading

#: Read-backs kept (about 50 s at 20 Hz); a sample older than the oldest kept is unproven.
HISTORY_SIZE = 1024


class Proof(StrEnum):
    PROVEN = "proven"  # ON read-backs on both sides within the gap bound
    UNPROVEN = "unproven"  # a gap too long, an OFF/occluded read-back, or no history before
    PENDING = "pending"  # no read-back at or after the sample yet: wait for the next one


@dataclass(frozen=True, slots=True)
class ProofResult:
    """The verdict for one stamp, with the bracketing read-backs when proven."""

    verdict: Proof
    run: int = -1
    before_ns: int | None = None
    after_ns: int | None = None


def _lit(reading: IndicatorReading) -> bool:
    return reading.on and reading.occluded is not True


class ReadbackHistory:
    """Thread-safe, append-mostly history of read-backs (one per sampler poll).

    ``add`` is cheap and takes only this object's own lock (never the session's), so the
    sampler is never held up by evidence writing or frame work. ``wait_after`` lets a
    releasing thread wait (on the real clock) for the next read-back.
    """

    def __init__(self, gap_ns: int, size: int = HISTORY_SIZE) -> None:
        if gap_ns <= 0:
            raise ValueError("gap_ns must be positive")
        self.gap_ns = gap_ns
        self.size = size
        self._cond = threading.Condition(threading.Lock())
        self._at: list[int] = []
        self._lit: list[bool] = []
        self._run: list[int] = []
        self._runs = 0
        self.count = 0
        self.last: IndicatorReading | None = None

    def reset(self) -> None:
        with self._cond:
            self._at.clear()
            self._lit.clear()
            self._run.clear()
            self._runs = 0
            self.count = 0
            self.last = None
            self._cond.notify_all()

    def add(self, reading: IndicatorReading) -> None:
        """Record one read-back (an out-of-order one, older than the latest, is ignored)."""
        with self._cond:
            if self._at and reading.at_ns < self._at[-1]:
                return
            lit = _lit(reading)
            joined = (
                lit
                and bool(self._at)
                and self._lit[-1]
                and reading.at_ns - self._at[-1] <= self.gap_ns
            )
            if lit and not joined:
                self._runs += 1
            self._at.append(reading.at_ns)
            self._lit.append(lit)
            self._run.append(self._runs if lit else -1)
            self.count += 1
            self.last = reading
            if len(self._at) > 2 * self.size:
                drop = len(self._at) - self.size
                del self._at[:drop], self._lit[:drop], self._run[:drop]
            self._cond.notify_all()

    @property
    def latest_ns(self) -> int | None:
        with self._cond:
            return self._at[-1] if self._at else None

    def proof(self, ts_ns: int) -> ProofResult:
        """Whether the indicator is proven ON at ``ts_ns`` (see the module docstring)."""
        with self._cond:
            if not self._at or self._at[-1] < ts_ns:
                return ProofResult(Proof.PENDING)
            after = bisect_left(self._at, ts_ns)
            before = bisect_right(self._at, ts_ns) - 1
            if before < 0:
                return ProofResult(Proof.UNPROVEN)
            run = self._run[before]
            if run < 0 or self._run[after] != run:
                return ProofResult(Proof.UNPROVEN)
            return ProofResult(Proof.PROVEN, run, self._at[before], self._at[after])

    def reads(self, run: int, low_ns: int, high_ns: int) -> list[int]:
        """The read-back times of ``run`` in ``[low_ns, high_ns]`` (the evidence of a proof)."""
        with self._cond:
            start = bisect_left(self._at, low_ns)
            end = bisect_right(self._at, high_ns)
            return [self._at[i] for i in range(start, end) if self._run[i] == run]

    def wait_after(self, ts_ns: int, timeout_s: float) -> bool:
        """Wait (real time) until a read-back at or after ``ts_ns`` exists; True if one does."""
        with self._cond:
            return self._cond.wait_for(
                lambda: bool(self._at) and self._at[-1] >= ts_ns, timeout=timeout_s
            )
