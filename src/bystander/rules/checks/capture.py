"""Capture checks: consent before the first frame and the recording indicator (guard rules).

The indicator checks read the sessions replayed by :mod:`bystander.rules.checks.sessions`
with ``bystander audit replay``'s own code (R1 lead time, R4 stop on a fault, R8 indicator off
last), so the inspector and ``audit replay`` cannot disagree about a capture session.
"""

from __future__ import annotations

from bystander.evidence.replay import Outcome, RuleCheck
from bystander.inspect.records import Capture, ConsentAction, Evidence, Sensor
from bystander.rules.checks.base import (
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    fail,
    insufficient,
    iso,
    not_applicable,
    passed,
)
from bystander.rules.checks.index import ConsentIndex, any_scope_covers, has_camera_or_mic
from bystander.rules.checks.sessions import GuardSession, guard_sessions


def no_captures(ev: Evidence) -> CheckOutcome | None:
    """The outcome when the bundle holds no capture record, else None."""
    if ev.captures:
        return None
    if not has_camera_or_mic(ev):
        return not_applicable("the device has no camera or microphone")
    if ev.has_audit_log:
        return passed("the audit log records no capture")
    return insufficient("no capture records (no audit log in the bundle)")


def _consented_by_ids(ev: Evidence) -> dict[str, list[tuple[float, bool]]]:
    """Consent record id -> its (time, in effect after it) events, for resolving capture ids."""
    out: dict[str, list[tuple[float, bool]]] = {}
    for c in ev.consents:
        if c.record_id is None:
            continue
        starting = c.action in (ConsentAction.GRANTED, ConsentAction.RENEWED)
        if starting and not any_scope_covers(c.scopes, "recording"):
            continue
        live = starting and not c.bundled
        out.setdefault(c.record_id, []).append((float("-inf") if c.t is None else c.t, live))
    return out


def _ids_active(ids: dict[str, list[tuple[float, bool]]], c: Capture) -> bool | None:
    """Whether a consent the capture names was in effect at its first frame (None: unknown ids)."""
    known = [ids[i] for i in c.consent_ids if i in ids]
    if not known:
        return None
    t = c.t_start if c.t_start is not None else float("inf")
    for events in known:
        state = False
        for when, live in events:
            if when <= t:
                state = live
        if state:
            return True
    return False


def unconsented_captures(ev: Evidence) -> list[tuple[Capture, str]]:
    """Captures whose first frame had no recording consent in effect, with why.

    A capture's own ``consent_ids`` count when they name consent records of the bundle that
    were in effect at its first frame; ids the bundle does not hold fall back to any
    recording consent in effect then. Computed once per inspection.
    """
    found: list[tuple[Capture, str]] | None = ev.derived.get("unconsented_captures")
    if found is None:
        found = ev.derived["unconsented_captures"] = _unconsented(ev)
    return found


def _unconsented(ev: Evidence) -> list[tuple[Capture, str]]:
    consent = ConsentIndex(ev.consents, "recording", allow_bundled=False)
    ids = _consented_by_ids(ev)
    out = []
    for c in ev.captures:
        if c.t_start is None:
            continue
        named = _ids_active(ids, c)
        if named or (named is None and consent.active(None, c.t_start)):
            continue
        why = "the consent it names was not in effect" if named is False else "no consent"
        out.append((c, why))
    return out


@check("capture_before_consent", "Recording started before consent", ("captures", "consents"))
def capture_before_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A first frame released while no (unbundled) recording consent was in effect."""
    early = no_captures(ev)
    if early is not None:
        return early
    hits = Hits("captures started with no recording consent in effect")
    for c, why in unconsented_captures(ev):
        if hits.want():
            hits.add(
                c.ref,
                f"{c.sensor} {c.mode} capture's first frame at {iso(c.t_start)}: {why} "
                "to recording in effect",
            )
    return hits.outcome("every capture started under a recording consent")


def _failed(check: RuleCheck) -> bool:
    return check.outcome is Outcome.FAIL


def _judged_sessions(ev: Evidence) -> tuple[list[GuardSession], CheckOutcome | None]:
    sessions = [s for s in guard_sessions(ev) if s.released]
    if sessions:
        return sessions, None
    early = no_captures(ev)
    return sessions, early or passed("no capture session released a sample")


@check(
    "capture_without_indicator",
    "Capture with the indicator off, late or unconfirmed",
    ("captures", "indicators"),
)
def capture_without_indicator(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A session whose indicator was not lit for the lead before the first frame (R1), went off
    before the last sample (R8), or failed mid-capture without release stopping (R4)."""
    sessions, early = _judged_sessions(ev)
    if early is not None:
        return early
    hits = Hits("capture sessions without a confirmed indicator")
    undecided = 0
    for s in sessions:
        v = s.verdict
        broken = [c for c in (v.r1, v.r8) if _failed(c)]
        if s.indicator_fault and _failed(v.r4):
            broken.append(v.r4)
        if broken:
            if hits.want():
                hits.add(s.ref, f"session {s.session_id}: " + "; ".join(c.detail for c in broken))
        elif v.r1.outcome is Outcome.UNKNOWN:
            undecided += 1
    if not hits.total and undecided == len(sessions):
        return insufficient(f"R1 undecidable for every session: {sessions[0].verdict.r1.detail}")
    return hits.outcome("the indicator was lit before and throughout every capture")


@check(
    "indicator_tampered_during_capture",
    "Capture continued after the indicator was tampered with",
    ("captures", "indicators"),
)
def indicator_tampered_during_capture(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A tamper report (covered, disabled) during a capture that went on releasing (R4)."""
    sessions, early = _judged_sessions(ev)
    if early is not None:
        return early
    hits = Hits("capture sessions that went on after an indicator tamper report")
    for s in sessions:
        if s.tampered and _failed(s.verdict.r4) and hits.want():
            hits.add(s.ref, f"session {s.session_id}: indicator tampered; {s.verdict.r4.detail}")
    return hits.outcome("release stopped at once after every tamper report")


@check("indicator_not_declared", "No recording indicator for a sensor", ())
def indicator_not_declared(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The device has a camera or microphone but declares no indicator that signals it."""
    sensors = {s for s in ev.device.sensors if s in ("camera", "microphone")}
    sensors |= {str(c.sensor) for c in ev.captures if c.sensor is not Sensor.DEPTH}
    if not sensors:
        return not_applicable("the device has no camera or microphone")
    ind = ev.device.indicator
    if not ind.present:
        return fail(
            "profile:indicator.present",
            f"device has {', '.join(sorted(sensors))} but declares no recording indicator",
            "sensor without an indicator",
        )
    uncovered = sorted(sensors - set(ind.covers)) if ind.covers else []
    hits = Hits("indicator gaps")
    for s in uncovered:
        hits.hit("profile:indicator.covers", f"the indicator does not signal the {s}")
    if ind.visible_to_bystanders is False:
        hits.hit(
            "profile:indicator.visible_to_bystanders",
            "the indicator is not visible to the people being recorded",
        )
    return hits.outcome("an indicator signals every camera and microphone")


@check("indicator_can_be_defeated", "Indicator can be switched off or covered unnoticed", ())
def indicator_can_be_defeated(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The indicator is neither hardwired to the sensor nor tamper-detected."""
    ind = ev.device.indicator
    if not ind.present:
        return not_applicable("no indicator declared (see indicator_not_declared)")
    if ind.hardwired or ind.tamper_detection:
        return passed("the indicator is hardwired or tamper-detected")
    if ind.hardwired is None and ind.tamper_detection is None:
        return insufficient("the profile says neither indicator.hardwired nor tamper_detection")
    return fail(
        "profile:indicator",
        "the indicator is software-controlled (hardwired: false) with no tamper detection: "
        "it can be switched off or covered while recording",
        "defeatable indicator",
    )
