"""`CaptureSession`: the gate between camera/microphone and every consumer.

States: ``OFF -> ARMING -> LIT -> CAPTURING -> DRAINING -> OFF``, and ``FAULT``, latched until
``stop()`` and then an explicit ``reset()``. A sample reaches consumers only through
``submit``, and only when the frame protector has run (R11), the session is capturing (or
draining a sample stamped before the stop), the stamp is not in the future, it is at least
``t_lead_ms`` after the indicator was confirmed ON (R1), and the indicator is *proven ON
around it*: read-backs on both sides of its stamp, ON and within the proof gap of each other
(``bystander.guard.readback``). A sample whose proof is not there yet is held (in stamp
order) until the next read-back decides it; one in an unproven gap is withheld, counted and
logged, which is not a fault. Faults (R2 unconfirmed, R3 occluded, R4 read-back OFF, R5
stalled driver, R10 consent withdrawn, zone change; see ``bystander.guard.health`` for what
counts as evidence) stop release at once under the same lock the release path takes, so no
sample is released after the fault, and the indicator goes off only when the last release
is done (R8). Every step is an audit event (R12; fields in ``EventType``), and every ending
(stop, fault, withdrawal, refusal) is closed with a signed checkpoint when the sink can sign.

>>> session = CaptureSession(profile, indicator, consent_store, audit_log)   # doctest: +SKIP
>>> session.add_consumer(recorder)                                          # doctest: +SKIP
>>> session.start()          # CaptureRefused without consent, zone, indicator  # doctest: +SKIP
>>> session.submit(Sample(SampleKind.VIDEO, ts_ns, frame))                  # doctest: +SKIP
>>> session.stop()                                                          # doctest: +SKIP

Tests drive a session with ``run_watchdog=False`` and a ``FakeClock``, calling ``tick()``;
in production two threads run (``bystander.guard.health``): the sampler and the watchdog.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NoReturn, Protocol, runtime_checkable

from bystander.errors import BystanderError
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.guard.clock import NS_PER_MS, NS_PER_S, Clock, SystemClock
from bystander.guard.consumers import CONSUMER_SCOPES, Consumer, Sample
from bystander.guard.egress import ConsentChecker
from bystander.guard.health import (
    STALL_BOUND_NS,
    describe,
    ms_text,
    read_with_timeout,
    sampler_loop,
    watchdog_loop,
)
from bystander.guard.indicator import Indicator, IndicatorReading, Pattern
from bystander.guard.ledger import ProofLedger
from bystander.guard.profile import DeviceProfile, RequiredConsent
from bystander.guard.protection import (
    FrameHook,
    PipelineProtector,
    StreamProtector,
    default_protector,
)
from bystander.guard.readback import ReadbackHistory
from bystander.guard.release import Held, ReleasePath
from bystander.guard.states import ACTIVE as _ACTIVE
from bystander.guard.states import State
from bystander.guard.zones import LocationType, ZonePolicy

__all__ = [
    "CaptureMode", "CaptureRefused", "CaptureSession", "GuardError", "PipelineProtector",
    "State", "WithdrawalListener", "default_protector",
]  # fmt: skip

#: How long a stop waits for in-flight deliveries before switching the indicator off anyway.
DRAIN_TIMEOUT_S = 2.0


class CaptureMode(StrEnum):
    VIDEO = "video"
    STILL = "still"


class GuardError(BystanderError):
    """The session was used wrongly (start twice, reset without stop, ...)."""


class CaptureRefused(BystanderError):
    """Arming was refused; ``rule`` names the rule (``R3``, ``R5``, ``R10``, ``zone``)."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"capture refused ({rule}): {reason}")
        self.rule = rule
        self.reason = reason


@runtime_checkable
class ConsentLinker(Protocol):
    """A consent store that can tie stored data to a record, so withdrawal queues deletion."""

    def link(self, record_id: str, data_kind: str, item_id: str) -> object: ...


class CaptureSession(ReleasePath):
    """One device's capture guard; ``start``/``stop`` may repeat, each run a new session id.

    ``protector`` protects every video frame before any consumer sees it (default: the real
    pipeline with the live keyframe schedule, ``PipelineProtector``). A frame hook is called
    per frame; a ``StreamProtector`` may hold frames back (``delay_frames``), and the samples
    behind them (audio too) wait in stamp order. If it raises, the frame is replaced by a
    blank one (``redacted_whole``) or dropped, never released raw.
    """

    def __init__(
        self,
        profile: DeviceProfile,
        indicator: Indicator,
        consents: ConsentChecker,
        sink: EventSink,
        *,
        clock: Clock | None = None,
        protector: FrameHook | StreamProtector | None = None,
        location: LocationType = LocationType.UNKNOWN,
        zones: ZonePolicy | None = None,
        wall: Callable[[], datetime] | None = None,
        run_watchdog: bool = True,
        consented_ids: Iterable[str] = (),
    ) -> None:
        self.profile = profile
        self.indicator = indicator
        self.consents = consents
        self.sink = sink
        self.clock: Clock = clock or SystemClock()
        self.protector = protector if protector is not None else default_protector()
        self.zones = zones or ZonePolicy.resolve(profile.zone_policy, profile.jurisdiction)
        self.location = LocationType(location)
        self.consented_ids = frozenset(consented_ids)
        self._wall = wall or (lambda: datetime.now(UTC))
        self._run_watchdog = run_watchdog
        spec = profile.indicator
        self._lead_ns = spec.t_lead_ms * NS_PER_MS
        self._confirm_ns = spec.confirm_timeout_ms * NS_PER_MS
        self._period_ns = spec.period_ns
        self._still_ns = spec.still_min_on_ms * NS_PER_MS
        #: a driver call blocked longer than this is a stalled driver (R5)
        self.call_deadline_ns = self._confirm_ns
        self.history = ReadbackHistory(gap_ns=2 * self._period_ns)
        self._lock = threading.Condition(threading.RLock())
        self._protect_lock = threading.RLock()
        self._consumers: list[Consumer] = []
        self._threads: list[threading.Thread] = []
        self._halt = threading.Event()
        self._local = threading.local()
        self.state = State.OFF
        self.session_id: str | None = None
        self._acknowledged = False
        self.sink_errors = 0
        self.sampler_priority = "default"
        self.closing_checkpoint: Any = None
        self.checkpoint_error: str | None = None
        self._clear()

    def _clear(self) -> None:
        self.mode = CaptureMode.VIDEO
        self.audio = False
        self.required: list[RequiredConsent] = []
        self.consent_records: list[str] = []
        self.commanded_ns: int | None = None
        self.confirmed_ns: int | None = None
        self.fault_ns: int | None = None
        self.fault_rule: str | None = None
        self.fault_reason: str | None = None
        self.stopped_ns: int | None = None
        self._stop_at_ns: int | None = None
        self.indicator_off_ns: int | None = None
        self.released = 0
        self.withheld = 0
        self.dropped = 0
        self.protector_failures = 0
        self.consumer_errors = 0
        self.last_sample_ns: int | None = None
        self.last_released_ns: int | None = None
        self.latencies_ns: list[int] = []
        self._inflight = 0
        self._evidence_lost = False
        self._call_started_ns: int | None = None
        self._watched_ns: int | None = None
        self._held: list[Held] = []
        self._in_protector: deque[Sample] = deque()
        self._closed = False
        self.closing_checkpoint = None
        self.checkpoint_error = None
        self.history.reset()
        self.ledger = ProofLedger(self.history, self._emit)
        if isinstance(self.protector, StreamProtector):
            with self._protect_lock:
                self.protector.reset()

    # -- configuration ----------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        """Register a consumer (only while OFF: its consents are checked at arming)."""
        with self._lock:
            if self.state is not State.OFF:
                raise GuardError(f"consumers can be added only while OFF (now {self.state})")
            self._consumers.append(consumer)

    @property
    def face_recognition_allowed(self) -> bool:
        """False where the zone policy disables face recognition (FRM Art 13)."""
        return self.zones.rule(self.location).face_recognition

    def set_location(self, location: LocationType) -> None:
        """The device moved: entering a zone where capture is refused stops capture."""
        with self._lock:
            self.location = LocationType(location)
            rule = self.zones.rule(self.location)
            if not rule.capture and self.state in _ACTIVE:
                self._fault("zone", f"entered {self.location}: capture refused ({rule.basis})")

    # -- arming -----------------------------------------------------------------------------

    def start(self, mode: CaptureMode = CaptureMode.VIDEO, audio: bool | None = None) -> str:
        """Arm: check zone, consents (R10) and occlusion (R3), then command the indicator ON.

        Returns the new session id; raises ``CaptureRefused`` (after logging it and signing a
        checkpoint that covers the refusal).
        """
        try:
            session_id = self._arm(mode, audio)
        except CaptureRefused:
            self._close_evidence()
            raise
        if self._run_watchdog:
            self._start_threads()
        return session_id

    def _arm(self, mode: CaptureMode, audio: bool | None) -> str:
        with self._lock:
            if self.state is not State.OFF:
                raise GuardError(f"cannot start: session is {self.state}")
            self._clear()
            self.session_id = str(uuid.uuid4())
            self._acknowledged = False
            self.mode = CaptureMode(mode)
            self.audio = self.profile.microphone if audio is None else audio
            if self.audio and not self.profile.microphone:
                self._refuse("R9", "the device profile declares no microphone")
            zone = self.zones.rule(self.location)
            if not zone.capture:
                self._refuse("zone", f"capture refused in {self.location} ({zone.basis})")
            self._check_arming_consents()
            self._check_indicator_before_arming()
            self._link_consents()
            self._transition(State.ARMING)
            self._emit(
                EventType.CAPTURE_ARMED,
                t_lead_ms=self.profile.indicator.t_lead_ms,
                profile=self.profile.device_id,
                consents=list(self.consent_records),
                mode=self.mode.value,
                audio=self.audio,
                location=self.location.value,
                proof_gap_ms=self.history.gap_ns / NS_PER_MS,
                stall_bound_ms=STALL_BOUND_NS // NS_PER_MS,
                delay_frames=self.delay_frames,
            )
            if self._evidence_lost:
                self._fault("R12", "the audit sink failed while arming")
                return self.session_id
            spec = self.profile.indicator
            pattern = spec.still_pattern if self.mode is CaptureMode.STILL else spec.video_pattern
            now = self.clock.monotonic_ns()
            self.commanded_ns = now
            try:
                self.indicator.command(True, pattern)
            except Exception as exc:
                self._fault("R2", f"indicator command failed: {describe(exc)}")
                return self.session_id
            self._emit(EventType.INDICATOR_COMMANDED, commanded_ns=now, pattern=pattern.value)
            return self.session_id

    def _refuse(self, rule: str, reason: str) -> NoReturn:
        self._emit(EventType.CAPTURE_REFUSED, reason=reason, rule=rule)
        raise CaptureRefused(rule, reason)

    def _check_arming_consents(self) -> None:
        extra = tuple(s for c in self._consumers for s in CONSUMER_SCOPES[c.kind])
        self.required = self.profile.required_consents(self.audio, extra)
        when = self._wall()
        for need in self.required:
            try:
                answer = self.consents.check(
                    self.profile.wearer_id, need.scope, at=when, kind=need.kind
                )
            except Exception as exc:  # fail closed: an unanswerable question is a "no"
                self._refuse("R10", f"consent check failed: {describe(exc)}")
            if not answer.allowed:
                why = f"no valid {need.kind} consent for {need.scope}: {answer.reason}"
                self._refuse("R10", why)
            if answer.record_id and answer.record_id not in self.consent_records:
                self.consent_records.append(answer.record_id)

    def _check_indicator_before_arming(self) -> None:
        timeout = self._confirm_ns / NS_PER_S
        try:
            reading = read_with_timeout(self.indicator, timeout)
        except Exception as exc:
            self._refuse("R5", f"indicator driver not answering: {describe(exc)}")
        if reading.occluded:
            self._refuse("R3", "the indicator is covered: uncover it to record")

    def _link_consents(self) -> None:
        """Tie the session's data to its consents, so withdrawal queues its deletion (R10)."""
        if not isinstance(self.consents, ConsentLinker) or self.session_id is None:
            return
        for record_id in self.consent_records:
            try:
                self.consents.link(record_id, "capture-session", self.session_id)
            except Exception as exc:
                self._refuse("R10", f"cannot link the session to consent: {describe(exc)}")

    # -- health: read-back sampling and the watchdog (threads in bystander.guard.health) ---

    def tick(self) -> None:
        """One sampler step and one watchdog check (what the two threads do, for tests)."""
        self.poll()
        self.check_watchdog()

    def poll(self) -> None:
        """Read the indicator once and record it; act on it when it demands (may block in a
        hung driver: the watchdog sees the call overrun its deadline)."""
        if self.state not in _ACTIVE:
            return
        self._call_started_ns = self.clock.monotonic_ns()
        try:
            reading = self.indicator.read_back()
        except Exception as exc:
            with self._lock:
                self._fault("R5", f"indicator read-back failed: {describe(exc)}")
            return
        finally:
            self._call_started_ns = None
        commanded = self.commanded_ns
        if commanded is None or reading.at_ns < commanded:
            return  # stale: taken before this arming
        self.history.add(reading)
        calm = self.state is State.CAPTURING or self.state is State.DRAINING
        if calm and reading.on and not reading.occluded:
            return  # the common case takes no session lock
        with self._lock:
            self._apply(reading)

    def _apply(self, reading: IndicatorReading) -> None:
        if self.state not in _ACTIVE or reading.at_ns < (self.commanded_ns or 0):
            return  # the session is over, or the reading is older than this arming
        if reading.occluded:
            self._fault("R3", "indicator occluded during capture")
        elif self.state is State.ARMING:
            if reading.on:
                self.confirmed_ns = reading.at_ns
                self._emit(EventType.INDICATOR_CONFIRMED, confirmed_ns=reading.at_ns)
                self._transition(State.LIT)
                self._advance(self.clock.monotonic_ns())
            elif reading.at_ns - (self.commanded_ns or 0) >= self._confirm_ns:
                ms = self.profile.indicator.confirm_timeout_ms
                self._fault("R2", f"indicator commanded ON but read-back not ON within {ms} ms")
        elif not reading.on:
            self._fault("R4", "indicator read-back OFF while lit")
        else:
            self._advance(self.clock.monotonic_ns())

    def check_watchdog(self) -> None:
        """Fault on evidence: a driver call blocked past its deadline, or no read-back for
        ``STALL_BOUND_NS`` while this check itself ran on time (R5); lost evidence (R12)."""
        if self.state not in _ACTIVE:
            return
        now = self.clock.monotonic_ns()
        previous, self._watched_ns = self._watched_ns, now
        running = previous is not None and now - previous <= 4 * self._period_ns
        call = self._call_started_ns
        last = self.history.latest_ns
        silent = now - (last if last is not None else (self.commanded_ns or now))
        if self._evidence_lost:
            self.fault("R12", "the audit sink failed: no release without evidence")
        elif running and call is not None and now - call > self.call_deadline_ns:
            self.fault("R5", f"indicator driver call blocked for {ms_text(now - call)}")
        elif running and silent > STALL_BOUND_NS:
            self.fault("R5", f"no read-back for {ms_text(silent)}")
        elif self.state is State.LIT:
            with self._lock:
                self._advance(now)

    def _advance(self, now: int) -> None:
        lit = self.state is State.LIT and self.confirmed_ns is not None
        if lit and now >= (self.confirmed_ns or 0) + self._lead_ns:
            self._transition(State.CAPTURING)

    # -- consent ----------------------------------------------------------------------------

    def on_consent_withdrawn(self, record_id: str | None = None, tasks: int | None = None) -> bool:
        """A consent was withdrawn: stop if this session relied on it (R10). True if stopped.

        Deletion of the session's data is queued by the store itself: arming linked the
        session id to each consent record, so ``ConsentStore.withdraw`` creates the tasks.
        """
        with self._lock:
            if self.state not in _ACTIVE:
                return False
            if record_id is not None and record_id not in self.consent_records:
                return False
            queued = "deletion of the session's data queued"
            if tasks is not None:
                queued += f" ({tasks} task{'s' if tasks != 1 else ''})"
            self._fault("R10", f"consent {record_id or '(unknown)'} withdrawn; {queued}")
            return True

    def check_consents(self) -> bool:
        """Re-check the arming consents now; stop (R10) if one no longer holds. True if held."""
        if self.state not in _ACTIVE:
            return True
        when = self._wall()
        for need in list(self.required):
            try:
                answer = self.consents.check(
                    self.profile.wearer_id, need.scope, at=when, kind=need.kind
                )
                allowed, reason = answer.allowed, answer.reason
            except Exception as exc:
                allowed, reason = False, f"consent check failed: {describe(exc)}"
            if not allowed:
                with self._lock:
                    if self.state in _ACTIVE:
                        self._fault("R10", f"consent for {need.scope} no longer valid: {reason}")
                return False
        return True

    # -- stopping ---------------------------------------------------------------------------

    def fault(self, rule: str, reason: str) -> None:
        """Report a fault from outside (a guard error, an app check): stops capture now."""
        with self._lock:
            self._fault(rule, reason)

    def _fault(self, rule: str, reason: str) -> None:
        if self.state not in _ACTIVE:
            return
        now = self.clock.monotonic_ns()
        self.fault_ns, self.fault_rule, self.fault_reason = now, rule, reason
        self._emit(EventType.CAPTURE_FAULT, reason=reason, fault_ns=now, rule=rule)
        if self.stopped_ns is None:
            self.stopped_ns = now
        self._transition(State.FAULT)
        self._finish(fault=True)

    def stop(self) -> None:
        """Stop capture: release what was stamped before the stop and is proven, switch the
        indicator off last, sign a checkpoint over the session; acknowledges a FAULT."""
        draining = False
        with self._lock:
            if self.state is State.FAULT:
                self._acknowledged = True
            elif self.state in _ACTIVE:
                if self.state is not State.DRAINING:
                    self._stop_at_ns = self.clock.monotonic_ns()
                    self._transition(State.DRAINING)
                draining = True
        if draining:
            self.settle(final=True)
            with self._lock:
                if self.state is State.DRAINING:
                    self.stopped_ns = self.clock.monotonic_ns()
                    self._finish(fault=False)
        self._join_threads()
        if self.session_id is not None and self.state in (State.OFF, State.FAULT):
            self._close_evidence()

    def reset(self) -> None:
        """Clear a latched FAULT (only after ``stop()``)."""
        with self._lock:
            if self.state is not State.FAULT:
                raise GuardError(f"nothing to reset: session is {self.state}")
            if not self._acknowledged:
                raise GuardError("a fault is latched: call stop() before reset()")
            self._transition(State.OFF)

    def _finish(self, fault: bool) -> None:
        """Wait for in-flight releases, keep a still's light on long enough, light off, log."""
        self._halt.set()
        mine = getattr(self._local, "inflight", 0)  # a consumer that stops us from receive()
        self._lock.wait_for(lambda: self._inflight <= mine, timeout=DRAIN_TIMEOUT_S)
        if self.indicator_off_ns is not None:
            return  # a fault finished the session while this stop waited for the drain
        if self._held:  # never released: a fault came first, or no proof came
            self.withheld += len(self._held)
            self._held.clear()
        if self.mode is CaptureMode.STILL and self.last_released_ns is not None:
            remaining = self.last_released_ns + self._still_ns - self.clock.monotonic_ns()
            if remaining > 0:
                self.clock.sleep(remaining / NS_PER_S)  # R7: minimum visible on-time
        try:
            self.indicator.command(False, Pattern.OFF)
        except Exception:
            fault = True  # the light may still be on; nothing is released either way
        self.indicator_off_ns = self.clock.monotonic_ns()
        self.ledger.close()
        self._emit(
            EventType.CAPTURE_STOPPED,
            stopped_ns=self.stopped_ns,
            released=self.released,
            last_sample_ns=self.last_sample_ns,
            last_released_ns=self.last_released_ns,
            indicator_off_ns=self.indicator_off_ns,
            fault=fault or self.state is State.FAULT,
            withheld=self.withheld,
            withheld_unproven=self.ledger.unproven,
            dropped=self.dropped,
            protector_failures=self.protector_failures,
            **self.latency_summary(),
        )
        if self.state is State.DRAINING:
            self._transition(State.OFF)

    # -- threads ----------------------------------------------------------------------------

    def _start_threads(self) -> None:
        self._join_threads()
        self._halt = threading.Event()
        halt = self._halt
        self._threads = [
            threading.Thread(target=loop, args=(self, halt), name=name, daemon=True)
            for loop, name in ((sampler_loop, "guard-sampler"), (watchdog_loop, "guard-watchdog"))
        ]
        for thread in self._threads:
            thread.start()

    def _join_threads(self) -> None:
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout=2 * self._period_ns / NS_PER_S)
        self._threads = [t for t in self._threads if t.is_alive()]

    # -- evidence ---------------------------------------------------------------------------

    def _transition(self, to: State) -> None:
        before, self.state = self.state, to
        self._emit(EventType.CAPTURE_STATE, **{"from": before.value, "to": to.value})

    def _emit(self, kind: EventType, reason: str | None = None, **data: Any) -> None:
        event = AuditEvent(
            type=kind,
            mono_ns=self.clock.monotonic_ns(),
            device_id=self.profile.device_id,
            session_id=self.session_id,
            subject_id=self.profile.wearer_id if kind is EventType.CAPTURE_ARMED else None,
            reason=reason,
            data=data,
        )
        try:
            self.sink.append(event)
        except Exception:
            self.sink_errors += 1
            self._evidence_lost = True  # the gate releases nothing until a fault stops it


class WithdrawalListener:
    """An ``EventSink`` for the consent store: forwards events, stops sessions on withdrawal.

    ``ConsentStore(engine, sink=WithdrawalListener(audit_log, [session]))`` makes a
    withdrawal (or expiry) of a consent a session relies on stop that session at once.
    """

    def __init__(self, inner: EventSink, sessions: Iterable[CaptureSession] = ()) -> None:
        self.inner = inner
        self.sessions = list(sessions)

    def append(self, event: AuditEvent) -> int:
        index = self.inner.append(event)
        if event.type in (EventType.CONSENT_WITHDRAWN, EventType.CONSENT_EXPIRED):
            record_id = event.data.get("record_id")
            for session in self.sessions:
                session.on_consent_withdrawn(record_id if isinstance(record_id, str) else None)
        return index
