"""Capture checks: consent before recording, the recording indicator, private spaces."""

from __future__ import annotations

from bisect import bisect_right

from bystander.inspect.records import PRIVATE_SPACES, Capture, Evidence, Sensor
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
from bystander.rules.checks.index import (
    ConsentIndex,
    IndicatorTimeline,
    ZoneTimeline,
    has_camera_or_mic,
)


def _no_captures(ev: Evidence) -> CheckOutcome | None:
    """The outcome when the bundle holds no capture record, else None."""
    if ev.captures:
        return None
    if not has_camera_or_mic(ev):
        return not_applicable("the device has no camera or microphone")
    if ev.has_audit_log:
        return passed("the audit log records no capture")
    return insufficient("no capture records (no audit log in the bundle)")


@check("capture_before_consent", "Recording started before consent", ("captures", "consents"))
def capture_before_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A capture started while no (unbundled) recording consent was in effect."""
    early = _no_captures(ev)
    if early is not None:
        return early
    consent = ConsentIndex(ev.consents, "recording", allow_bundled=False)
    hits = Hits("captures started with no recording consent in effect")
    for c in ev.captures:
        if c.consent_ids or c.t_start is None or consent.active(None, c.t_start):
            continue
        if hits.want():
            hits.add(
                c.ref,
                f"{c.sensor} {c.mode} capture started at {iso(c.t_start)} "
                "with no recording consent in effect",
            )
    return hits.outcome("every capture started under a recording consent")


@check(
    "capture_without_indicator",
    "Capture with the indicator off or unconfirmed",
    ("captures", "indicators"),
)
def capture_without_indicator(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A capture started with its sensor's indicator not confirmed on, or it went off mid-way."""
    early = _no_captures(ev)
    if early is not None:
        return early
    timelines = {s: IndicatorTimeline(ev.indicators, s) for s in Sensor}
    hits = Hits("captures without a confirmed indicator")
    for c in ev.captures:
        if c.t_start is None:
            continue
        line = timelines[c.sensor]
        state = line.state_at(c.t_start)
        if state is None or state.state != "on":
            if hits.want():
                why = "no indicator record" if state is None else f"indicator off ({state.ref})"
                hits.add(
                    c.ref,
                    f"{c.sensor} capture at {iso(c.t_start)} with {why}: "
                    "indicator not confirmed on",
                )
            continue
        end = c.t_end if c.t_end is not None else c.t_start
        off = line.first_off_in(c.t_start, end)
        if off is not None and hits.want():
            hits.add(
                c.ref,
                f"{c.sensor} indicator switched off at {iso(off.t)} ({off.ref}) "
                f"while the capture ran until {iso(end)}",
            )
    return hits.outcome("the indicator was on throughout every capture")


def _merged(captures: list[Capture], sensor: Sensor) -> tuple[list[float], list[float], list[str]]:
    """Union of the sensor's capture intervals: starts, ends, and the ref that reaches the end."""
    starts: list[float] = []
    ends: list[float] = []
    refs: list[str] = []
    for c in captures:
        if c.sensor is not sensor or c.t_start is None:
            continue
        end = c.t_end if c.t_end is not None else c.t_start
        if starts and c.t_start <= ends[-1]:
            if end > ends[-1]:
                ends[-1] = end
                refs[-1] = c.ref
            continue
        starts.append(c.t_start)
        ends.append(end)
        refs.append(c.ref)
    return starts, ends, refs


@check(
    "indicator_tampered_during_capture",
    "Capture continued after the indicator was tampered with",
    ("captures", "indicators"),
)
def indicator_tampered_during_capture(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """An indicator tamper report (covered, disabled) while a capture kept running."""
    early = _no_captures(ev)
    if early is not None:
        return early
    merged = {s: _merged(ev.captures, s) for s in Sensor}
    hits = Hits("tamper reports during a running capture")
    for ind in ev.indicators:
        if ind.state != "tampered" or ind.t is None:
            continue
        starts, ends, refs = merged[ind.sensor]
        i = bisect_right(starts, ind.t) - 1
        if i >= 0 and ends[i] > ind.t and hits.want():
            hits.add(
                ind.ref,
                f"{ind.sensor} indicator tampered at {iso(ind.t)} but capture {refs[i]} "
                f"kept running until {iso(ends[i])}",
            )
    return hits.outcome("no capture continued after an indicator tamper report")


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


@check("private_space_capture", "Capture in a private space without consent", ("captures", "zones"))
def private_space_capture(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A capture in a hotel room, bath, changing room or toilet with no consent attached."""
    early = _no_captures(ev)
    if early is not None:
        return early
    zones = ZoneTimeline(ev.zones)
    hits = Hits("captures in private spaces without consent")
    for c in ev.captures:
        if c.consent_ids:
            continue
        zone, zref = zones.zone_of(c.zone, c.t_start)
        if zone in PRIVATE_SPACES and hits.want():
            where = f" ({zref})" if zref else ""
            hits.add(
                c.ref,
                f"{c.sensor} capture at {iso(c.t_start)} in a {zone}{where} "
                "with no consent of the people there",
            )
    return hits.outcome("no capture in a private space")
