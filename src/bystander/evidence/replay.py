"""Audit replay: recompute from the audit log alone whether rules R1, R4 and R8 held.

The auditor's reproducible verdict for every capture session in a log. The input is only the
``capture.*`` events (see ``EventType`` for their fields; all times are monotonic nanoseconds
on the session's clock), grouped by ``session_id`` in log order:

- **R1** (indicator lead): every released sample is stamped at least ``T_lead`` after the
  indicator read-back was confirmed ON: ``first_frame.sample_ns`` and
  ``stopped.last_sample_ns`` are ``>= indicator_confirmed.confirmed_ns + t_lead_ms * 1e6``
  (``t_lead_ms`` from ``capture.armed``). A ``first_frame`` with no ``indicator_confirmed``
  logged before it fails. When the indicator was confirmed several times before the first
  frame, the latest confirmation counts (the conservative reading: a re-confirmation means
  the indicator was off in between).
- **R4** (fault stop): after the earliest ``capture.fault``, release stopped within 100 ms
  (``stopped_ns - fault_ns <= 100 ms``) and no released sample is stamped after the fault
  (``last_sample_ns <= fault_ns``).
- **R8** (indicator off last): ``indicator_off_ns >= last_released_ns``.
- **R1, proven ON** (sessions whose ``capture.armed`` logs ``proof_gap_ms``, issue 16): every
  ``capture.proven_on`` event's read-backs are increasing and at most ``proof_gap_ms`` apart,
  its samples lie between its first and last read-back, and the events account for every
  released sample (their ``released`` add up to ``capture.stopped.released``): no sample was
  released outside an interval proven ON.

Each check gives ``pass``/``fail`` with a margin (how far inside the bound, in ms; negative
when broken), ``n.a.`` when the rule does not apply (no sample released, no fault), or
``unknown`` when the events needed to decide are missing or malformed. A session's verdict is
``fail`` if any rule failed, else ``incomplete`` if anything is missing (armed but never
stopped, a first frame without ``capture.armed``, a field missing, duplicated events...),
``refused`` for a session refused before it released anything, ``fault`` for a session that
ended by a fault (the rules held; the first fault's rule and reason are its first reason),
else ``pass``.

``replay`` is pure; ``events_from_database`` and ``events_from_bundle`` load the events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from bystander.errors import InputError
from bystander.evidence import merkle
from bystander.evidence.audit import AuditIntegrityError, AuditLog, BundleReader
from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.merkle import CompactRange

#: R4: release must stop within this long after a fault.
FAULT_STOP_BOUND_NS = 100_000_000
_NS_PER_MS = 1_000_000
_SINGLE_EVENTS = (EventType.CAPTURE_ARMED, EventType.FIRST_FRAME, EventType.CAPTURE_STOPPED)


class Outcome(StrEnum):
    """The result of one rule check."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "n.a."
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    """The verdict on one capture session."""

    PASS = "pass"
    FAIL = "fail"
    INCOMPLETE = "incomplete"
    REFUSED = "refused"
    FAULT = "fault"


@dataclass(frozen=True)
class RuleCheck:
    """One rule's outcome; ``margin_ns`` is the slack to the bound (negative when broken)."""

    rule: str
    outcome: Outcome
    margin_ns: int | None = None
    detail: str = ""

    @property
    def margin_ms(self) -> float | None:
        return None if self.margin_ns is None else self.margin_ns / _NS_PER_MS

    def to_dict(self) -> dict[str, Any]:
        margin = self.margin_ms
        return {
            "outcome": self.outcome.value,
            "margin_ms": None if margin is None else round(margin, 6),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SessionVerdict:
    """The replayed verdict on one capture session."""

    session_id: str
    device_id: str | None
    verdict: Verdict
    frames_released: int | None
    r1: RuleCheck
    r4: RuleCheck
    r8: RuleCheck
    reasons: tuple[str, ...] = ()
    events: int = 0

    @property
    def checks(self) -> tuple[RuleCheck, RuleCheck, RuleCheck]:
        return self.r1, self.r4, self.r8

    @property
    def ok(self) -> bool:
        """True for a session whose rules held: passed, refused, or stopped by a fault."""
        return self.verdict in (Verdict.PASS, Verdict.REFUSED, Verdict.FAULT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "device_id": self.device_id,
            "verdict": self.verdict.value,
            "frames_released": self.frames_released,
            "events": self.events,
            "rules": {check.rule: check.to_dict() for check in self.checks},
            "reasons": list(self.reasons),
        }


def all_ok(verdicts: Iterable[SessionVerdict]) -> bool:
    """True when every session passed, was refused or was stopped by a fault in time."""
    return all(v.ok for v in verdicts)


def is_capture_event(event: AuditEvent) -> bool:
    return event.type.value.startswith("capture.")


def unattributed(events: Iterable[AuditEvent]) -> int:
    """The number of ``capture.*`` events without a ``session_id`` (replay cannot use them)."""
    return sum(1 for e in events if is_capture_event(e) and not e.session_id)


def group_sessions(events: Iterable[AuditEvent]) -> dict[str, list[AuditEvent]]:
    """The ``capture.*`` events of each session, sessions and events in log order."""
    sessions: dict[str, list[AuditEvent]] = {}
    for event in events:
        if is_capture_event(event) and event.session_id:
            sessions.setdefault(event.session_id, []).append(event)
    return sessions


def replay(events: Iterable[AuditEvent]) -> list[SessionVerdict]:
    """The verdict on every capture session in ``events`` (log order), in order of first event."""
    return [judge_session(sid, evs) for sid, evs in group_sessions(events).items()]


# -- one session ----------------------------------------------------------------------------


@dataclass
class _Facts:
    """What one session's events say, read once; ``reasons`` collects what is missing."""

    reasons: list[str] = field(default_factory=list)
    armed: bool = False
    refused: AuditEvent | None = None
    t_lead_ns: int | None = None
    confirmed_before_frame: bool = False
    confirmed_ns: int | None = None
    first_frame: bool = False
    first_sample_ns: int | None = None
    first_released_ns: int | None = None
    fault: bool = False
    fault_ns: int | None = None
    fault_rule: str | None = None
    fault_reason: str | None = None
    proof_gap_ns: int | None = None
    proven: list[AuditEvent] = field(default_factory=list)
    stopped: bool = False
    stopped_ns: int | None = None
    released: int | None = None
    last_sample_ns: int | None = None
    last_released_ns: int | None = None
    indicator_off_ns: int | None = None

    @property
    def released_any(self) -> bool:
        return self.first_frame or bool(self.released)

    def int_field(self, event: AuditEvent, key: str) -> int | None:
        """``event.data[key]`` if it is an integer; else None and a reason."""
        value = event.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.reasons.append(f"{event.type.value} has no integer {key}")
        return None


#: What one session's events say, read once (filled by ``judge_session``, or by the inspector).
SessionFacts = _Facts


def judge_session(session_id: str, events: list[AuditEvent]) -> SessionVerdict:
    """The verdict on one session from its ``capture.*`` events in log order."""
    facts = _read_facts(events)
    devices = list(dict.fromkeys(e.device_id for e in events if e.device_id))
    if len(devices) > 1:
        facts.reasons.append(f"events from several devices: {', '.join(devices)}")
    device = devices[0] if devices else None
    return judge_facts(session_id, facts, device, len(events))


def judge_facts(
    session_id: str, facts: SessionFacts, device: str | None = None, events: int = 0
) -> SessionVerdict:
    """The verdict on one session from what its events say (``judge_session`` reads them);
    the inspector fills ``SessionFacts`` from device logs of devices that do not run Bystander."""
    frames = facts.released if facts.stopped else None
    if facts.refused is not None and not facts.released_any:
        return _refused(session_id, device, facts, events)
    _check_complete(facts)
    r1, r4, r8 = _check_r1(facts), _check_r4(facts), _check_r8(facts)
    reasons = facts.reasons + [r for r in map(_reason, (r1, r4, r8)) if r]
    verdict = _verdict(facts, (r1, r4, r8))
    if verdict is Verdict.PASS and facts.fault:
        verdict = Verdict.FAULT
        rule = f" {facts.fault_rule}" if facts.fault_rule else ""
        reasons.insert(0, f"fault{rule}: {facts.fault_reason or 'no reason logged'}")
    return SessionVerdict(
        session_id, device, verdict, frames, r1, r4, r8, tuple(dict.fromkeys(reasons)), events,
    )  # fmt: skip


def _reason(check: RuleCheck) -> str:
    """What a failed or undecidable check adds to the session's reasons."""
    if check.outcome is Outcome.FAIL:
        return check.detail
    if check.outcome is Outcome.UNKNOWN:
        return f"{check.rule} not checked: {check.detail}"
    return ""


def _verdict(facts: _Facts, checks: tuple[RuleCheck, ...]) -> Verdict:
    outcomes = {c.outcome for c in checks}
    if Outcome.FAIL in outcomes:
        return Verdict.FAIL
    if facts.reasons or Outcome.UNKNOWN in outcomes:
        return Verdict.INCOMPLETE
    return Verdict.PASS


def _refused(session_id: str, device: str | None, facts: _Facts, count: int) -> SessionVerdict:
    event = facts.refused
    assert event is not None
    rule = event.data.get("rule")
    why = f"refused ({rule})" if rule else "refused"
    detail = f"{why}: {event.reason}" if event.reason else why
    r1, r4, r8 = (RuleCheck(r, Outcome.NOT_APPLICABLE, None, "refused") for r in ("R1", "R4", "R8"))
    frames = facts.released if facts.stopped else 0
    return SessionVerdict(session_id, device, Verdict.REFUSED, frames, r1, r4, r8, (detail,), count)


def _read_facts(events: list[AuditEvent]) -> _Facts:
    facts = _Facts()
    for kind in _SINGLE_EVENTS:
        count = sum(1 for e in events if e.type is kind)
        if count > 1:
            facts.reasons.append(f"{count} {kind.value} events (a session has one)")
    for event in events:
        _READERS.get(event.type, _ignore)(facts, event)
    return facts


def _ignore(facts: _Facts, event: AuditEvent) -> None:
    """Events that carry nothing replay checks (commanded, state changes)."""


def _read_armed(facts: _Facts, event: AuditEvent) -> None:
    if facts.armed:
        return
    facts.armed = True
    lead = event.data.get("t_lead_ms")
    if isinstance(lead, int | float) and not isinstance(lead, bool) and 0 <= lead < math.inf:
        facts.t_lead_ns = round(lead * _NS_PER_MS)
    else:
        facts.reasons.append("capture.armed has no valid t_lead_ms")
    gap = event.data.get("proof_gap_ms")
    if gap is not None:
        if isinstance(gap, int | float) and not isinstance(gap, bool) and 0 < gap < math.inf:
            facts.proof_gap_ns = round(gap * _NS_PER_MS)
        else:
            facts.reasons.append("capture.armed has an invalid proof_gap_ms")


def _read_refused(facts: _Facts, event: AuditEvent) -> None:
    facts.refused = facts.refused or event


def _read_confirmed(facts: _Facts, event: AuditEvent) -> None:
    if facts.first_frame:
        return  # only confirmations logged before the first frame count for R1
    facts.confirmed_before_frame = True
    facts.confirmed_ns = facts.int_field(event, "confirmed_ns")


def _read_first_frame(facts: _Facts, event: AuditEvent) -> None:
    if facts.first_frame:
        return
    facts.first_frame = True
    facts.first_sample_ns = facts.int_field(event, "sample_ns")
    facts.first_released_ns = facts.int_field(event, "released_ns")


def _read_fault(facts: _Facts, event: AuditEvent) -> None:
    fault_ns = facts.int_field(event, "fault_ns")
    if fault_ns is not None and (facts.fault_ns is None or fault_ns < facts.fault_ns):
        facts.fault_ns = fault_ns  # the earliest fault bounds R4
    if not facts.fault:
        rule = event.data.get("rule")
        facts.fault_rule = rule if isinstance(rule, str) else None
        facts.fault_reason = event.reason
    facts.fault = True


def _read_proven(facts: _Facts, event: AuditEvent) -> None:
    facts.proven.append(event)


def _read_stopped(facts: _Facts, event: AuditEvent) -> None:
    if facts.stopped:
        return
    facts.stopped = True
    facts.stopped_ns = facts.int_field(event, "stopped_ns")
    facts.released = facts.int_field(event, "released")
    facts.indicator_off_ns = facts.int_field(event, "indicator_off_ns")
    if facts.released is None or facts.released > 0:
        facts.last_sample_ns = facts.int_field(event, "last_sample_ns")
        facts.last_released_ns = facts.int_field(event, "last_released_ns")


_READERS = {
    EventType.CAPTURE_ARMED: _read_armed,
    EventType.CAPTURE_REFUSED: _read_refused,
    EventType.INDICATOR_CONFIRMED: _read_confirmed,
    EventType.FIRST_FRAME: _read_first_frame,
    EventType.CAPTURE_FAULT: _read_fault,
    EventType.CAPTURE_STOPPED: _read_stopped,
    EventType.PROVEN_ON: _read_proven,
}


def _check_complete(facts: _Facts) -> None:
    """Add a reason for every event a finished session must have but this one lacks."""
    if not facts.armed:
        facts.reasons.append("no capture.armed event")
    if not facts.stopped:
        facts.reasons.append("armed but never stopped" if facts.armed else "never stopped")
    elif facts.released is not None:
        if facts.released > 0 and not facts.first_frame:
            facts.reasons.append(
                f"capture.stopped reports {facts.released} released samples "
                "but no capture.first_frame was logged"
            )
        if facts.released == 0 and facts.first_frame:
            facts.reasons.append("capture.first_frame logged but capture.stopped reports 0")


# -- the rules ------------------------------------------------------------------------------


def _ms(ns: int) -> str:
    return f"{ns / _NS_PER_MS:.3f} ms"


def _judged(rule: str, margins: list[int], detail: str) -> RuleCheck:
    margin = min(margins)
    return RuleCheck(rule, Outcome.PASS if margin >= 0 else Outcome.FAIL, margin, detail)


def _check_r1(facts: _Facts) -> RuleCheck:
    """R1: released samples are stamped at least T_lead after the indicator was confirmed."""
    if not facts.released_any:
        return RuleCheck("R1", Outcome.NOT_APPLICABLE, None, "no sample released")
    if not facts.first_frame:
        return RuleCheck("R1", Outcome.UNKNOWN, None, "no capture.first_frame")
    if not facts.confirmed_before_frame:
        return RuleCheck(
            "R1", Outcome.FAIL, None,
            "R1: a sample was released with no indicator_confirmed logged before it",
        )  # fmt: skip
    if facts.t_lead_ns is None or facts.confirmed_ns is None or facts.first_sample_ns is None:
        return RuleCheck("R1", Outcome.UNKNOWN, None, "needs t_lead_ms, confirmed_ns and sample_ns")
    bound = facts.confirmed_ns + facts.t_lead_ns
    margins = [facts.first_sample_ns - bound]
    if facts.last_sample_ns is not None:
        margins.append(facts.last_sample_ns - bound)
    lead = facts.first_sample_ns - facts.confirmed_ns
    detail = f"read-back ON to first sample {_ms(lead)} (T_lead {_ms(facts.t_lead_ns)})"
    check = _judged("R1", margins, detail)
    if check.outcome is Outcome.FAIL:
        short = _ms(-(check.margin_ns or 0))
        failed = f"R1: sample released early: {detail}, {short} short"
        return RuleCheck("R1", check.outcome, check.margin_ns, failed)
    if facts.proof_gap_ns is not None:
        return _check_proven(facts, check)
    return check


def _reads(event: AuditEvent) -> list[int]:
    """The read-back times of a ``capture.proven_on`` event ([] when malformed)."""
    first, steps = event.data.get("first_read_ns"), event.data.get("read_steps_ns")
    if not isinstance(first, int) or isinstance(first, bool) or not isinstance(steps, str):
        return []
    reads = [first]
    try:
        for step in steps.split(",") if steps else []:
            reads.append(reads[-1] + int(step))
    except ValueError:
        return []
    return reads


def _check_proven(facts: _Facts, lead: RuleCheck) -> RuleCheck:
    """R1 (issue 16): every released sample lies inside an interval proven ON by read-backs
    at most ``proof_gap_ns`` apart (``capture.proven_on``), and every release is counted."""
    gap = facts.proof_gap_ns
    assert gap is not None
    covered = 0
    widest = 0
    for number, event in enumerate(facts.proven, 1):
        reads = _reads(event)
        count = event.data.get("released")
        first, last = event.data.get("first_sample_ns"), event.data.get("last_sample_ns")
        if not reads or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in (count, first, last)
        ):
            return RuleCheck("R1", Outcome.UNKNOWN, None, f"proven_on #{number} is malformed")
        assert isinstance(count, int) and isinstance(first, int) and isinstance(last, int)
        steps = [b - a for a, b in pairwise(reads)]
        widest = max([widest, *steps])
        if any(step < 0 for step in steps) or widest > gap:
            why = f"read-backs {_ms(widest)} apart (bound {_ms(gap)})"
            return RuleCheck("R1", Outcome.FAIL, gap - widest, f"R1: proven_on #{number}: {why}")
        if count < 1 or not reads[0] <= first <= last <= reads[-1]:
            return RuleCheck(
                "R1", Outcome.FAIL, None,
                f"R1: proven_on #{number}: samples outside the read-backs that prove them",
            )  # fmt: skip
        covered += count
    if facts.released is not None and covered != facts.released:
        return RuleCheck(
            "R1", Outcome.FAIL, None,
            f"R1: {facts.released - covered} released sample(s) outside any interval proven ON",
        )  # fmt: skip
    detail = f"{lead.detail}; {covered} sample(s) in {len(facts.proven)} interval(s) proven ON"
    return RuleCheck("R1", lead.outcome, lead.margin_ns, detail)


def _check_r4(facts: _Facts) -> RuleCheck:
    """R4: release stopped within 100 ms of a fault, and no post-fault sample was released."""
    if not facts.fault:
        return RuleCheck("R4", Outcome.NOT_APPLICABLE, None, "no fault")
    if not facts.stopped:
        return RuleCheck("R4", Outcome.UNKNOWN, None, "a fault but no capture.stopped")
    if facts.fault_ns is None or facts.stopped_ns is None:
        return RuleCheck("R4", Outcome.UNKNOWN, None, "needs fault_ns and stopped_ns")
    latency = facts.stopped_ns - facts.fault_ns
    margins = [FAULT_STOP_BOUND_NS - latency]
    parts = [f"stopped {_ms(latency)} after the fault (bound {_ms(FAULT_STOP_BOUND_NS)})"]
    if facts.released_any:
        if facts.last_sample_ns is None:
            return RuleCheck("R4", Outcome.UNKNOWN, None, "needs last_sample_ns")
        stamps = [s for s in (facts.first_sample_ns, facts.last_sample_ns) if s is not None]
        after = max(stamps) - facts.fault_ns
        margins.append(-after)
        where = "after" if after > 0 else "before"
        parts.append(f"last released sample {_ms(abs(after))} {where} the fault")
    check = _judged("R4", margins, "; ".join(parts))
    if check.outcome is Outcome.FAIL:
        return RuleCheck("R4", check.outcome, check.margin_ns, f"R4: {check.detail}")
    return check


def _check_r8(facts: _Facts) -> RuleCheck:
    """R8: the indicator went off only after the last sample was released."""
    if not facts.released_any:
        return RuleCheck("R8", Outcome.NOT_APPLICABLE, None, "no sample released")
    if not facts.stopped:
        return RuleCheck("R8", Outcome.UNKNOWN, None, "no capture.stopped")
    if facts.indicator_off_ns is None or facts.last_released_ns is None:
        return RuleCheck("R8", Outcome.UNKNOWN, None, "needs indicator_off_ns and last_released_ns")
    released = [t for t in (facts.first_released_ns, facts.last_released_ns) if t is not None]
    margin = facts.indicator_off_ns - max(released)
    where = "after" if margin >= 0 else "before"
    detail = f"indicator off {_ms(abs(margin))} {where} the last release"
    check = _judged("R8", [margin], detail)
    if check.outcome is Outcome.FAIL:
        return RuleCheck("R8", check.outcome, check.margin_ns, f"R8: {detail}")
    return check


# -- loading --------------------------------------------------------------------------------


def _parse(data: bytes | str, where: str) -> AuditEvent:
    try:
        return AuditEvent.model_validate_json(data)
    except ValidationError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise InputError(f"{where} is not a valid audit event ({first})") from None


def events_from_bundle(path: Path, *, expect_root: bytes | None = None) -> list[AuditEvent]:
    """The events of an export bundle, in log order.

    Integrity is checked by ``verify_bundle``, not here; pass its ``root_hash`` as
    ``expect_root`` to make sure the events read are the ones it verified (raises
    ``AuditIntegrityError`` if the file changed in between).
    """
    events, root = _read_bundle(path)
    if expect_root is not None and root != expect_root:
        raise AuditIntegrityError(f"{path} changed after it was verified; replay it again")
    return events


def _read_bundle(path: Path) -> tuple[list[AuditEvent], bytes]:
    """The events of a bundle and the Merkle root of their exact bytes."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        reader = BundleReader(stream, path.name)
        header = reader.header()
        for number in range(1, header.checkpoints + 1):
            reader.checkpoint(number)
        tree = CompactRange()
        events: list[AuditEvent] = []
        for record in reader.entries(header.entries):
            tree.append(merkle.leaf_hash(record.data))
            events.append(_parse(record.data, f"{path.name} entry {record.index}"))
        return events, tree.root()


def events_from_database(engine: Engine, stop: int | None = None) -> list[AuditEvent]:
    """The events of the audit log in ``engine`` with index below ``stop`` (default all)."""
    return list(_iter_database(engine, stop))


def _iter_database(engine: Engine, stop: int | None) -> Iterator[AuditEvent]:
    try:
        for logged in AuditLog(engine).entries(0, stop):
            yield logged.event
    except ValidationError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid"
        raise InputError(f"the audit log holds an entry that is not an event ({first})") from None
