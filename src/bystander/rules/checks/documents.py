"""Document checks: processing rules, children's rules, PIA, signage, retention schedule."""

from __future__ import annotations

from bystander.inspect.records import Document, Evidence, ZoneType
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
    PROCESSING_OPS,
    does_biometrics,
    first_time,
    is_personal,
    is_sensitive,
)

POLICY_TYPES = ("privacy_policy", "processing_rules")
# Field names emitted by the notice analyser, and what each means in a report.
REQUIRED_FIELDS = {
    "processor": "the processor's name",
    "contact": "contact details",
    "purposes": "the purposes",
    "data_categories": "the categories of personal information",
    "retention": "the retention period",
    "rights": "the individual's rights",
    "exercise_rights": "how to exercise those rights",
}
PIA_TYPES = ("pia", "dpia")
# Sections of an impact assessment (FRM Art 9, PIPL Art 56, GDPR Art 35(7)).
PIA_SECTIONS = {
    "purposes": "legality and necessity of purpose and method",
    "impact": "impact on rights and risks",
    "risks": "risk of leak, tampering or loss",
    "measures": "adequacy of protection measures",
}


def _policies(ev: Evidence) -> list[Document]:
    return ev.documents_of(*POLICY_TYPES)


@check("processing_rules_missing", "No published processing rules", ("documents",))
def processing_rules_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """No privacy policy or processing rules in the bundle, or none is published."""
    docs = _policies(ev)
    if not docs:
        return fail(
            "bundle:documents",
            "no privacy policy or personal-information processing rules in the bundle",
            "missing processing rules",
        )
    public = [d for d in docs if d.public]
    if not public:
        return fail(docs[0].ref, f"{docs[0].path} is not published", "unpublished rules")
    return passed(f"processing rules published: {public[0].path}")


@check(
    "processing_rules_incomplete",
    "Processing rules lack required information",
    ("documents",),
)
def processing_rules_incomplete(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The processing rules omit processor, contact, purposes, categories, retention or rights."""
    docs = _policies(ev)
    if not docs:
        return not_applicable("no processing rules (see processing_rules_missing)")
    if not any(d.fields for d in docs):
        return insufficient("notice analysis found no fields in the processing rules")
    found = {f.name for d in docs for f in d.fields}
    hits = Hits("required elements missing from the processing rules")
    for name, text in REQUIRED_FIELDS.items():
        if name not in found:
            hits.hit(docs[0].ref, f"{docs[0].path} does not state {text} ({name})")
    return hits.outcome("the processing rules state every required element")


@check("children_rules_missing", "No dedicated rules for children's data", ("documents",))
def children_rules_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A device for under-14s with no children's processing rules."""
    if not ev.device.targets_children:
        return not_applicable("the device does not target children under 14")
    docs = ev.documents_of("children_rules")
    if docs or any(d.has("children") for d in _policies(ev)):
        return passed("dedicated rules for children's data exist")
    return fail(
        "bundle:documents",
        "device targets children under 14 but the bundle holds no children's processing rules",
        "missing children's rules",
    )


def _pia_trigger(ev: Evidence) -> tuple[float | None, str] | None:
    """(time, what) of the first processing needing a PIA, or None when nothing needs one."""
    ops = [op.t for op in ev.biometric_ops if op.op in PROCESSING_OPS]
    if ops:
        return first_time(ops), "first biometric operation"
    if does_biometrics(ev):
        return None, "biometric processing"
    sens = [
        e.t
        for e in ev.egress
        if e.allowed and any(is_personal(c) and is_sensitive(c) for c in e.data_categories)
    ]
    if sens:
        return first_time(sens), "first transfer of sensitive data"
    return None


@check("pia_missing_or_late", "No prior impact assessment", ("documents", "biometric_ops"))
def pia_missing_or_late(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Sensitive processing with no impact assessment, or one dated after processing began."""
    trigger = _pia_trigger(ev)
    if trigger is None:
        return not_applicable("no biometric or sensitive processing needs an impact assessment")
    t0, what = trigger
    pias = ev.documents_of(*PIA_TYPES)
    if not pias:
        return fail(
            "bundle:documents",
            f"{what} ({iso(t0)}) but the bundle holds no impact assessment (pia)",
            "missing impact assessment",
        )
    dated = [d for d in pias if d.t is not None]
    if t0 is None or len(dated) < len(pias) or min(d.t for d in dated if d.t is not None) <= t0:
        return passed(f"impact assessment {pias[0].path}")
    first = min(dated, key=lambda d: d.t or 0.0)
    return fail(
        first.ref,
        f"impact assessment {first.path} dated {iso(first.t)}, after the {what} at {iso(t0)}",
        "late impact assessment",
    )


@check("pia_sections_missing", "Impact assessment lacks required sections", ("documents",))
def pia_sections_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The impact assessment omits purpose/necessity, impact, risks or measures."""
    pias = ev.documents_of(*PIA_TYPES)
    if not pias:
        return not_applicable("no impact assessment (see pia_missing_or_late)")
    if not any(d.fields for d in pias):
        return insufficient("notice analysis found no sections in the impact assessment")
    found = {f.name for d in pias for f in d.fields}
    hits = Hits("impact assessment sections missing")
    for name, text in PIA_SECTIONS.items():
        if name not in found:
            hits.hit(pias[0].ref, f"{pias[0].path} has no section on {text} ({name})")
    return hits.outcome("the impact assessment has every section")


@check(
    "public_camera_without_signage",
    "Camera in a public place without signage",
    ("zones", "documents"),
)
def public_camera_without_signage(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A camera deployed in a public place with no signage document."""
    if "camera" not in ev.device.sensors and not ev.captures:
        return not_applicable("the device has no camera")
    public = [z for z in ev.zones if z.zone_type is ZoneType.PUBLIC_PLACE]
    declared = "public_place" in ev.device.zones
    if not public and not declared:
        return not_applicable("not deployed in a public place")
    if ev.documents_of("signage"):
        return passed("signage documented")
    ref = public[0].ref if public else "profile:zones"
    return fail(ref, "camera deployed in a public place with no signage document", "no signage")


@check(
    "retention_schedule_not_public",
    "No public biometric retention schedule",
    ("documents",),
)
def retention_schedule_not_public(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Biometric processing with no publicly available retention schedule (BIPA 15(a))."""
    if not does_biometrics(ev):
        return not_applicable("the device does no biometric processing")
    docs = ev.documents_of("retention_schedule")
    public = [d for d in docs if d.public]
    if public:
        return passed(f"public retention schedule {public[0].path}")
    if docs:
        return fail(docs[0].ref, f"retention schedule {docs[0].path} is not public", "private")
    return fail(
        "bundle:documents",
        "biometric data collected but no retention schedule or destruction guidelines",
        "missing retention schedule",
    )
