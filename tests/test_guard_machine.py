"""A randomized state-machine test of the capture guard: interleaved frames, audio, faults,
stops, withdrawals and indicator changes; the invariants hold after every step."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bystander.evidence.events import EventType
from bystander.evidence.replay import Verdict, replay
from bystander.guard.consumers import ConsumerKind, ReleasedSample, Sample, SampleKind
from bystander.guard.indicator import StallMode
from bystander.guard.session import CaptureRefused, State
from bystander.guard.zones import LocationType
from tests.guard_rig import LEAD, MS, Rig, blank


class Tagger:
    """A consumer that notes which session each released sample belonged to."""

    name = "tagger"
    kind = ConsumerKind.LIVE_STREAM

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.seen: list[tuple[str, ReleasedSample]] = []

    def receive(self, sample: ReleasedSample) -> None:
        assert self.rig.session.session_id is not None
        self.seen.append((self.rig.session.session_id, sample))


class GuardMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rig = Rig(lag_ms=20)
        self.tagger = Tagger(self.rig)
        self.rig.session.add_consumer(self.tagger)

    @property
    def state(self) -> State:
        return self.rig.session.state

    @rule(audio=st.booleans())
    def start(self, audio: bool) -> None:
        if self.state is State.OFF:
            try:
                self.rig.session.start(audio=audio)
            except CaptureRefused:
                assert self.state is State.OFF

    @rule(audio=st.booleans())
    def start_and_capture(self, audio: bool) -> None:
        """Heal, arm and run frames until capturing (a common path, made likely)."""
        self.heal()
        if self.state is State.FAULT:
            self.reset()
        self.start(audio)
        self.burst(10, audio)

    @rule(steps=st.integers(1, 15), audio=st.booleans())
    def burst(self, steps: int, audio: bool) -> None:
        """Time runs at 30 fps with the sampler healthy: frames (and audio) stamped now."""
        for _ in range(steps):
            self.rig.step(33, audio=audio)

    @rule()
    def heal(self) -> None:
        """The indicator works again (uncovered, confirming, driver answering)."""
        self.rig.indicator.repair()
        self.rig.indicator.occluded = False
        self.rig.indicator.never_confirms = False
        self.rig.indicator.set_stall(None)
        self.rig.session.set_location(LocationType.PUBLIC)

    @rule(ms=st.integers(1, 120))
    def tick(self, ms: int) -> None:
        self.rig.clock.advance_ms(ms)
        self.rig.session.tick()

    @rule(ms=st.integers(1, 80))
    def sampler_stuck(self, ms: int) -> None:
        self.rig.clock.advance_ms(ms)
        self.rig.session.check_watchdog()

    @rule(age_ms=st.integers(-20, 300), audio=st.booleans())
    def sample(self, age_ms: int, audio: bool) -> None:
        now = self.rig.clock.monotonic_ns()
        kind = SampleKind.AUDIO if audio else SampleKind.VIDEO
        payload: Any = b"\x00" if audio else blank()
        self.rig.session.submit(Sample(kind, now - age_ms * MS, payload))

    @rule(on=st.booleans())
    def led(self, on: bool) -> None:
        if on:
            self.rig.indicator.repair()
        else:
            self.rig.indicator.fail()

    @rule(covered=st.booleans())
    def occlude(self, covered: bool) -> None:
        self.rig.indicator.occluded = covered

    @rule(flag=st.booleans())
    def never_confirms(self, flag: bool) -> None:
        self.rig.indicator.never_confirms = flag

    @rule(stall=st.booleans())
    def driver(self, stall: bool) -> None:
        self.rig.indicator.set_stall(StallMode.RAISE if stall else None)

    @rule()
    def withdraw(self) -> None:
        self.rig.session.on_consent_withdrawn("rec-record-video")

    @rule(location=st.sampled_from([LocationType.PUBLIC, LocationType.TOILET]))
    def move(self, location: LocationType) -> None:
        self.rig.session.set_location(location)

    @rule()
    def inject_fault(self) -> None:
        self.rig.session.fault("R4", "injected")

    @rule()
    def stop(self) -> None:
        self.rig.session.stop()

    @precondition(lambda self: self.state is State.FAULT)
    @rule()
    def reset(self) -> None:
        self.rig.session.stop()
        self.rig.session.reset()

    @invariant()
    def released_samples_obey_the_rules(self) -> None:
        events = self.rig.sink.events
        for session_id, sample in self.tagger.seen:
            mine = [e for e in events if e.session_id == session_id]
            confirmed = [e.data["confirmed_ns"] for e in mine
                         if e.type is EventType.INDICATOR_CONFIRMED]  # fmt: skip
            assert confirmed and sample.ts_ns >= confirmed[0] + LEAD  # R1
            assert sample.ts_ns <= sample.released_ns
            for e in mine:
                if e.type is EventType.CAPTURE_FAULT:
                    assert sample.released_ns <= e.data["fault_ns"]  # R4
                    assert sample.ts_ns <= e.data["fault_ns"]
                if e.type is EventType.CAPTURE_STOPPED:
                    assert sample.released_ns <= e.data["indicator_off_ns"]  # R8
                    assert sample.released_ns <= e.data["stopped_ns"]

    @invariant()
    def light_matches_state(self) -> None:
        commands = self.rig.indicator.commands
        lit = bool(commands) and commands[-1][1]
        if self.state in (State.OFF, State.FAULT):
            assert not lit
        elif self.state in (State.LIT, State.CAPTURING):
            assert lit and self.rig.session.confirmed_ns is not None

    @invariant()
    def replay_agrees(self) -> None:
        for verdict in replay(self.rig.sink.events):
            assert verdict.verdict is not Verdict.FAIL, verdict.to_dict()

    def teardown(self) -> None:
        self.rig.session.stop()
        verdicts = replay(self.rig.sink.events)
        assert all(v.ok for v in verdicts), [v.to_dict() for v in verdicts]


GuardMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGuardMachine = GuardMachine.TestCase
