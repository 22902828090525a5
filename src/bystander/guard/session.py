"""`CaptureSession`: the gate between camera/microphone and every consumer.

States: ``OFF -> ARMING -> LIT -> CAPTURING -> DRAINING -> OFF``, and ``FAULT``, latched until
``stop()`` and then an explicit ``reset()``. A sample reaches consumers only through
``submit``, and only when (R1) the indicator read-back has been ON for ``t_lead_ms`` before
the sample's stamp, the latest read-back is fresh and ON, the stamp is not in the future, the
session is capturing (or draining a sample stamped before the stop) and the frame protector
has run (R11). Faults (R2 unconfirmed, R3 occluded, R4 read-back OFF, R5 stalled driver, R10
consent withdrawn, zone change) stop release at once under the same lock the release path
takes, so no sample released after the fault exists, and the indicator goes off only when the
last release is done (R8). Every step is an audit event (R12; fields in ``EventType``).

>>> session = CaptureSession(profile, indicator, consent_store, audit_log)   # doctest: +SKIP
>>> session.add_consumer(recorder)                                          # doctest: +SKIP
>>> session.start()          # CaptureRefused without consent, zone, indicator  # doctest: +SKIP
>>> session.submit(Sample(SampleKind.VIDEO, ts_ns, frame))                  # doctest: +SKIP
>>> session.stop()                                                          # doctest: +SKIP

Tests drive a session with ``run_watchdog=False`` and a ``FakeClock``, calling ``tick()``;
in production two threads run: a sampler that reads the indicator at ``watchdog_hz`` and
re-checks consent about once a second (either may block, in a hung driver or a slow database),
and a watchdog that never blocks and faults when readings stop (R5) or the R2 deadline passes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, runtime_checkable

import numpy as np

from bystander.errors import BystanderError
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.guard.clock import NS_PER_MS, NS_PER_S, Clock, SystemClock
from bystander.guard.consumers import CONSUMER_SCOPES, Consumer, ReleasedSample, Sample, SampleKind
from bystander.guard.egress import ConsentChecker
from bystander.guard.indicator import Indicator, IndicatorReading, Pattern
from bystander.guard.profile import DeviceProfile, RequiredConsent
from bystander.guard.zones import LocationType, ZonePolicy

if TYPE_CHECKING:
    from bystander.vision.pipeline import VisibilityGate

FrameHook = Callable[[Any], Any]
#: How long a stop waits for in-flight deliveries before switching the indicator off anyway.
DRAIN_TIMEOUT_S = 2.0
#: How often the sampler thread re-checks consent with the store (R10).
CONSENT_RECHECK_S = 1.0


class State(StrEnum):
    OFF = "OFF"
    ARMING = "ARMING"
    LIT = "LIT"
    CAPTURING = "CAPTURING"
    DRAINING = "DRAINING"
    FAULT = "FAULT"


_ACTIVE = (State.ARMING, State.LIT, State.CAPTURING, State.DRAINING)
_RELEASING = (State.CAPTURING, State.DRAINING)


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


class PipelineProtector:
    """The real protect pipeline as a frame hook (detect -> track -> redact; whole-frame on
    detector error). A live frame is released as soon as it is protected, so every frame gets
    a full-frame search (no keyframes: they need look-back). Hooks appended to
    ``frames.on_protected`` see each ``ProtectedFrame`` (e.g. to count redactions). With a
    ``visibility`` gate, people who consented stay visible (``bystander.visibility``);
    ``keep_visible`` names how, for the recording's manifest."""

    def __init__(
        self, visibility: VisibilityGate | None = None, keep_visible: Sequence[str] = ()
    ) -> None:
        from bystander.vision.pipeline import FrameProtector
        from bystander.vision.protect import Protector
        from bystander.vision.redact import Redactor
        from bystander.vision.tracker import FaceTracker

        self.protector = Protector()
        base = self.protector.settings
        self.settings = replace(
            base, keyframe_interval=1, lookback=0, keep_visible=tuple(keep_visible)
        )
        self.frames = FrameProtector(
            self.protector.detector,
            Redactor(base.redaction),
            FaceTracker(base.tracking),
            visibility=visibility,
        )

    def __call__(self, frame: Any) -> Any:
        return self.frames.protect(frame).image


def default_protector() -> FrameHook:
    """The real protect pipeline (``PipelineProtector``)."""
    return PipelineProtector()


class CaptureSession:
    """One device's capture guard; ``start``/``stop`` may repeat, each run a new session id.

    ``protector`` is called on every video frame before any consumer sees it (default: the
    real ``FrameProtector``). It is also where consented people will be spared: a later
    protector receives ``consented_ids`` (kept here for it). If it raises, the frame is
    replaced by a blank one (``redacted_whole``) or dropped, never released raw.
    """

    def __init__(
        self,
        profile: DeviceProfile,
        indicator: Indicator,
        consents: ConsentChecker,
        sink: EventSink,
        *,
        clock: Clock | None = None,
        protector: FrameHook | None = None,
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
        self._lock = threading.Condition(threading.RLock())
        self._consumers: list[Consumer] = []
        self._threads: list[threading.Thread] = []
        self._halt = threading.Event()
        self._local = threading.local()
        self.state = State.OFF
        self.session_id: str | None = None
        self._acknowledged = False
        self.sink_errors = 0
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
        self.stopped_ns: int | None = None
        self.indicator_off_ns: int | None = None
        self.released = 0
        self.withheld = 0
        self.protector_failures = 0
        self.consumer_errors = 0
        self.last_sample_ns: int | None = None
        self.last_released_ns: int | None = None
        self._last_reading: IndicatorReading | None = None
        self._last_ok_ns = 0
        self._inflight = 0
        self._evidence_lost = False

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

        Returns the new session id; raises ``CaptureRefused`` (after logging it).
        """
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
            )
            if self._evidence_lost:
                self._fault("R12", "the audit sink failed while arming")
                return self.session_id
            spec = self.profile.indicator
            pattern = spec.still_pattern if self.mode is CaptureMode.STILL else spec.video_pattern
            now = self.clock.monotonic_ns()
            self.commanded_ns = self._last_ok_ns = now
            try:
                self.indicator.command(True, pattern)
            except Exception as exc:
                self._fault("R2", f"indicator command failed: {_describe(exc)}")
                return self.session_id
            self._emit(EventType.INDICATOR_COMMANDED, commanded_ns=now, pattern=pattern.value)
            session_id = self.session_id
        if self._run_watchdog:
            self._start_threads()
        return session_id

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
                self._refuse("R10", f"consent check failed: {_describe(exc)}")
            if not answer.allowed:
                why = f"no valid {need.kind} consent for {need.scope}: {answer.reason}"
                self._refuse("R10", why)
            if answer.record_id and answer.record_id not in self.consent_records:
                self.consent_records.append(answer.record_id)

    def _check_indicator_before_arming(self) -> None:
        timeout = self._confirm_ns / NS_PER_S
        try:
            reading = _read_with_timeout(self.indicator, timeout)
        except Exception as exc:
            self._refuse("R5", f"indicator driver not answering: {_describe(exc)}")
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
                self._refuse("R10", f"cannot link the session to consent: {_describe(exc)}")

    # -- health: read-back sampling and the watchdog ----------------------------------------

    def tick(self) -> None:
        """One sampler step and one watchdog check (what the two threads do, for tests)."""
        self.poll()
        self.check_watchdog()

    def poll(self) -> None:
        """Read the indicator once and act on it (may block in a hung driver)."""
        if self.state not in _ACTIVE:
            return
        try:
            reading = self.indicator.read_back()
        except Exception as exc:
            with self._lock:
                self._fault("R5", f"indicator read-back failed: {_describe(exc)}")
            return
        with self._lock:
            self._apply(reading)

    def _apply(self, reading: IndicatorReading) -> None:
        if self.state not in _ACTIVE or reading.at_ns < (self.commanded_ns or 0):
            return  # stale: taken before this arming, or the session is over
        self._last_ok_ns = max(self._last_ok_ns, self.clock.monotonic_ns())
        self._last_reading = reading
        if reading.occluded:
            self._fault("R3", "indicator occluded during capture")
        elif self.state is State.ARMING:
            if reading.on:
                self.confirmed_ns = reading.at_ns
                self._emit(EventType.INDICATOR_CONFIRMED, confirmed_ns=reading.at_ns)
                self._transition(State.LIT)
                self._advance(self.clock.monotonic_ns())
        elif not reading.on:
            self._fault("R4", "indicator read-back OFF while lit")

    def check_watchdog(self) -> None:
        """Fault on an unconfirmed indicator (R2), missing read-backs (R5), lost evidence."""
        with self._lock:
            if self.state not in _ACTIVE:
                return
            now = self.clock.monotonic_ns()
            commanded = self.commanded_ns or now
            silent = now - self._last_ok_ns
            if self._evidence_lost:
                self._fault("R12", "the audit sink failed: no release without evidence")
            elif self.state is State.ARMING and now - commanded >= self._confirm_ns:
                ms = self.profile.indicator.confirm_timeout_ms
                self._fault("R2", f"indicator commanded ON but read-back not ON within {ms} ms")
            elif silent > 2 * self._period_ns:
                ms = silent // NS_PER_MS
                self._fault("R5", f"indicator driver stalled: no read-back for {ms} ms")
            else:
                self._advance(now)

    def next_deadline_ns(self) -> int | None:
        """When the watchdog must look next (the R2 confirmation deadline), if any."""
        with self._lock:
            if self.state is State.ARMING and self.commanded_ns is not None:
                return self.commanded_ns + self._confirm_ns
            return None

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
                allowed, reason = False, f"consent check failed: {_describe(exc)}"
            if not allowed:
                with self._lock:
                    if self.state in _ACTIVE:
                        self._fault("R10", f"consent for {need.scope} no longer valid: {reason}")
                return False
        return True

    # -- release ----------------------------------------------------------------------------

    def feed(self, samples: Iterable[Sample]) -> int:
        """Offer every sample of a source (camera and microphone, interleaved in time order);
        returns how many were released. Stops early once the session is over."""
        released = 0
        for sample in samples:
            if self.state in (State.OFF, State.FAULT):
                break
            if self.submit(sample) is not None:
                released += 1
        return released

    def submit(self, sample: Sample) -> ReleasedSample | None:
        """Offer a sensor sample; returns what consumers received, or None (withheld)."""
        with self._lock:
            self._advance(self.clock.monotonic_ns())
            if self.state not in _RELEASING or (sample.kind is SampleKind.AUDIO and not self.audio):
                self.withheld += 1
                return None
            self._inflight += 1
        self._local.inflight = getattr(self._local, "inflight", 0) + 1
        try:
            payload, whole = self._protect(sample)
            if payload is None:
                return None
            with self._lock:
                released = self._gate(sample, payload, whole)
                consumers = list(self._consumers) if released is not None else []
            for consumer in consumers:
                try:
                    consumer.receive(released)  # type: ignore[arg-type]
                except Exception:
                    with self._lock:
                        self.consumer_errors += 1
            return released
        finally:
            self._local.inflight -= 1
            with self._lock:
                self._inflight -= 1
                self._lock.notify_all()

    def _protect(self, sample: Sample) -> tuple[Any, bool]:
        """Run the protector (R11); on failure a blank frame, or None when none can be made."""
        if sample.kind is not SampleKind.VIDEO:
            return sample.payload, False
        try:
            out = self.protector(sample.payload)
            if out is None:
                raise ValueError("the protector returned no frame")
            return out, False
        except Exception as exc:
            blankable = isinstance(sample.payload, np.ndarray) and sample.payload.size > 0
            with self._lock:
                self.protector_failures += 1
                if not blankable:
                    self.withheld += 1  # nothing to blank: drop it rather than release it raw
                self._emit(  # R12: the decision is evidence too
                    EventType.FRAME_REDACTED,
                    reason=f"protector failed: {_describe(exc)}",
                    sample_ns=sample.ts_ns,
                    action="blanked" if blankable else "dropped",
                )
            if blankable:
                return np.zeros_like(sample.payload), True
            return None, True

    def _gate(self, sample: Sample, payload: Any, whole: bool) -> ReleasedSample | None:
        """The release decision (R1, R4, R8), taken under the lock faults also take."""
        now = self.clock.monotonic_ns()
        reading = self._last_reading
        ok = (
            (
                self.state is State.CAPTURING
                or (
                    self.state is State.DRAINING
                    and self.stopped_ns is not None
                    and sample.ts_ns <= self.stopped_ns
                )
            )
            and self.confirmed_ns is not None
            and sample.ts_ns >= self.confirmed_ns + self._lead_ns
            and sample.ts_ns <= now
            and reading is not None
            and reading.on
            and now - self._last_ok_ns <= 2 * self._period_ns
            and not self._evidence_lost
        )
        if not ok:
            self.withheld += 1
            return None
        self.released += 1
        first = self.released == 1
        last = self.last_sample_ns
        self.last_sample_ns = sample.ts_ns if last is None else max(last, sample.ts_ns)
        self.last_released_ns = now
        if first:
            self._emit(EventType.FIRST_FRAME, sample_ns=sample.ts_ns, released_ns=now)
        return ReleasedSample(sample.kind, sample.ts_ns, now, payload, self.released, whole)

    # -- stopping ---------------------------------------------------------------------------

    def fault(self, rule: str, reason: str) -> None:
        """Report a fault from outside (a guard error, an app check): stops capture now."""
        with self._lock:
            self._fault(rule, reason)

    def _fault(self, rule: str, reason: str) -> None:
        if self.state not in _ACTIVE:
            return
        now = self.clock.monotonic_ns()
        self.fault_ns, self.fault_rule = now, rule
        self._emit(EventType.CAPTURE_FAULT, reason=reason, fault_ns=now, rule=rule)
        if self.stopped_ns is None:
            self.stopped_ns = now
        self._transition(State.FAULT)
        self._finish(fault=True)

    def stop(self) -> None:
        """Stop capture: drain, switch the indicator off last; acknowledges a FAULT."""
        with self._lock:
            if self.state is State.FAULT:
                self._acknowledged = True
            elif self.state in _ACTIVE:
                if self.state is not State.DRAINING:
                    self.stopped_ns = self.clock.monotonic_ns()
                    self._transition(State.DRAINING)
                self._finish(fault=False)
        self._join_threads()

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
        if self.mode is CaptureMode.STILL and self.last_released_ns is not None:
            remaining = self.last_released_ns + self._still_ns - self.clock.monotonic_ns()
            if remaining > 0:
                self.clock.sleep(remaining / NS_PER_S)  # R7: minimum visible on-time
        try:
            self.indicator.command(False, Pattern.OFF)
        except Exception:
            fault = True  # the light may still be on; nothing is released either way
        self.indicator_off_ns = self.clock.monotonic_ns()
        self._emit(
            EventType.CAPTURE_STOPPED,
            stopped_ns=self.stopped_ns,
            released=self.released,
            last_sample_ns=self.last_sample_ns,
            last_released_ns=self.last_released_ns,
            indicator_off_ns=self.indicator_off_ns,
            fault=fault or self.state is State.FAULT,
            withheld=self.withheld,
            protector_failures=self.protector_failures,
        )
        if self.state is State.DRAINING:
            self._transition(State.OFF)

    # -- threads ----------------------------------------------------------------------------

    def _start_threads(self) -> None:
        self._join_threads()
        self._halt = threading.Event()
        halt = self._halt
        self._threads = [
            threading.Thread(target=loop, args=(halt,), name=name, daemon=True)
            for loop, name in ((self._sampler, "guard-sampler"), (self._watchdog, "guard-watchdog"))
        ]
        for thread in self._threads:
            thread.start()

    def _join_threads(self) -> None:
        current = threading.current_thread()
        for thread in self._threads:
            if thread is not current:
                thread.join(timeout=2 * self._period_ns / NS_PER_S)
        self._threads = [t for t in self._threads if t.is_alive()]

    def _sampler(self, halt: threading.Event) -> None:
        """Reads the indicator at the watchdog rate and re-checks consent about once a second.

        Both may block (a hung driver, a slow database); the watchdog thread, which never
        blocks, then sees the readings stop and faults (R5): fail closed either way.
        """
        recheck_ns = round(CONSENT_RECHECK_S * NS_PER_S)
        due = next_consent = self.clock.monotonic_ns()
        while not halt.is_set():
            self.poll()
            if self.clock.monotonic_ns() >= next_consent:
                next_consent += recheck_ns
                try:
                    self.check_consents()
                except Exception as exc:
                    self.fault("R10", f"consent re-check failed: {_describe(exc)}")
            due += self._period_ns  # a fixed grid: slow polls do not make the rate drift
            now = self.clock.monotonic_ns()
            if due < now:
                due = now
            self.clock.sleep((due - now) / NS_PER_S)

    def _watchdog(self, halt: threading.Event) -> None:
        while not halt.is_set():
            try:
                self.check_watchdog()
            except Exception as exc:  # an error in the guard is a fault (R5)
                self.fault("R5", f"guard watchdog error: {_describe(exc)}")
            wait = self._period_ns
            deadline = self.next_deadline_ns()
            if deadline is not None:
                wait = max(0, min(wait, deadline - self.clock.monotonic_ns()))
            self.clock.sleep(wait / NS_PER_S)

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


def _read_with_timeout(indicator: Indicator, timeout_s: float) -> IndicatorReading:
    """``indicator.read_back()`` in a helper thread, so a hung driver cannot hang arming."""
    box: list[IndicatorReading | BaseException] = []

    def read() -> None:
        try:
            box.append(indicator.read_back())
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=read, name="guard-arm-read", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not box:
        raise TimeoutError(f"no read-back within {timeout_s * 1000:.0f} ms")
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
