"""Biometric checks: consent, notice, private spaces, authentication, inference, filing."""

from __future__ import annotations

from collections.abc import Collection

from bystander.inspect.records import (
    PRIVATE_SPACES,
    BiometricOp,
    BiometricOpKind,
    ConsentAction,
    ConsentKindName,
    Evidence,
    ZoneType,
)
from bystander.rules.checks.base import (
    DAY,
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
    EXPLICIT_KINDS,
    PROCESSING_OPS,
    RECOGNITION_OPS,
    SEPARATE_KINDS,
    WRITTEN_KINDS,
    ConsentIndex,
    ZoneTimeline,
    does_biometrics,
    does_face_recognition,
    op_scope,
)

IDENTIFYING_OPS = frozenset(
    {BiometricOpKind.TEMPLATE_CREATE, BiometricOpKind.VERIFY_1TO1, BiometricOpKind.IDENTIFY_1TON}
)
FILING_THRESHOLD = 100_000
# 30 working days, approximated as 42 calendar days (six weeks; holidays not counted).
FILING_DAYS = 42
RESEARCH_PURPOSES = frozenset({"fr_research", "algorithm_training", "research", "training"})
GENERIC_PURPOSES = frozenset(
    {
        "improve experience",
        "improve user experience",
        "user experience",
        "improve service",
        "service improvement",
        "experience",
        "other",
        "general",
    }
)
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


def _ops_gate(ev: Evidence, ops: Collection[BiometricOpKind]) -> CheckOutcome | None:
    """The outcome when there is nothing to judge, else None."""
    if not does_biometrics(ev):
        return not_applicable("the device does no biometric processing")
    if any(op.op in ops for op in ev.biometric_ops):
        return None
    if ev.has_audit_log:
        return passed("the audit log records no biometric operation")
    return insufficient("no biometric operation records (no audit log in the bundle)")


def _op_text(op: BiometricOp) -> str:
    who = f" of subject {op.subject_id}" if op.subject_id else ""
    return f"{op.modality} {op.op}{who} at {iso(op.t)}"


def _without_consent(
    ev: Evidence,
    ops: Collection[BiometricOpKind],
    kinds: Collection[ConsentKindName],
    label: str,
) -> CheckOutcome:
    early = _ops_gate(ev, ops)
    if early is not None:
        return early
    indexes: dict[str, ConsentIndex] = {}
    hits = Hits(f"biometric operations without {label} consent")
    for op in ev.biometric_ops:
        if op.op not in ops:
            continue
        scope = op_scope(op)
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope, kinds, allow_bundled=False)
        if not idx.active(op.subject_id, op.t) and hits.want():
            hits.add(op.ref, f"{_op_text(op)} with no {label} {scope} consent in effect")
    return hits.outcome(f"every biometric operation ran under {label} consent")


@check(
    "biometric_without_separate_consent",
    "Biometric processing without separate consent",
    ("biometric_ops", "consents"),
)
def biometric_without_separate_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric operation with no separate (unbundled) consent for its modality in effect."""
    return _without_consent(ev, PROCESSING_OPS, SEPARATE_KINDS, "separate")


@check(
    "biometric_without_explicit_consent",
    "Biometric identification without explicit consent",
    ("biometric_ops", "consents"),
)
def biometric_without_explicit_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Enrolment, verification or identification with no explicit consent in effect (GDPR 9)."""
    return _without_consent(ev, IDENTIFYING_OPS, EXPLICIT_KINDS, "explicit")


@check(
    "biometric_without_written_release",
    "Biometric collection without a written release",
    ("biometric_ops", "consents"),
)
def biometric_without_written_release(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Enrolment, verification or identification with no written release in effect (BIPA)."""
    return _without_consent(ev, IDENTIFYING_OPS, WRITTEN_KINDS, "written")


def _after_ending(ev: Evidence, actions: frozenset[ConsentAction], what: str) -> CheckOutcome:
    early = _ops_gate(ev, PROCESSING_OPS)
    if early is not None:
        return early
    if not any(c.action in actions for c in ev.consents):
        return passed(f"no consent was {what}")
    indexes: dict[str, ConsentIndex] = {}
    hits = Hits(f"biometric operations after consent was {what}")
    for op in ev.biometric_ops:
        if op.op not in PROCESSING_OPS:
            continue
        scope = op_scope(op)
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope)
        last = idx.last_event(op.subject_id, op.t) if op.subject_id else None
        if last is None:
            last = idx.last_event(None, op.t)
        if last is not None and last.action in actions and hits.want():
            hits.add(op.ref, f"{_op_text(op)} after {scope} consent was {what} ({last.ref})")
    return hits.outcome(f"no biometric operation after consent was {what}")


@check(
    "biometric_after_withdrawal",
    "Biometric processing after consent was withdrawn",
    ("biometric_ops", "consents"),
)
def biometric_after_withdrawal(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric operation on a subject whose consent was withdrawn or expired."""
    return _after_ending(
        ev, frozenset({ConsentAction.WITHDRAWN, ConsentAction.EXPIRED}), "withdrawn"
    )


@check(
    "biometric_after_refusal",
    "Biometric processing after the person refused",
    ("biometric_ops", "consents"),
)
def biometric_after_refusal(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric operation on a subject who refused face (or voice) processing."""
    return _after_ending(ev, frozenset({ConsentAction.REFUSED}), "refused")


@check(
    "child_without_guardian_consent",
    "Child's data processed without guardian consent",
    ("consents", "biometric_ops"),
)
def child_without_guardian_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """On a device for under-14s: a consent not given by a guardian, or biometrics without one."""
    if not ev.device.targets_children:
        return not_applicable("the device does not target children under 14")
    hits = Hits("consents or operations without guardian consent")
    for c in ev.consents:
        if (
            c.action is ConsentAction.GRANTED
            and not (c.kind is ConsentKindName.GUARDIAN or c.granted_by == "guardian")
            and hits.want()
        ):
            hits.add(
                c.ref,
                f"consent to {', '.join(sorted(c.scopes))} at {iso(c.t)} "
                f"granted by {c.granted_by or 'the child'}, not a guardian",
            )
    indexes: dict[str, ConsentIndex] = {}
    for op in ev.biometric_ops:
        if op.op not in PROCESSING_OPS:
            continue
        scope = op_scope(op)
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope, guardian_only=True)
        if not idx.active(op.subject_id, op.t) and hits.want():
            hits.add(op.ref, f"{_op_text(op)} with no guardian consent to {scope}")
    if not ev.consents and not ev.biometric_ops:
        return insufficient("no consent or biometric records in the bundle")
    return hits.outcome("every consent came from a guardian")


def _biometric_notice_times(ev: Evidence) -> tuple[float | None, dict[str, float]]:
    """Earliest biometric notice to everyone, and per subject (documents count for everyone)."""
    neg = float("-inf")
    first_all: float | None = None
    per: dict[str, float] = {}
    for n in ev.notices:
        if not (n.biometric or "biometric" in n.fields):
            continue
        t = neg if n.t is None else n.t
        if n.subject_id is None:
            first_all = t if first_all is None else min(first_all, t)
        elif n.subject_id not in per:
            per[n.subject_id] = t
    for d in ev.documents_of("biometric_notice"):
        t = neg if d.t is None else d.t
        first_all = t if first_all is None else min(first_all, t)
    return first_all, per


@check(
    "biometric_before_notice",
    "Biometric processing before a biometric notice",
    ("biometric_ops", "notices", "documents"),
)
def biometric_before_notice(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric operation with no notice covering biometrics shown at or before it."""
    early = _ops_gate(ev, PROCESSING_OPS)
    if early is not None:
        return early
    first_all, per = _biometric_notice_times(ev)
    inf = float("inf")
    hits = Hits("biometric operations before any biometric notice")
    for op in ev.biometric_ops:
        if op.op not in PROCESSING_OPS:
            continue
        t = inf if op.t is None else op.t
        seen = first_all is not None and first_all <= t
        if not seen and op.subject_id is not None:
            mine = per.get(op.subject_id)
            seen = mine is not None and mine <= t
        if not seen and hits.want():
            hits.add(op.ref, f"{_op_text(op)} with no biometric notice shown before it")
    return hits.outcome("a biometric notice preceded every biometric operation")


@check(
    "biometric_notice_missing",
    "No separate biometric notice",
    ("notices", "documents"),
)
def biometric_notice_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The device processes biometrics but no separate biometric notice exists at all."""
    if not does_biometrics(ev):
        return not_applicable("the device does no biometric processing")
    first_all, per = _biometric_notice_times(ev)
    if first_all is not None or per:
        return passed("a separate biometric notice exists")
    kinds = ", ".join(ev.device.biometrics) or "face"
    return fail(
        "profile:biometrics",
        f"device processes biometrics ({kinds}) but the bundle holds no separate biometric "
        "notice (notice with biometric: true, or a biometric_notice document)",
        "missing biometric notice",
    )


@check(
    "face_recognition_in_private_space",
    "Face recognition in a private space",
    ("biometric_ops", "zones"),
)
def face_recognition_in_private_space(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face operations in hotel rooms, baths, changing rooms or toilets, or deployed there."""
    if not does_face_recognition(ev) and not ev.biometric_ops:
        return not_applicable("the device does no face recognition")
    zones = ZoneTimeline(ev.zones)
    hits = Hits("face recognition uses in private spaces")
    d = ev.device
    private = sorted(z for z in d.zones if z in PRIVATE_SPACES)
    if private and does_face_recognition(ev) and d.zone_guard is not True:
        hits.hit(
            "profile:zones",
            f"face recognition device deployed in {', '.join(private)} with no zone guard",
        )
    for op in ev.biometric_ops:
        if op.op is BiometricOpKind.TEMPLATE_DELETE or op.modality != "face":
            continue
        zone, zref = zones.zone_of(op.zone, op.t)
        if zone in PRIVATE_SPACES and hits.want():
            where = f" ({zref})" if zref else ""
            hits.add(op.ref, f"{_op_text(op)} in a {zone}{where}")
    return hits.outcome("no face recognition in a private space")


@check("face_only_authentication", "Face is the only way to authenticate", ())
def face_only_authentication(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The profile's authentication methods are face only: no PIN, card, key or app."""
    methods = ev.device.authentication.methods
    if not methods:
        if does_face_recognition(ev):
            return insufficient("the profile declares no authentication methods")
        return not_applicable("the device does no face recognition")
    if "face" not in methods:
        return not_applicable("face is not an authentication method")
    if all(m == "face" for m in methods):
        return fail(
            "profile:authentication.methods",
            f"face is the only authentication method (methods: {methods}); "
            "no PIN, card, key or app alternative",
            "face-only authentication",
        )
    return passed(f"alternatives to face: {', '.join(m for m in methods if m != 'face')}")


@check("fr_purpose_generic", "Face recognition for a generic purpose", ("biometric_ops",))
def fr_purpose_generic(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face operations whose stated purpose is generic ("improve experience")."""
    if not does_face_recognition(ev):
        return not_applicable("the device does no face recognition")
    hits = Hits("face operations with a generic purpose")
    for op in ev.biometric_ops:
        if op.op in RECOGNITION_OPS and op.purpose is not None:
            norm = op.purpose.lower().replace("_", " ").strip()
            if norm in GENERIC_PURPOSES and hits.want():
                hits.add(op.ref, f"{_op_text(op)} for a generic purpose: {op.purpose!r}")
    return hits.outcome("no face operation names a generic purpose")


@check(
    "fr_research_purpose_drift",
    "Research face data used in production",
    ("biometric_ops",),
)
def fr_research_purpose_drift(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Templates enrolled for research or training later used to verify or identify people."""
    research: dict[str, str] = {}
    for op in ev.biometric_ops:
        if (
            op.op is BiometricOpKind.TEMPLATE_CREATE
            and op.subject_id
            and op.purpose in (RESEARCH_PURPOSES)
        ):
            research.setdefault(op.subject_id, op.ref)
    if not research:
        return not_applicable("no face data was enrolled for research or training")
    hits = Hits("production uses of research face data")
    for op in ev.biometric_ops:
        if (
            op.op in (BiometricOpKind.VERIFY_1TO1, BiometricOpKind.IDENTIFY_1TON)
            and op.subject_id in research
            and op.purpose not in RESEARCH_PURPOSES
            and hits.want()
        ):
            hits.add(
                op.ref,
                f"{_op_text(op)} uses a template enrolled for research ({research[op.subject_id]})",
            )
    return hits.outcome("research face data stayed in research")


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
    "face_filing_missing", "No filing at 100,000 face subjects", ("counts", "stores", "documents")
)
def face_filing_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """100,000 face subjects reached and no filing document within 30 working days (~42 days)."""
    if not does_face_recognition(ev):
        return not_applicable("the device does no face recognition")
    t0: float | None = None
    ref = ""
    top = 0.0
    for c in ev.counts:
        if c.metric != "distinct_face_subjects":
            continue
        top = max(top, c.value)
        if c.value >= FILING_THRESHOLD and t0 is None:
            t0, ref = (c.t if c.t is not None else ctx.now), c.ref
    if t0 is None:
        subjects = {
            s.subject_id
            for s in ev.stores
            if s.subject_id is not None and s.data_category.startswith("user.biometric.face")
        }
        if len(subjects) >= FILING_THRESHOLD:
            t0, ref = ctx.now, "stores"
        elif not ev.counts and not subjects:
            return insufficient("no distinct_face_subjects count in the bundle")
        else:
            return passed(f"{int(max(top, len(subjects)))} face subjects, under the threshold")
    deadline = t0 + FILING_DAYS * DAY
    for d in ev.documents_of("filing"):
        if d.t is None or d.t <= deadline:
            return passed(f"filing document {d.ref}")
    if ctx.now <= deadline:
        return passed(f"filing due by {iso(deadline)}")
    return fail(
        ref,
        f"{FILING_THRESHOLD:,} face subjects reached at {iso(t0)}; no filing document by "
        f"{iso(deadline)} (30 working days)",
        "missing filing",
    )
