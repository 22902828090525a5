"""The proof ledger: the evidence, in the audit log, that every released sample lay inside an
interval proven ON, and what was withheld for lack of proof.

Released samples are grouped by the read-back run that proved them; each group is logged as
one ``capture.proven_on`` event with the run's read-back times from the first proof to the
last (``first_read_ns`` and ``read_steps_ns``, the gaps between consecutive read-backs as a
comma-separated string: a list of numbers would look like an embedding to the audit log's
payload guard), the count and the first and last stamps of the samples it covers. An
auditor (``bystander audit replay``) checks from those alone that consecutive read-backs are
at most the logged gap apart and that the samples lie between the first and last read-back.
A long run is logged in chunks of at most ``MAX_READS`` read-backs. Samples withheld because
their interval was unproven are logged as ``capture.withheld`` events, one per contiguous run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from bystander.evidence.events import EventType
from bystander.guard.readback import ProofResult, ReadbackHistory

#: Read-back times per ``capture.proven_on`` event (about 25 s at 20 Hz).
MAX_READS = 512

Emit = Callable[..., None]


@dataclass
class _Chunk:
    run: int
    reads: list[int]
    released: int = 0
    first_ns: int = 0
    last_ns: int = 0


@dataclass
class _Gap:
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class ProofLedger:
    """Accumulates the session's proof evidence; ``emit(kind, reason=None, **data)`` logs."""

    def __init__(self, history: ReadbackHistory, emit: Emit) -> None:
        self.history = history
        self.emit = emit
        self._chunk: _Chunk | None = None
        self._gap: _Gap | None = None
        self.unproven = 0  # samples withheld for lack of proof
        self.gaps = 0  # withheld runs logged

    def released(self, ts_ns: int, proof: ProofResult) -> None:
        """A sample stamped ``ts_ns`` was released on ``proof`` (PROVEN)."""
        assert proof.before_ns is not None and proof.after_ns is not None
        self._close_gap()
        chunk = self._chunk
        if chunk is not None and chunk.run == proof.run and len(chunk.reads) < MAX_READS:
            if proof.after_ns > chunk.reads[-1]:
                chunk.reads += self.history.reads(proof.run, chunk.reads[-1] + 1, proof.after_ns)
            if proof.before_ns < chunk.reads[0]:  # a sample stamped before the others
                earlier = self.history.reads(proof.run, proof.before_ns, chunk.reads[0] - 1)
                chunk.reads[:0] = earlier
        else:
            self._close_chunk()
            reads = self.history.reads(proof.run, proof.before_ns, proof.after_ns)
            chunk = self._chunk = _Chunk(proof.run, reads, first_ns=ts_ns)
        chunk.released += 1
        chunk.first_ns = min(chunk.first_ns, ts_ns)
        chunk.last_ns = max(chunk.last_ns, ts_ns)

    def withheld(self, ts_ns: int, reason: str) -> None:
        """A sample stamped ``ts_ns`` was withheld: its interval is not proven ON."""
        self.unproven += 1
        gap = self._gap
        if gap is None:
            gap = self._gap = _Gap(first_ns=ts_ns, last_ns=ts_ns)
        gap.count += 1
        gap.first_ns, gap.last_ns = min(gap.first_ns, ts_ns), max(gap.last_ns, ts_ns)
        gap.reasons[reason] = gap.reasons.get(reason, 0) + 1

    def close(self) -> None:
        """Log whatever is open (at the end of the session)."""
        self._close_gap()
        self._close_chunk()

    def _close_chunk(self) -> None:
        chunk, self._chunk = self._chunk, None
        if chunk is None or chunk.released == 0:
            return
        data: dict[str, Any] = {
            "first_read_ns": chunk.reads[0],
            "read_steps_ns": encode_steps(chunk.reads),
            "released": chunk.released,
            "first_sample_ns": chunk.first_ns,
            "last_sample_ns": chunk.last_ns,
        }
        self.emit(EventType.PROVEN_ON, **data)

    def _close_gap(self) -> None:
        gap, self._gap = self._gap, None
        if gap is None:
            return
        self.gaps += 1
        reason = max(gap.reasons, key=lambda r: gap.reasons[r])
        self.emit(
            EventType.SAMPLES_WITHHELD,
            reason=reason,
            count=gap.count,
            first_sample_ns=gap.first_ns,
            last_sample_ns=gap.last_ns,
        )


def encode_steps(reads: list[int]) -> str:
    """``"50012345,49998765"``: the gaps between consecutive read-back times, in ns."""
    return ",".join(str(b - a) for a, b in pairwise(reads))

