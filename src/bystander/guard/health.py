"""Indicator health for the capture session: the read-back sampler and the watchdog (R2-R5).

The sampler is cheap and first in line: a dedicated thread (asking the OS for a raised
priority where it allows) that reads the indicator at ``watchdog_hz`` and appends each
reading to the ``ReadbackHistory`` under that history's own small lock; it takes the
session's lock only when a reading demands action (confirmation, OFF, occluded). A sampler
the host starves of CPU therefore only leaves unproven gaps, whose samples are withheld.

Faults need evidence of a real problem:

- a read-back that says OFF while lit (R4), or occluded (R3), or still OFF when stamped after
  the confirmation deadline (R2);
- a driver call that raises (R5), or that has itself been blocked past ``call_deadline_ns``;
- no read-back at all for ``STALL_BOUND_NS`` (1 s) while the process is otherwise running
  (the watchdog checked on time just before, so it is not the whole process that stood still).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from bystander.guard.clock import NS_PER_MS, NS_PER_S
from bystander.guard.indicator import Indicator, IndicatorReading

if TYPE_CHECKING:
    from bystander.guard.session import CaptureSession

#: R5: no read-back for this long while the process runs is a stalled driver.
STALL_BOUND_NS = 1_000 * NS_PER_MS
#: How often the sampler thread re-checks consent with the store (R10).
CONSENT_RECHECK_S = 1.0
#: The niceness the sampler thread asks for (refused without privilege: then unchanged).
SAMPLER_NICENESS = -10


def sampler_loop(session: CaptureSession, halt: threading.Event) -> None:
    """Reads the indicator at the watchdog rate and re-checks consent about once a second.

    Either may block (a hung driver, a slow database); the watchdog thread sees a driver
    call that overruns its deadline, and consent failures fault R10: fail closed either way.
    """
    session.sampler_priority = _raise_priority()
    clock = session.clock
    period = session.profile.indicator.period_ns
    recheck_ns = round(CONSENT_RECHECK_S * NS_PER_S)
    due = next_consent = clock.monotonic_ns()
    while not halt.is_set():
        session.poll()
        if clock.monotonic_ns() >= next_consent:
            next_consent = clock.monotonic_ns() + recheck_ns
            try:
                session.check_consents()
            except Exception as exc:
                session.fault("R10", f"consent re-check failed: {describe(exc)}")
        due += period  # a fixed grid: slow polls do not make the rate drift
        now = clock.monotonic_ns()
        if due < now:
            due = now
        clock.sleep((due - now) / NS_PER_S)


def watchdog_loop(session: CaptureSession, halt: threading.Event) -> None:
    """Checks health once a period; never blocks on the driver."""
    period = session.profile.indicator.period_ns
    while not halt.is_set():
        try:
            session.check_watchdog()
        except Exception as exc:  # an error in the guard is a fault (R5)
            session.fault("R5", f"guard watchdog error: {describe(exc)}")
        session.clock.sleep(period / NS_PER_S)


def _raise_priority() -> str:
    """Ask for a higher scheduling priority for the calling thread; say what was granted."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None:
        return "default"
    try:
        setpriority(os.PRIO_PROCESS, threading.get_native_id(), SAMPLER_NICENESS)
    except OSError:
        return "default"
    return f"nice {SAMPLER_NICENESS}"


def read_with_timeout(indicator: Indicator, timeout_s: float) -> IndicatorReading:
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


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def ms_text(ns: int) -> str:
    """``1,120 ms``: whole milliseconds with a thousands separator."""
    return f"{ns // NS_PER_MS:,} ms"
