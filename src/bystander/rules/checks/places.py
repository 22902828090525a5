"""Where capture happens: private spaces (Civil Code Art 1033) and covert filming (PSAPL).

Private spaces are hotel rooms, public baths, changing rooms and toilets. The people whose
privacy a capture there touches are the others present, so the consent that counts is theirs:
a recording consent of someone the bundle shows is not the device's user (``subject_role`` on
the consent, or a ``subject`` record: bystander, guest, resident...). The user's own consent
(a wearer's, an owner's, or any whose subject's role is unknown) never stands in for them. A
capture that records nobody else (``bystanders: 0``) touches no one's privacy.
"""

from __future__ import annotations

from bystander.evidence.replay import Outcome
from bystander.inspect.records import PRIVATE_SPACES, USER_ROLES, Capture, Evidence, ZoneType
from bystander.rules.checks.base import CheckContext, CheckOutcome, Hits, check, iso
from bystander.rules.checks.capture import no_captures
from bystander.rules.checks.index import ConsentIndex, ZoneTimeline
from bystander.rules.checks.sessions import GuardSession, guard_sessions


def others_present(ev: Evidence) -> set[str]:
    """Subjects the bundle shows are not the device's user (a bystander, a guest, a resident).

    A recording consent is the device user's own unless its subject is known to be someone
    else: the role on the consent or on a ``subject`` record. Unknown means the user's own
    (the fail-closed reading: nothing shows the people present agreed).
    """
    roles = {s.subject_id: s.role for s in ev.subjects if s.role}
    for c in ev.consents:
        if c.subject_id and c.subject_role:
            roles.setdefault(c.subject_id, c.subject_role)
    return {sid for sid, role in roles.items() if role not in USER_ROLES}


def _private(ev: Evidence) -> list[tuple[Capture, ZoneType, str]]:
    """Captures in a private space that may record someone else, with the zone and its ref."""
    found: list[tuple[Capture, ZoneType, str]] | None = ev.derived.get("private_captures")
    if found is not None:
        return found
    zones = ZoneTimeline(ev.zones)
    out = []
    for c in ev.captures:
        if c.bystanders == 0:
            continue
        zone, zref = zones.zone_of(c.zone, c.t_start)
        if zone in PRIVATE_SPACES:
            out.append((c, zone, zref))
    ev.derived["private_captures"] = out
    return out


@check(
    "private_space_capture",
    "Capture in a private space without the consent of the people there",
    ("captures", "zones", "consents"),
)
def private_space_capture(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A capture in a hotel room, bath, changing room or toilet with no recording consent of
    anyone but the device user in effect (the wearer cannot consent for the others)."""
    early = no_captures(ev)
    if early is not None:
        return early
    present = others_present(ev)
    theirs = [c for c in ev.consents if c.subject_id in present]
    consent = ConsentIndex(theirs, "recording", allow_bundled=False)
    hits = Hits("captures in private spaces without the consent of the people there")
    for c, zone, zref in _private(ev):
        if consent.active(None, c.t_start) or not hits.want():
            continue
        where = f" ({zref})" if zref else ""
        own = " (only the device user's own)" if c.consent_ids or ev.consents else ""
        hits.add(
            c.ref,
            f"{c.sensor} capture at {iso(c.t_start)} in a {zone}{where} with no consent of "
            f"the people there{own}",
        )
    return hits.outcome("no capture in a private space without its occupants' consent")


def _covert(ev: Evidence, s: GuardSession | None) -> str | None:
    """Why a capture was covert (no lit indicator people could see), or None."""
    ind = ev.device.indicator
    if not ind.present:
        return "the device has no recording indicator"
    if ind.visible_to_bystanders is False:
        return "its indicator is not visible to the people filmed"
    if s is None:
        return None
    r1 = s.verdict.r1
    if r1.outcome is Outcome.FAIL and r1.margin_ns is None:
        return "the indicator was never lit before the first frame"
    if s.tampered:
        return "the indicator was covered or disabled during the capture"
    if s.indicator_fault:
        return "the indicator went off during the capture"
    return None


@check(
    "covert_capture_private_space",
    "Covert filming or eavesdropping in a private space",
    ("captures", "indicators", "zones"),
)
def covert_capture_private_space(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A capture in a private space with no indicator the people there could see: never lit,
    covered, switched off, or none fitted (偷拍/窃听 others' privacy)."""
    early = no_captures(ev)
    if early is not None:
        return early
    private = _private(ev)
    sessions = {s.ref: s for s in guard_sessions(ev, [c for c, _, _ in private])}
    hits = Hits("covert captures in private spaces")
    for c, zone, _ in private:
        why = _covert(ev, sessions.get(c.ref))
        if why is not None and hits.want():
            hits.add(c.ref, f"{c.sensor} capture at {iso(c.t_start)} in a {zone}: {why}")
    return hits.outcome("no covert capture in a private space")
