"""Capture sessions judged by the guard rules R1, R4 and R8 with ``bystander audit replay``'s code.

One truth for the guard rules: the inspector does not re-implement them. Sessions from a
Bystander audit export are replayed from their own ``capture.*`` events
(``Evidence.guard_events``) by :func:`bystander.evidence.replay.judge_session`. A device log's
capture becomes a timeline - the lead, the latest indicator record at or before the first
frame (``on``: confirmed), an indicator switched off or tampered with mid-capture (a fault),
the capture's end (release stopped; a log cannot tell the last sample from the stop) and the
first ``off`` after the first frame - judged by :func:`~bystander.evidence.replay.judge_facts`,
the same rule code, from the facts ``audit replay`` would read in the equivalent events
(:func:`device_log_sessions` writes those events; the scenario tests replay them with the CLI
and check the verdicts agree).

The lead (R1) is the capture's ``t_lead_ms``, else the profile's ``indicator.t_lead_ms``,
else 0 (the indicator on at or before the first frame). Device-log times are epoch seconds;
they become nanoseconds relative to the capture's first frame so no precision is lost.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.replay import (
    Outcome,
    SessionFacts,
    SessionVerdict,
    group_sessions,
    judge_facts,
    judge_session,
)
from bystander.inspect.records import Capture, Evidence, Indicator, Sensor

#: Audit ``capture.fault`` rules that mean the indicator failed or was covered (R2-R5).
INDICATOR_FAULT_RULES = frozenset({"R2", "R3", "R4", "R5"})
NS_PER_MS = 1_000_000
_KEY = "guard_sessions"


@dataclass(frozen=True, slots=True)
class GuardSession:
    """One capture session and its replayed verdict."""

    session_id: str
    ref: str  # the record to cite: the capture (device log) or its first frame (audit)
    t_start: float | None
    sensor: Sensor
    verdict: SessionVerdict
    indicator_fault: bool  # an indicator fault (off, tampered, R2-R5) during the capture
    tampered: bool  # a tamper report (covered, disabled) during the capture
    source: str  # audit | log

    @property
    def released(self) -> bool:
        """Whether the session released any sample (refused sessions did not)."""
        return self.verdict.r1.outcome is not Outcome.NOT_APPLICABLE


def guard_sessions(ev: Evidence, captures: Collection[Capture] | None = None) -> list[GuardSession]:
    """Capture sessions with their replay verdicts: every one (computed once), or only the
    device-log sessions of ``captures`` (and every audit session), computed on demand."""
    if captures is None:
        found = ev.derived.get(_KEY)
        if found is None:
            found = ev.derived[_KEY] = _audit_sessions(ev) + _log_sessions(ev, None)
        return list(found)
    return _audit_sessions(ev) + _log_sessions(ev, {c.ref for c in captures})


# -- audit exports ----------------------------------------------------------------------------


def _audit_sessions(ev: Evidence) -> list[GuardSession]:
    if not ev.guard_events:
        return []
    refs = {id(event): ref for ref, event in ev.guard_events}
    starts = {c.ref: c.t_start for c in ev.captures}
    out = []
    for sid, events in group_sessions(e for _, e in ev.guard_events).items():
        first = next((e for e in events if e.type is EventType.FIRST_FRAME), events[0])
        faults = [e for e in events if e.type is EventType.CAPTURE_FAULT]
        indicator = any(str(e.data.get("rule")) in INDICATOR_FAULT_RULES for e in faults)
        out.append(
            GuardSession(
                session_id=sid,
                ref=refs[id(first)],
                t_start=starts.get(refs[id(first)]),
                sensor=Sensor.CAMERA,
                verdict=judge_session(sid, events),
                indicator_fault=indicator,
                tampered=indicator,
                source="audit",
            )
        )
    return out


# -- device logs ------------------------------------------------------------------------------


class _Indicators:
    """Indicator records per sensor and session, time-sorted, for session matching."""

    def __init__(self, indicators: list[Indicator]) -> None:
        self.by_key: dict[tuple[Sensor, str | None], list[Indicator]] = {}
        self.by_sensor: dict[Sensor, list[Indicator]] = {}
        for i in indicators:
            if i.t is None:
                continue
            self.by_key.setdefault((i.sensor, i.session_id), []).append(i)
            self.by_sensor.setdefault(i.sensor, []).append(i)

    def of(self, c: Capture) -> list[Indicator]:
        """The capture's session's records (with session-less ones), else its sensor's."""
        own = self.by_key.get((c.sensor, c.session_id)) if c.session_id else None
        if own is None:
            return self.by_sensor.get(c.sensor, [])
        shared = self.by_key.get((c.sensor, None), [])
        return sorted(own + shared, key=lambda i: i.t or 0.0) if shared else own


def device_log_sessions(
    ev: Evidence, only: set[str] | None = None
) -> list[tuple[Capture, str, list[AuditEvent]]]:
    """The device log's captures as the ``capture.*`` events a guard would have logged:
    (capture, session id, events), for writing to a real audit log and replaying.

    Captures a replayed audit export already covers are left out; ``only`` keeps the captures
    with these refs. The inspector judges the same timelines without building events
    (:func:`bystander.evidence.replay.judge_facts`); the tests check both agree.
    """
    return [(c, line.sid, line.events()) for c, line in _timelines(ev, only)]


def _timelines(ev: Evidence, only: set[str] | None) -> list[tuple[Capture, _Timeline]]:
    audited = {sid for _, e in ev.guard_events if (sid := e.session_id)}
    replayed = {ref for ref, _ in ev.guard_events}
    wanted = [c for c in ev.captures if only is None or c.ref in only]
    if not wanted:
        return []
    indicators = _Indicators(ev.indicators)
    lead = ev.device.indicator.t_lead_ms
    out = []
    for c in wanted:
        if c.t_start is None or c.ref in replayed or c.session_id in audited:
            continue
        out.append((c, _timeline(c, indicators.of(c), lead)))
    return out


def _log_sessions(ev: Evidence, only: set[str] | None) -> list[GuardSession]:
    out = []
    # Sessions with the same relative timeline get the same verdict: judge each shape once.
    judged: dict[tuple[Any, ...], SessionVerdict] = {}
    for c, line in _timelines(ev, only):
        shape = line.shape
        v = judged.get(shape)
        if v is None:
            v = judged[shape] = judge_facts("", line.facts(), None, line.event_count)
        verdict = SessionVerdict(
            line.sid, v.device_id, v.verdict, v.frames_released, v.r1, v.r4, v.r8, v.reasons,
            v.events,
        )  # fmt: skip
        out.append(
            GuardSession(
                session_id=line.sid,
                ref=c.ref,
                t_start=c.t_start,
                sensor=c.sensor,
                verdict=verdict,
                indicator_fault=line.fault_ns is not None,
                tampered=line.fault_ns is not None and line.tampered,
                source="log",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Timeline:
    """What a device log says of one capture, in nanoseconds from its first frame."""

    sid: str
    lead_ms: float
    confirmed_ns: int | None  # the indicator on at or before the first frame
    end_ns: int | None  # release stopped (and the last sample: a log cannot tell them apart)
    fault_ns: int | None  # the indicator went off or was tampered with mid-capture
    tampered: bool
    off_ns: int | None  # the first "off" after the first frame

    @property
    def shape(self) -> tuple[Any, ...]:
        """Everything but the session id: equal shapes get equal verdicts."""
        return (self.lead_ms, self.confirmed_ns, self.end_ns, self.fault_ns, self.tampered,
                self.off_ns)  # fmt: skip

    @property
    def event_count(self) -> int:
        """How many ``capture.*`` events :meth:`events` gives."""
        count = 2  # capture.armed and capture.first_frame
        for value in (self.confirmed_ns, self.fault_ns, self.end_ns):
            if value is not None:
                count += 1
        return count

    def events(self) -> list[AuditEvent]:
        """The ``capture.*`` events of this session."""

        def ev(kind: EventType, **data: Any) -> AuditEvent:
            return AuditEvent(type=kind, session_id=self.sid, data=data)

        out = [ev(EventType.CAPTURE_ARMED, t_lead_ms=self.lead_ms, consents=[])]
        if self.confirmed_ns is not None:
            out.append(ev(EventType.INDICATOR_CONFIRMED, confirmed_ns=self.confirmed_ns))
        out.append(ev(EventType.FIRST_FRAME, sample_ns=0, released_ns=0))
        if self.fault_ns is not None:
            rule = "tamper" if self.tampered else "indicator"
            out.append(ev(EventType.CAPTURE_FAULT, fault_ns=self.fault_ns, rule=rule))
        if self.end_ns is not None:
            stopped: dict[str, Any] = {
                "stopped_ns": self.end_ns,
                "released": 1,
                "last_sample_ns": self.end_ns,
                "last_released_ns": self.end_ns,
            }
            if self.off_ns is not None:
                stopped["indicator_off_ns"] = self.off_ns
            out.append(ev(EventType.CAPTURE_STOPPED, **stopped))
        return out

    def facts(self) -> SessionFacts:
        """What replay would read from :meth:`events` (``replay._read_facts``)."""
        facts = SessionFacts(armed=True, t_lead_ns=round(self.lead_ms * NS_PER_MS))
        if self.confirmed_ns is not None:
            facts.confirmed_before_frame = True
            facts.confirmed_ns = self.confirmed_ns
        facts.first_frame = True
        facts.first_sample_ns = facts.first_released_ns = 0
        if self.fault_ns is not None:
            facts.fault, facts.fault_ns = True, self.fault_ns
        if self.end_ns is not None:
            facts.stopped, facts.stopped_ns, facts.released = True, self.end_ns, 1
            facts.last_sample_ns = facts.last_released_ns = self.end_ns
            if self.off_ns is None:
                facts.reasons.append("capture.stopped has no integer indicator_off_ns")
            facts.indicator_off_ns = self.off_ns
        return facts


def _timeline(c: Capture, records: list[Indicator], profile_lead: float | None) -> _Timeline:
    """The timeline of capture ``c`` from its session's indicator records (time-sorted)."""
    assert c.t_start is not None
    origin = c.t_start

    def ns(t: float | None) -> int | None:
        return None if t is None else round((t - origin) * 1e9)

    i = bisect_right(records, origin, key=lambda r: r.t or 0.0)
    confirmed = records[i - 1].t if i and records[i - 1].state == "on" else None
    end = c.t_end
    fault: Indicator | None = None
    off: Indicator | None = None
    for rec in records[i:]:
        if rec.t is None:
            continue
        if fault is None and rec.state in ("off", "tampered") and (end is None or rec.t < end):
            fault = rec
        if off is None and rec.state == "off":
            off = rec
        if off is not None and (fault is not None or end is None or rec.t >= end):
            break
    lead = c.t_lead_ms if c.t_lead_ms is not None else profile_lead
    return _Timeline(
        sid=c.session_id or c.ref,
        lead_ms=lead or 0.0,
        confirmed_ns=ns(confirmed) if i and confirmed is not None else None,
        end_ns=ns(end),
        fault_ns=ns(fault.t) if fault is not None else None,
        tampered=fault is not None and fault.state == "tampered",
        off_ns=ns(off.t) if off is not None else None,
    )
