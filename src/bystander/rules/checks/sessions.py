"""Capture sessions judged by the guard rules R1, R4 and R8 with ``bystander audit replay``'s code.

One truth for the guard rules: the inspector does not re-implement them. Sessions from a
Bystander audit export are replayed from their own ``capture.*`` events
(``Evidence.guard_events``); captures from a device log become the same events first
(``capture.armed`` with the lead, ``indicator_confirmed`` from the latest indicator record at
or before the first frame, ``first_frame``, a ``fault`` for an indicator switched off or
tampered with mid-capture, ``stopped`` with the first ``off`` after the start) and are then
judged by :func:`bystander.evidence.replay.judge_session`, exactly as ``audit replay`` would.

The lead (R1) is the capture's ``t_lead_ms``, else the profile's ``indicator.t_lead_ms``,
else 0 (the indicator on at or before the first frame). Device-log times are epoch seconds;
they become nanoseconds relative to the capture's start so no precision is lost.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.replay import Outcome, SessionVerdict, group_sessions, judge_session
from bystander.inspect.records import Capture, Evidence, Indicator, Sensor

#: Audit ``capture.fault`` rules that mean the indicator failed or was covered (R2-R5).
INDICATOR_FAULT_RULES = frozenset({"R2", "R3", "R4", "R5"})
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


def guard_sessions(ev: Evidence) -> list[GuardSession]:
    """Every capture session of the bundle with its replay verdict (computed once)."""
    found = ev.derived.get(_KEY)
    if found is None:
        found = ev.derived[_KEY] = _audit_sessions(ev) + _log_sessions(ev)
    return list(found)


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


def device_log_sessions(ev: Evidence) -> list[tuple[Capture, str, list[AuditEvent]]]:
    """The device log's captures as guard sessions: (capture, session id, ``capture.*`` events).

    Captures a replayed audit export already covers are left out.
    """
    audited = {sid for _, e in ev.guard_events if (sid := e.session_id)}
    replayed = {ref for ref, _ in ev.guard_events}
    indicators = _Indicators(ev.indicators)
    lead = ev.device.indicator.t_lead_ms
    out = []
    for c in ev.captures:
        if c.t_start is None or c.ref in replayed or c.session_id in audited:
            continue
        out.append((c, c.session_id or c.ref, _events(c, indicators.of(c), lead)))
    return out


def _log_sessions(ev: Evidence) -> list[GuardSession]:
    out = []
    for c, sid, events in device_log_sessions(ev):
        faults = [e for e in events if e.type is EventType.CAPTURE_FAULT]
        out.append(
            GuardSession(
                session_id=sid,
                ref=c.ref,
                t_start=c.t_start,
                sensor=c.sensor,
                verdict=judge_session(sid, events),
                indicator_fault=bool(faults),
                tampered=any(e.data.get("rule") == "tamper" for e in faults),
                source="log",
            )
        )
    return out


def _event(kind: EventType, sid: str, **data: Any) -> AuditEvent:
    return AuditEvent.model_construct(
        type=kind, session_id=sid, data=data, device_id=None, subject_id=None, reason=None
    )


def _events(c: Capture, records: list[Indicator], profile_lead: float | None) -> list[AuditEvent]:
    """The ``capture.*`` events a guard would have logged for capture ``c``."""
    assert c.t_start is not None
    sid = c.session_id or c.ref
    origin = c.t_start

    def ns(t: float) -> int:
        return round((t - origin) * 1e9)

    lead = c.t_lead_ms if c.t_lead_ms is not None else profile_lead
    events = [_event(EventType.CAPTURE_ARMED, sid, t_lead_ms=lead or 0, consents=[])]
    times = [i.t or 0.0 for i in records]
    i = bisect_right(times, c.t_start)
    if i and records[i - 1].state == "on":
        events.append(
            _event(EventType.INDICATOR_CONFIRMED, sid, confirmed_ns=ns(records[i - 1].t or origin))
        )
    start = ns(c.t_start)
    events.append(_event(EventType.FIRST_FRAME, sid, sample_ns=start, released_ns=start))
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
    if fault is not None and fault.t is not None:
        rule = "tamper" if fault.state == "tampered" else "indicator"
        events.append(_event(EventType.CAPTURE_FAULT, sid, fault_ns=ns(fault.t), rule=rule))
    if end is not None:
        stopped: dict[str, Any] = {
            "stopped_ns": ns(end),
            "released": 1,
            "last_sample_ns": ns(end),
            "last_released_ns": ns(end),
        }
        if off is not None and off.t is not None:
            stopped["indicator_off_ns"] = ns(off.t)
        events.append(_event(EventType.CAPTURE_STOPPED, sid, **stopped))
    return events
