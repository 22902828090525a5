"""The release path of a ``CaptureSession``: protection (R11), the held queue in stamp order,
and the per-sample release decision on the read-back proof (R1, R4, R8).

A mixin of ``CaptureSession`` (``bystander.guard.session``), split out to keep each module
to one job; the attributes it uses are the session's.
"""

from __future__ import annotations

import threading
from bisect import insort
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from bystander.evidence.events import EventType
from bystander.guard.clock import NS_PER_MS, NS_PER_S, Clock
from bystander.guard.consumers import Consumer, ReleasedSample, Sample, SampleKind
from bystander.guard.health import STALL_BOUND_NS, describe
from bystander.guard.ledger import ProofLedger
from bystander.guard.protection import FrameHook, StreamProtector
from bystander.guard.readback import Proof, ReadbackHistory
from bystander.guard.states import ACTIVE as _ACTIVE
from bystander.guard.states import RELEASING as _RELEASING
from bystander.guard.states import State

if TYPE_CHECKING:
    from collections.abc import Iterable

#: A sample waiting for its release decision: the sample, the protected payload, blanked whole.
Held = tuple[Sample, Any, bool]


class ReleasePath:
    """Release machinery shared by ``CaptureSession`` (see its docstring)."""

    state: State
    clock: Clock
    protector: FrameHook | StreamProtector
    history: ReadbackHistory
    ledger: ProofLedger
    audio: bool
    released: int
    withheld: int
    dropped: int
    protector_failures: int
    consumer_errors: int
    confirmed_ns: int | None
    last_sample_ns: int | None
    last_released_ns: int | None
    latencies_ns: list[int]
    _lock: threading.Condition
    _protect_lock: threading.RLock
    _local: threading.local
    _inflight: int
    _held: list[Held]
    _in_protector: deque[Sample]
    _threads: list[threading.Thread]
    _consumers: list[Consumer]
    _stop_at_ns: int | None
    _lead_ns: int
    _period_ns: int
    _evidence_lost: bool

    sink: Any
    sink_errors: int
    closing_checkpoint: Any
    checkpoint_error: str | None
    _closed: bool

    def _advance(self, now: int) -> None:
        raise NotImplementedError

    def _emit(self, kind: EventType, reason: str | None = None, **data: Any) -> None:
        raise NotImplementedError

    @property
    def delay_frames(self) -> int:
        """Frames the protector holds back (the live output's lag, in frames)."""
        if isinstance(self.protector, StreamProtector):
            return int(self.protector.delay_frames)
        return 0

    def latency_summary(self) -> dict[str, Any]:
        """Sensor stamp to release of the released frames: the live lag (ms) and its cause."""
        values = sorted(self.latencies_ns)

        def pick(q: float) -> float | None:
            if not values:
                return None
            return round(values[min(len(values) - 1, int(q * len(values)))] / NS_PER_MS, 3)

        return {
            "delay_frames": self.delay_frames,
            "latency_p50_ms": pick(0.5),
            "latency_p99_ms": pick(0.99),
            "latency_max_ms": pick(1.0),
        }

    def _close_evidence(self) -> None:
        """Sign a checkpoint covering every event of the session that just ended (stop,
        fault, withdrawal or refusal), when the sink can sign (``AuditLog.checkpoint``)."""
        if self._closed:
            return
        self._closed = True
        sign = getattr(self.sink, "checkpoint", None)
        if not callable(sign):
            return
        try:
            self.closing_checkpoint = sign()
        except Exception as exc:
            self.sink_errors += 1
            self.checkpoint_error = describe(exc)

    # -- release ----------------------------------------------------------------------------

    def feed(self, samples: Iterable[Sample]) -> int:
        """Offer every sample of a source (camera and microphone, interleaved in time order);
        returns how many were released. Stops early once the session is over."""
        before = self.released
        for sample in samples:
            if self.state in (State.OFF, State.FAULT):
                break
            self.submit(sample)
        self.settle()
        return self.released - before

    def skip(self, sample: Sample) -> None:
        """The source dropped ``sample`` to keep up with the camera: count it (never shown)."""
        with self._lock:
            self.dropped += 1
            self.withheld += 1

    def submit(self, sample: Sample) -> ReleasedSample | None:
        """Offer a sensor sample. Returns what consumers received of *this* sample when it
        was released at once, else None (withheld, or held for its proof or its protection:
        it is released, or withheld, by a later call, ``settle`` or ``stop``)."""
        with self._lock:
            self._advance(self.clock.monotonic_ns())
            if self.state not in _RELEASING or (sample.kind is SampleKind.AUDIO and not self.audio):
                self.withheld += 1
                return None
            self._inflight += 1
        self._local.inflight = getattr(self._local, "inflight", 0) + 1
        try:
            ready = self._protect(sample)
            with self._lock:
                for item in ready:
                    insort(self._held, item, key=lambda held: held[0].ts_ns)
                out = self._release_ready(final=False)
            self._deliver(out)
            return next((r for r in out if r.ts_ns == sample.ts_ns and r.kind is sample.kind), None)
        finally:
            self._local.inflight -= 1
            with self._lock:
                self._inflight -= 1
                self._lock.notify_all()

    def settle(self, final: bool = False) -> int:
        """Release what is now proven (with the threads running, first wait up to two sampler
        periods for a read-back after the newest held sample). ``final``: flush the stream
        protector too and withhold what still lacks proof. Returns how many were released."""
        if final and isinstance(self.protector, StreamProtector):
            with self._protect_lock:
                try:
                    flushed = self.protector.flush()
                except Exception as exc:
                    flushed = []
                    self._protector_failed(None, exc)
                ready = [self._pair(image, whole) for image, whole in flushed]
            with self._lock:
                for item in ready:
                    if item is not None:
                        insort(self._held, item, key=lambda held: held[0].ts_ns)
        newest = self._held[-1][0].ts_ns if self._held else None
        if newest is not None and self._threads and self.state in _ACTIVE:
            self.history.wait_after(newest, 2 * self._period_ns / NS_PER_S)
        with self._lock:
            out = self._release_ready(final=final)
            self._inflight += 1
        try:
            self._deliver(out)
        finally:
            with self._lock:
                self._inflight -= 1
                self._lock.notify_all()
        return len(out)

    def _protect(self, sample: Sample) -> list[Held]:
        """Run the protector (R11); the samples now ready for the gate, in stamp order."""
        if sample.kind is not SampleKind.VIDEO:
            return [(sample, sample.payload, False)]
        with self._protect_lock:
            if not isinstance(self.protector, StreamProtector):
                try:
                    out = self.protector(sample.payload)
                    if out is None:
                        raise ValueError("the protector returned no frame")
                    return [(sample, out, False)]
                except Exception as exc:
                    blank = self._protector_failed(sample, exc)
                    return [] if blank is None else [blank]
            self._in_protector.append(sample)
            try:
                done = self.protector.push(sample.payload)
            except Exception as exc:
                self._protector_failed(None, exc)
                return []
            return [held for image, whole in done if (held := self._pair(image, whole))]

    def _pair(self, image: Any, whole: bool) -> Held | None:
        """The sample a stream protector's output belongs to (outputs come out in order)."""
        if not self._in_protector:
            return None
        return self._in_protector.popleft(), image, whole

    def _protector_failed(self, sample: Sample | None, exc: BaseException) -> Held | None:
        """Fail closed: blank the frame, or drop it (and, for a stream protector, every frame
        it held: it is reset) when nothing can be blanked."""
        if sample is None:
            lost = list(self._in_protector)
            self._in_protector.clear()
            if isinstance(self.protector, StreamProtector):
                self.protector.reset()
        else:
            lost = [sample]
        blankable = (
            sample is not None
            and isinstance(sample.payload, np.ndarray)
            and sample.payload.size > 0
        )
        with self._lock:
            self.protector_failures += 1
            if not blankable:
                self.withheld += len(lost)  # nothing to blank: drop rather than release raw
            self._emit(  # R12: the decision is evidence too
                EventType.FRAME_REDACTED,
                reason=f"protector failed: {describe(exc)}",
                sample_ns=lost[0].ts_ns if lost else None,
                action="blanked" if blankable else "dropped",
                frames=len(lost),
            )
        if blankable and sample is not None:
            return sample, np.zeros_like(sample.payload), True
        return None

    def _release_ready(self, final: bool) -> list[ReleasedSample]:
        """Decide the held samples in stamp order (under the lock): release the proven ones,
        withhold the unprovable, stop at the first still waiting for a read-back."""
        out: list[ReleasedSample] = []
        barrier = self._in_protector[0].ts_ns if self._in_protector else None
        while self._held:
            sample, payload, whole = self._held[0]
            if barrier is not None and sample.ts_ns >= barrier and not final:
                break  # an earlier frame is still being protected: keep stamp order
            released = self._gate(sample, payload, whole, final)
            if released is False:
                break
            self._held.pop(0)
            if released is not None and released is not True:
                out.append(released)
        return out

    def _gate(
        self, sample: Sample, payload: Any, whole: bool, final: bool
    ) -> ReleasedSample | bool | None:
        """The release decision (R1, R4, R8) for one held sample, under the lock faults take:
        the released sample, None (withheld), or False (wait for the next read-back)."""
        now = self.clock.monotonic_ns()
        ts = sample.ts_ns
        ok = (
            (
                self.state is State.CAPTURING
                or (self.state is State.DRAINING and self._stop_at_ns is not None
                    and ts <= self._stop_at_ns)
            )
            and self.confirmed_ns is not None
            and ts >= self.confirmed_ns + self._lead_ns
            and ts <= now
            and not self._evidence_lost
        )  # fmt: skip
        if not ok:
            self.withheld += 1
            return None
        proof = self.history.proof(ts)
        if proof.verdict is Proof.PENDING and not final and now - ts <= STALL_BOUND_NS:
            return False
        if proof.verdict is not Proof.PROVEN:
            self.withheld += 1
            why = (
                "no read-back after it before the stop"
                if proof.verdict is Proof.PENDING
                else f"no ON read-backs on both sides within {self.history.gap_ns // NS_PER_MS} ms"
            )
            self.ledger.withheld(ts, why)
            return None
        self.released += 1
        self.ledger.released(ts, proof)
        first = self.released == 1
        last = self.last_sample_ns
        self.last_sample_ns = ts if last is None else max(last, ts)
        self.last_released_ns = now
        if sample.kind is SampleKind.VIDEO:
            self.latencies_ns.append(now - ts)
        if first:
            self._emit(EventType.FIRST_FRAME, sample_ns=ts, released_ns=now)
        return ReleasedSample(sample.kind, ts, now, payload, self.released, whole)

    def _deliver(self, released: list[ReleasedSample]) -> None:
        if not released:
            return
        with self._lock:
            consumers = list(self._consumers)
        for sample in released:
            for consumer in consumers:
                try:
                    consumer.receive(sample)
                except Exception:
                    with self._lock:
                        self.consumer_errors += 1
