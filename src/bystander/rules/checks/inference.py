"""Inference from faces: sensitive traits, emotions at work or school, scraping, profiling.

What a model infers about people (``BiometricOp.inferred_attributes``, ``purpose``) is
judged here: the AI Act's prohibitions (Art 5(1)(e)-(g)) and disclosure duty (Art 50(3)),
GDPR Art 9 special categories revealed by categorisation, the 2023 Chinese draft's list
(superseded), and GB/T 41819's ban on using face data to evaluate people.
"""

from __future__ import annotations

from bystander.inspect.records import BiometricOp, BiometricOpKind, Evidence, ZoneType
from bystander.rules.checks.base import (
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    insufficient,
    iso,
    not_applicable,
)
from bystander.rules.checks.index import EXPLICIT_KINDS, ConsentIndex, ZoneTimeline, does_biometrics

# Draft Art 11 (2023) of the CN measures: attributes face recognition must not analyse.
CN_DRAFT_ATTRIBUTES = frozenset(
    {"race", "ethnicity", "religion", "religious_belief", "health", "social_class"}
)
# AI Act Art 5(1)(g): categorisation inferring these is prohibited.
EU_PROHIBITED_ATTRIBUTES = frozenset(
    {
        "race",
        "ethnicity",
        "political",
        "political_opinion",
        "union",
        "trade_union",
        "religion",
        "religious_belief",
        "philosophical_belief",
        "sex_life",
        "sexual_orientation",
        "orientation",
    }
)
SCRAPE_PURPOSES = frozenset(
    {"scraping", "gallery_expansion", "face_database", "database_expansion", "untargeted"}
)
SCRAPE_SUBJECTS = 50  # templates of this many distinct never-consenting subjects = bulk
# GDPR Art 9(1): special categories a categorisation may reveal.
GDPR_SPECIAL_ATTRIBUTES = EU_PROHIBITED_ATTRIBUTES | {"health", "genetic"}
# GB/T 41819-2022: face data not used to evaluate or predict a person's performance,
# economic status, health, preferences, interests or behaviour (recommended standard).
EVALUATION_WORDS = (
    "attention",
    "engagement",
    "concentration",
    "focus",
    "performance",
    "productivity",
    "behaviour",
    "behavior",
    "credit",
    "economic",
    "income",
    "health",
    "preference",
    "interest",
    "score",
    "scoring",
    "evaluat",
    "assess",
    "rank",
)
_EVALUATION_ZONES = (ZoneType.WORKPLACE, ZoneType.SCHOOL)


def _op_text(op: BiometricOp) -> str:
    who = f" of subject {op.subject_id}" if op.subject_id else ""
    return f"{op.modality} {op.op}{who} at {iso(op.t)}"


def _inference(ev: Evidence, banned: frozenset[str], what: str) -> CheckOutcome:
    if not ev.biometric_ops:
        if does_biometrics(ev) and not ev.has_audit_log:
            return insufficient("no biometric operation records (no audit log in the bundle)")
        return not_applicable("no biometric operations")
    hits = Hits(what)
    for op in ev.biometric_ops:
        found = op.inferred_attributes & banned
        if found and hits.want():
            hits.add(op.ref, f"{_op_text(op)} inferred {', '.join(sorted(found))}")
    return hits.outcome("no sensitive attribute was inferred")


@check(
    "sensitive_inference_cn", "Face analysis of ethnicity, religion or health", ("biometric_ops",)
)
def sensitive_inference_cn(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Operations inferring race, ethnicity, religion, health or social class (CN 2023 draft)."""
    return _inference(ev, CN_DRAFT_ATTRIBUTES, "operations inferring sensitive attributes")


@check(
    "prohibited_biometric_categorisation",
    "Biometric categorisation by prohibited traits",
    ("biometric_ops",),
)
def prohibited_biometric_categorisation(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Operations inferring race, politics, union, religion or sex life (AI Act 5(1)(g))."""
    return _inference(ev, EU_PROHIBITED_ATTRIBUTES, "operations inferring prohibited traits")


@check(
    "emotion_recognition_work_school",
    "Emotion recognition at work or school",
    ("biometric_ops", "zones"),
)
def emotion_recognition_work_school(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Emotion recognition in a workplace or school (AI Act 5(1)(f))."""
    emotions = [op for op in ev.biometric_ops if op.op is BiometricOpKind.EMOTION]
    if not emotions:
        return not_applicable("no emotion recognition observed")
    zones = ZoneTimeline(ev.zones)
    banned = (ZoneType.WORKPLACE, ZoneType.SCHOOL)
    hits = Hits("emotion recognitions at work or school")
    for op in emotions:
        zone, zref = zones.zone_of(op.zone, op.t)
        if zone in banned and hits.want():
            where = f" ({zref})" if zref else ""
            hits.add(op.ref, f"emotion recognition at {iso(op.t)} in a {zone}{where}")
    return hits.outcome("no emotion recognition at work or school")


@check(
    "untargeted_face_scraping",
    "Untargeted scraping of faces into a database",
    ("biometric_ops", "consents"),
)
def untargeted_face_scraping(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face templates made for a scraping purpose, or for 50+ people who never consented.

    Conservative: enrolment of a few people without consent is a consent finding, not this.
    """
    creates = [
        op
        for op in ev.biometric_ops
        if op.op is BiometricOpKind.TEMPLATE_CREATE and op.modality == "face"
    ]
    if not creates:
        return not_applicable("no face templates were created")
    consented = {c.subject_id for c in ev.consents if c.subject_id is not None}
    hits = Hits("face templates created by untargeted scraping")
    strangers: dict[str, BiometricOp] = {}
    for op in creates:
        if op.purpose in SCRAPE_PURPOSES:
            hits.hit(op.ref, f"{_op_text(op)} for purpose {op.purpose!r}")
        elif op.subject_id is not None and op.subject_id not in consented:
            strangers.setdefault(op.subject_id, op)
    if len(strangers) >= SCRAPE_SUBJECTS:
        for op in strangers.values():
            if hits.want():
                hits.add(
                    op.ref,
                    f"{_op_text(op)}: one of {len(strangers)} people enrolled "
                    "without ever consenting",
                )
    return hits.outcome("no sign of untargeted face collection")


@check(
    "emotion_categorisation_not_disclosed",
    "Emotion recognition or categorisation not disclosed",
    ("biometric_ops", "notices"),
)
def emotion_categorisation_not_disclosed(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Emotion recognition or categorisation with no prior notice to the exposed person."""
    ops = [
        op
        for op in ev.biometric_ops
        if op.op in (BiometricOpKind.EMOTION, BiometricOpKind.CATEGORIZE)
    ]
    if not ops:
        return not_applicable("no emotion recognition or biometric categorisation observed")
    wanted = {"biometric", "emotion_recognition", "biometric_categorisation", "ai_disclosure"}
    neg = float("-inf")
    first_all: float | None = None
    per: dict[str, float] = {}
    for n in ev.notices:
        if not (n.biometric or n.fields & wanted):
            continue
        t = neg if n.t is None else n.t
        if n.subject_id is None:
            first_all = t if first_all is None else min(first_all, t)
        else:
            per.setdefault(n.subject_id, t)
    hits = Hits("emotion or categorisation operations without disclosure")
    for op in ops:
        t = float("inf") if op.t is None else op.t
        seen = (first_all is not None and first_all <= t) or (
            op.subject_id is not None and per.get(op.subject_id, float("inf")) <= t
        )
        if not seen and hits.want():
            hits.add(op.ref, f"{_op_text(op)} with no prior disclosure to the person")
    return hits.outcome("every exposed person was told first")


@check(
    "special_category_inference_without_explicit_consent",
    "Special-category traits inferred without explicit consent",
    ("biometric_ops", "consents"),
)
def special_category_inference_without_explicit_consent(
    ev: Evidence, ctx: CheckContext
) -> CheckOutcome:
    """Categorisation revealing race, ethnicity, politics, religion, health or sex life with no
    explicit consent of the person categorised (GDPR Art 9(1), 9(2)(a))."""
    ops = [op for op in ev.biometric_ops if op.inferred_attributes & GDPR_SPECIAL_ATTRIBUTES]
    if not ops:
        if does_biometrics(ev) and not ev.biometric_ops and not ev.has_audit_log:
            return insufficient("no biometric operation records (no audit log in the bundle)")
        return not_applicable("no special-category trait was inferred")
    idx = ConsentIndex(ev.consents, "face.processing", EXPLICIT_KINDS, allow_bundled=False)
    hits = Hits("special-category inferences without explicit consent")
    for op in ops:
        traits = ", ".join(sorted(op.inferred_attributes & GDPR_SPECIAL_ATTRIBUTES))
        if (op.subject_id is None or not idx.own(op.subject_id, op.t)) and hits.want():
            hits.add(op.ref, f"{_op_text(op)} revealed {traits} with no explicit consent")
    return hits.outcome("every special-category inference ran under explicit consent")


def _evaluates(op: BiometricOp, zones: ZoneTimeline) -> str | None:
    """What in the op evaluates the person (its purpose, a trait, the setting), or None."""
    words = [op.purpose or "", *op.inferred_attributes]
    for word in words:
        low = word.lower()
        if any(w in low for w in EVALUATION_WORDS):
            return f"{word!r}"
    if op.op is BiometricOpKind.EMOTION:
        zone, _ = zones.zone_of(op.zone, op.t)
        if zone in _EVALUATION_ZONES:
            return f"emotion recognition in a {zone}"
    return None


@check(
    "face_data_used_for_evaluation",
    "Face data used to evaluate or profile people",
    ("biometric_ops", "zones"),
)
def face_data_used_for_evaluation(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Emotion recognition or categorisation used to score attention, performance, health,
    preferences or behaviour, or emotion recognition at school or work (GB/T 41819)."""
    ops = [
        op
        for op in ev.biometric_ops
        if op.op in (BiometricOpKind.EMOTION, BiometricOpKind.CATEGORIZE) and op.modality == "face"
    ]
    if not ops:
        return not_applicable("no emotion recognition or categorisation of faces observed")
    zones = ZoneTimeline(ev.zones)
    hits = Hits("uses of face data to evaluate people")
    for op in ops:
        what = _evaluates(op, zones)
        if what is not None and hits.want():
            hits.add(op.ref, f"{_op_text(op)} evaluates the person: {what}")
    return hits.outcome("face data is not used to evaluate people")
