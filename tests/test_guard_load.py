"""The capture guard on a busy machine: two CPU-bound processes run beside real sessions
(system clock, real sampler and watchdog threads). A starved sampler must never fault a
healthy session; real faults (LED off, occlusion, a hung driver) injected in the same runs
must still stop release, and nothing stamped after a fault's evidence is released.

Assertions are on the guard's invariants and the replayed log, never on how fast the host is.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from bystander.evidence.events import MemorySink
from bystander.evidence.replay import Verdict, replay
from bystander.guard.clock import SystemClock
from bystander.guard.consumers import CollectingConsumer, Sample, SampleKind
from bystander.guard.indicator import SimulatedIndicator, StallMode
from bystander.guard.session import CaptureSession, State
from tests.guard_rig import StubConsents, profile

FRAME_S = 1 / 30


@pytest.fixture
def hogs() -> Iterator[None]:
    """Two busy processes, one per core of a 2-core machine, for the test's duration."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)


def _session() -> tuple[CaptureSession, SimulatedIndicator, CollectingConsumer, MemorySink]:
    clock = SystemClock()
    indicator = SimulatedIndicator(clock, lag_ms=5)
    sink = MemorySink()
    session = CaptureSession(
        profile(microphone=False), indicator, StubConsents(), sink, clock=clock,
        protector=lambda frame: frame + 1,
    )  # fmt: skip
    recorder = CollectingConsumer()
    session.add_consumer(recorder)
    return session, indicator, recorder, sink


def _capture(fault: str | None, seconds: float = 1.5) -> tuple[CaptureSession, int | None]:
    """One session fed 30 fps frames for ``seconds``; ``fault`` injected half-way."""
    session, indicator, recorder, sink = _session()
    session.start()
    deadline = time.monotonic() + 10
    while session.state is not State.CAPTURING and time.monotonic() < deadline:
        time.sleep(0.005)
    assert session.state is State.CAPTURING, session.fault_reason
    frame = np.zeros((8, 8, 3), np.uint8)
    injected: int | None = None
    start = time.monotonic()
    while time.monotonic() - start < seconds and session.state is State.CAPTURING:
        if fault and injected is None and time.monotonic() - start > seconds / 2:
            injected = session.clock.monotonic_ns()
            if fault == "led-off":
                indicator.fail()
            elif fault == "occluded":
                indicator.occluded = True
            else:
                indicator.set_stall(StallMode.BLOCK)
        session.submit(Sample(SampleKind.VIDEO, session.clock.monotonic_ns(), frame))
        time.sleep(FRAME_S)
    if fault:  # the evidence arrives at the next read-back, or the call overruns
        while session.state is State.CAPTURING and time.monotonic() < deadline:
            session.submit(Sample(SampleKind.VIDEO, session.clock.monotonic_ns(), frame))
            time.sleep(FRAME_S)
    indicator.unstall()
    session.stop()
    verdicts = replay(sink.events)
    assert len(verdicts) == 1 and verdicts[0].ok, verdicts[0].to_dict()
    if injected is not None:
        assert all(r.ts_ns <= injected for r in recorder.samples), "released after the fault"
    return session, injected


def test_busy_host_no_false_fault_and_real_faults_still_stop(hogs: None) -> None:
    offered = released = 0
    for _ in range(3):  # healthy sessions under load: never a fault
        session, _ = _capture(None)
        assert session.fault_rule is None, session.fault_reason
        assert session.state is State.OFF
        offered += session.released + session.withheld
        released += session.released
    assert released >= offered / 2  # a gap is withheld, not everything (benchmark: >= 95%)
    for fault, rule in (("led-off", "R4"), ("occluded", "R3"), ("driver-hang", "R5")):
        session, injected = _capture(fault)
        assert injected is not None
        assert session.fault_rule == rule, (fault, session.fault_rule, session.fault_reason)
        verdict = replay_verdict(session)
        assert verdict is Verdict.FAULT


def replay_verdict(session: CaptureSession) -> Verdict:
    sink = session.sink
    assert isinstance(sink, MemorySink)
    (verdict,) = replay(sink.events)
    return verdict.verdict
