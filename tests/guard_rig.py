"""Shared helpers for the capture-guard tests: a session on a fake clock and indicator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from bystander.consent.models import ConsentDecision, ConsentKind, Scope
from bystander.evidence.events import AuditEvent, EventType, MemorySink
from bystander.guard.clock import NS_PER_MS, FakeClock
from bystander.guard.consumers import CollectingConsumer, Sample, SampleKind
from bystander.guard.indicator import SimulatedIndicator
from bystander.guard.profile import DeviceProfile
from bystander.guard.session import CaptureSession, State

MS = NS_PER_MS
LEAD = 200 * MS


def profile(**over: Any) -> DeviceProfile:
    data: dict[str, Any] = {
        "device_id": "glasses-1",
        "device_type": "smart-glasses",
        "jurisdiction": "CN",
        "wearer_id": "wearer-1",
        "microphone": True,
        "indicator": {"visibility": "3 m indoors, 1 m daylight"},
    }
    data.update(over)
    return DeviceProfile.from_dict(data)


@dataclass
class StubConsents:
    """A consent checker that allows the listed scopes (all by default)."""

    allowed: set[Scope] = field(default_factory=lambda: set(Scope))
    calls: int = 0

    def check(
        self,
        subject_id: str,
        scope: Scope,
        at: datetime | None = None,
        kind: ConsentKind = ConsentKind.GENERAL,
    ) -> ConsentDecision:
        self.calls += 1
        if scope in self.allowed:
            return ConsentDecision(True, f"rec-{scope}", "given")
        return ConsentDecision(False, None, f"no consent for {scope}")


def blank(value: int = 7) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.full((4, 6, 3), value, dtype=np.uint8)


class Rig:
    """A session wired to a FakeClock, a SimulatedIndicator, a MemorySink and a recorder."""

    def __init__(self, lag_ms: float = 0.0, **kwargs: Any) -> None:
        self.clock = FakeClock(start_ns=1_000 * MS)
        self.indicator = SimulatedIndicator(self.clock, lag_ms=lag_ms)
        self.sink = MemorySink()
        self.consents: Any = kwargs.pop("consents", StubConsents())
        self.recorder = CollectingConsumer()
        prof = kwargs.pop("profile", None) or profile()
        kwargs.setdefault("protector", lambda frame: frame + 1)
        self.session = CaptureSession(
            prof,
            self.indicator,
            self.consents,
            self.sink,
            clock=self.clock,
            run_watchdog=False,
            **kwargs,
        )
        self.session.add_consumer(self.recorder)

    def step(self, ms: float = 10.0, frame: bool = True, audio: bool = False) -> None:
        """Advance time, run one sampler+watchdog round, and offer samples stamped now."""
        self.clock.advance_ms(ms)
        self.session.tick()
        now = self.clock.monotonic_ns()
        if frame:
            self.session.submit(Sample(SampleKind.VIDEO, now, blank()))
        if audio:
            self.session.submit(Sample(SampleKind.AUDIO, now, b"\x00\x01"))

    def capture(self, until_state: State = State.CAPTURING, limit_ms: float = 1_000) -> None:
        spent = 0.0
        while self.session.state is not until_state and spent < limit_ms:
            self.step()
            spent += 10
        assert self.session.state is until_state, self.session.state

    def events(self, kind: EventType) -> list[AuditEvent]:
        return [e for e in self.sink.events if e.type is kind]

    def one(self, kind: EventType) -> AuditEvent:
        found = self.events(kind)
        assert len(found) == 1, (kind, len(found))
        return found[0]


def assert_invariants(rig: Rig) -> None:
    """R1, R4, R8 over everything any consumer received, and the session's own records."""
    s = rig.session
    released = rig.recorder.samples
    assert len(released) == s.released
    off_times = [t for t, on, _ in rig.indicator.commands if not on]
    for r in released:
        assert s.confirmed_ns is not None
        assert r.ts_ns >= s.confirmed_ns + LEAD, "R1: released before T_lead"
        assert r.ts_ns <= r.released_ns, "released a sample stamped in the future"
        if s.fault_ns is not None:
            assert r.ts_ns <= s.fault_ns and r.released_ns <= s.fault_ns, "R4"
        if s.stopped_ns is not None:
            assert r.ts_ns <= s.stopped_ns and r.released_ns <= s.stopped_ns
        assert not np.array_equal(r.payload, blank()) or r.kind is SampleKind.AUDIO, "R11"
    if released and s.indicator_off_ns is not None:
        assert s.indicator_off_ns >= max(r.released_ns for r in released), "R8"
        assert off_times and off_times[-1] >= max(r.released_ns for r in released), "R8"
    if s.fault_ns is not None and s.stopped_ns is not None:
        assert s.stopped_ns - s.fault_ns <= 100 * MS, "R4: stop later than 100 ms"
