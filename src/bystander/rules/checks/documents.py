"""Document checks: processing rules, children's rules, PIA, signage, retention schedule."""

from __future__ import annotations

from bystander.inspect.records import BiometricOpKind, Document, Evidence, ZoneType
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
# A model looking at people: detection (e.g. to blur them) counts as much as recognition.
AI_OPS = PROCESSING_OPS | {BiometricOpKind.DETECT}
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


# The language people in a market read the notice in: a Chinese-market device is judged on
# its Chinese notice (PIPL Art 17: clear, easy-to-understand language); EU and Illinois
# devices on their notice in another language (the bundle format knows zh and en).
LANGUAGES = {"zh": "Chinese", "en": "non-Chinese"}


def _in_language(docs: list[Document], lang: str) -> list[Document]:
    """The documents in ``lang`` (zh, or any other); an unknown language counts for both."""
    return [d for d in docs if d.lang is None or (d.lang == "zh") == (lang == "zh")]


def _rules_missing(ev: Evidence, lang: str) -> CheckOutcome:
    docs = _policies(ev)
    if not docs:
        return fail(
            "bundle:documents",
            "no privacy policy or personal-information processing rules in the bundle",
            "missing processing rules",
        )
    mine = _in_language(docs, lang)
    if not mine:
        have = ", ".join(sorted({d.lang or "?" for d in docs}))
        return fail(
            docs[0].ref,
            f"no processing rules in {LANGUAGES[lang]} (the bundle has them in: {have})",
            "rules not in the market's language",
        )
    public = [d for d in mine if d.public]
    if not public:
        return fail(mine[0].ref, f"{mine[0].path} is not published", "unpublished rules")
    return passed(f"processing rules published: {public[0].path}")


def _rules_incomplete(ev: Evidence, lang: str) -> CheckOutcome:
    mine = _in_language(_policies(ev), lang)
    if not mine:
        return not_applicable(f"no processing rules in {LANGUAGES[lang]} (see the missing check)")
    if not any(d.fields for d in mine):
        return insufficient("notice analysis found no fields in the processing rules")
    found = {f.name for d in mine for f in d.fields}
    hits = Hits("required elements missing from the processing rules")
    names = ", ".join(d.path for d in mine)
    for name, text in REQUIRED_FIELDS.items():
        if name not in found:
            hits.hit(mine[0].ref, f"{names} do not state {text} ({name})")
    return hits.outcome(f"the {LANGUAGES[lang]} processing rules state every required element")


@check(
    "processing_rules_missing_zh",
    "No published processing rules in Chinese",
    ("documents",),
)
def processing_rules_missing_zh(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """No privacy policy or processing rules, none in Chinese, or none published."""
    return _rules_missing(ev, "zh")


@check(
    "processing_rules_incomplete_zh",
    "Chinese processing rules lack required information",
    ("documents",),
)
def processing_rules_incomplete_zh(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The Chinese processing rules (together) omit processor, contact, purposes, categories,
    retention, rights or how to exercise them; other languages do not make up for it."""
    return _rules_incomplete(ev, "zh")


@check(
    "processing_rules_missing_en",
    "No published processing information outside Chinese",
    ("documents",),
)
def processing_rules_missing_en(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """No privacy policy, none in a language other than Chinese, or none published."""
    return _rules_missing(ev, "en")


@check(
    "processing_rules_incomplete_en",
    "Processing information outside Chinese lacks required elements",
    ("documents",),
)
def processing_rules_incomplete_en(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The non-Chinese privacy notices (together) omit a required element."""
    return _rules_incomplete(ev, "en")


@check(
    "ai_processing_not_disclosed",
    "How the AI treats people's data is not explained",
    ("documents", "biometric_ops"),
)
def ai_processing_not_disclosed(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The device analyses people with a model (face recognition, detection, emotion,
    categorisation) but no notice says what the algorithm does with their data."""
    d = ev.device
    kinds = sorted({str(op.op) for op in ev.biometric_ops if op.op in AI_OPS})
    if not kinds and not d.face_recognition and not d.biometrics:
        return not_applicable("the device analyses no one with a model")
    docs = ev.documents_of(*POLICY_TYPES, "biometric_notice")
    explained = [doc for doc in docs if doc.has("algorithm")]
    if explained:
        field = next(f for f in explained[0].fields if f.name == "algorithm")
        return passed(f"the algorithm is explained at {field.location}")
    what = ", ".join(kinds) or ", ".join(d.biometrics) or "face recognition"
    return fail(
        docs[0].ref if docs else "bundle:documents",
        f"the device runs {what} on people but no notice explains what the algorithm does",
        "unexplained algorithm",
    )


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
