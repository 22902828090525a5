"""Biometric checks: consent, notice, private spaces, authentication, inference, filing."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from bystander.inspect.records import (
    PRIVATE_SPACES,
    BiometricOp,
    BiometricOpKind,
    Consent,
    ConsentAction,
    ConsentKindName,
    Evidence,
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
    IDENTIFYING_OPS,
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
def _ops_gate(
    ev: Evidence, ops: Collection[BiometricOpKind], *, face_only: bool = False
) -> CheckOutcome | None:
    """The outcome when there is nothing to judge, else None."""
    if face_only:
        if not does_face_recognition(ev):
            return not_applicable("the device does no face recognition (identity recognition)")
    elif not does_biometrics(ev):
        return not_applicable("the device does no biometric processing")
    if any(op.op in ops and (not face_only or op.modality == "face") for op in ev.biometric_ops):
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
    *,
    face_only: bool = False,
) -> CheckOutcome:
    """Operations with no consent *of their own subject* in effect; an operation on a person
    the log cannot name (a stranger identified in the street) has none that can be shown."""
    early = _ops_gate(ev, ops, face_only=face_only)
    if early is not None:
        return early
    hits = Hits(f"biometric operations without {label} consent")
    for op, message in _unconsented(ev, kinds, label):
        if op.op in ops and (not face_only or op.modality == "face"):
            hits.hit(op.ref, message)
    return hits.outcome(f"every biometric operation ran under its subject's {label} consent")


def _unconsented(
    ev: Evidence, kinds: Collection[ConsentKindName], label: str
) -> list[tuple[BiometricOp, str]]:
    """Every processing operation lacking its subject's ``label`` consent, with the message
    (once per inspection: the FR measures' checks filter what PIPL's found)."""
    key = f"unconsented:{label}"
    found: list[tuple[BiometricOp, str]] | None = ev.derived.get(key)
    if found is not None:
        return found
    indexes: dict[str, ConsentIndex] = {}
    found = ev.derived[key] = []
    for op in _ops(ev, PROCESSING_OPS, False):
        scope = op_scope(op)
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope, kinds, allow_bundled=False)
        if op.subject_id is None:
            found.append((
                op,
                f"{_op_text(op)} of an unidentified person: no {label} {scope} consent of "
                "theirs can exist (the device user's own consent does not cover others)",
            ))  # fmt: skip
        elif not idx.own(op.subject_id, op.t):
            found.append((op, f"{_op_text(op)} with no {label} {scope} consent in effect"))
    return found


def _ops(ev: Evidence, ops: Collection[BiometricOpKind], face_only: bool) -> list[BiometricOp]:
    return [
        op
        for op in ev.biometric_ops
        if op.op in ops and (not face_only or op.modality == "face")
    ]


@check(
    "biometric_without_separate_consent",
    "Biometric processing without separate consent",
    ("biometric_ops", "consents"),
)
def biometric_without_separate_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric operation (including emotion recognition and categorisation) with no
    separate, unbundled consent of its subject for its modality in effect (PIPL Art 29)."""
    return _without_consent(ev, PROCESSING_OPS, SEPARATE_KINDS, "separate")


@check(
    "face_recognition_without_separate_consent",
    "Face recognition without separate consent",
    ("biometric_ops", "consents"),
)
def face_recognition_without_separate_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face enrolment, verification or identification with no separate consent of the person
    recognised in effect (FR measures Art 6; Art 19: identity recognition only)."""
    return _without_consent(ev, IDENTIFYING_OPS, SEPARATE_KINDS, "separate", face_only=True)


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


def _after_ending(
    ev: Evidence, actions: frozenset[ConsentAction], what: str, *, face_only: bool = False
) -> CheckOutcome:
    ops = IDENTIFYING_OPS if face_only else PROCESSING_OPS
    early = _ops_gate(ev, ops, face_only=face_only)
    if early is not None:
        return early
    if not any(c.action in actions for c in ev.consents):
        return passed(f"no consent was {what}")
    indexes: dict[str, ConsentIndex] = {}
    hits = Hits(f"biometric operations after consent was {what}")
    for op in _ops(ev, ops, face_only):
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


_WITHDRAWN = frozenset({ConsentAction.WITHDRAWN, ConsentAction.EXPIRED})
_REFUSED = frozenset({ConsentAction.REFUSED})


@check(
    "biometric_after_withdrawal",
    "Biometric processing after consent was withdrawn",
    ("biometric_ops", "consents"),
)
def biometric_after_withdrawal(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric operation on a subject whose consent was withdrawn or expired."""
    return _after_ending(ev, _WITHDRAWN, "withdrawn")


@check(
    "face_recognition_after_withdrawal",
    "Face recognition after consent was withdrawn",
    ("biometric_ops", "consents"),
)
def face_recognition_after_withdrawal(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face enrolment, verification or identification after the person withdrew consent."""
    return _after_ending(ev, _WITHDRAWN, "withdrawn", face_only=True)


@check(
    "face_recognition_after_refusal",
    "Face recognition after the person refused",
    ("biometric_ops", "consents"),
)
def face_recognition_after_refusal(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face enrolment, verification or identification of a person who refused it (FRM 12)."""
    return _after_ending(ev, _REFUSED, "refused", face_only=True)


def _is_guardian(c: Consent) -> bool:
    return c.kind is ConsentKindName.GUARDIAN or c.granted_by == "guardian"


@check(
    "child_without_guardian_consent",
    "Child's data processed without guardian consent",
    ("consents", "biometric_ops", "subjects"),
)
def child_without_guardian_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A child's consent not given by a guardian, or biometrics on a child without one.

    Children are every subject on a device for under-14s, and anyone the records say is
    under 14 (a ``subject`` record's age, a consent's ``age`` or ``under_14``) on any device.
    """
    everyone = ev.device.targets_children
    kids = ev.children()
    if not everyone and not kids:
        return not_applicable("no child under 14 is known to use the device")

    def child(subject: str | None) -> bool:
        return everyone or (subject is not None and subject in kids)

    hits = Hits("consents or operations on children without guardian consent")
    for c in ev.consents:
        own = c.action is ConsentAction.GRANTED and child(c.subject_id) and not _is_guardian(c)
        if own and hits.want():
            hits.add(
                c.ref,
                f"consent to {', '.join(sorted(c.scopes))} at {iso(c.t)} for "
                f"{c.subject_id or 'a child'} granted by {c.granted_by or 'the child'}, "
                "not a guardian",
            )
    indexes: dict[str, ConsentIndex] = {}
    for op in ev.biometric_ops:
        if op.op not in PROCESSING_OPS or not child(op.subject_id):
            continue
        scope = op_scope(op)
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope, guardian_only=True)
        ok = op.subject_id is not None and idx.own(op.subject_id, op.t)
        if not ok and hits.want():
            hits.add(op.ref, f"{_op_text(op)} with no guardian consent to {scope}")
    if not ev.consents and not ev.biometric_ops:
        return insufficient("no consent or biometric records in the bundle")
    return hits.outcome("every child's consent came from a guardian")


@dataclass
class _NoticeTimes:
    """Earliest biometric notice: public (no subject: signs, announcements), published
    documents (reach the device's users), and per subject."""

    public: float | None = None
    document: float | None = None
    per: dict[str, float] = field(default_factory=dict)

    def seen(self, subject: str | None, t: float) -> bool:
        """Whether the op's subject had been told by ``t``; strangers only by public notices."""
        if self.public is not None and self.public <= t:
            return True
        if subject is None:
            return False
        mine = self.per.get(subject)
        return (self.document is not None and self.document <= t) or (
            mine is not None and mine <= t
        )

    @property
    def any(self) -> bool:
        return self.public is not None or self.document is not None or bool(self.per)


def _earliest(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _biometric_notices(ev: Evidence) -> _NoticeTimes:
    neg = float("-inf")
    times = _NoticeTimes()
    for n in ev.notices:
        if not (n.biometric or "biometric" in n.fields):
            continue
        t = neg if n.t is None else n.t
        if n.subject_id is None:
            times.public = _earliest(times.public, t)
        elif n.subject_id not in times.per:
            times.per[n.subject_id] = t
    for d in ev.documents_of("biometric_notice"):
        times.document = _earliest(times.document, neg if d.t is None else d.t)
    return times


def _before_notice(ev: Evidence, face_only: bool) -> CheckOutcome:
    ops = IDENTIFYING_OPS if face_only else PROCESSING_OPS
    early = _ops_gate(ev, ops, face_only=face_only)
    if early is not None:
        return early
    found: list[BiometricOp] | None = ev.derived.get("before_notice")
    if found is None:
        times = _biometric_notices(ev)
        inf = float("inf")
        found = ev.derived["before_notice"] = [
            op
            for op in _ops(ev, PROCESSING_OPS, False)
            if not times.seen(op.subject_id, inf if op.t is None else op.t)
        ]
    hits = Hits("biometric operations before any biometric notice to their subject")
    for op in found:
        if op.op in ops and (not face_only or op.modality == "face") and hits.want():
            who = "" if op.subject_id else " (a person no notice reached: no public notice)"
            hits.add(op.ref, f"{_op_text(op)} with no biometric notice shown before it{who}")
    return hits.outcome("a biometric notice reached every subject before processing")


@check(
    "biometric_before_notice",
    "Biometric processing before a biometric notice",
    ("biometric_ops", "notices", "documents"),
)
def biometric_before_notice(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A biometric operation whose subject had no biometric notice at or before it (a stranger
    is reached only by a public notice: a sign, an announcement)."""
    return _before_notice(ev, face_only=False)


@check(
    "face_recognition_before_notice",
    "Face recognition before a notice to the person",
    ("biometric_ops", "notices", "documents"),
)
def face_recognition_before_notice(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Face enrolment, verification or identification of a person not told first (FRM Art 5)."""
    return _before_notice(ev, face_only=True)


@check(
    "biometric_notice_missing",
    "No separate biometric notice",
    ("notices", "documents"),
)
def biometric_notice_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The device processes biometrics but no separate biometric notice exists at all."""
    if not does_biometrics(ev):
        return not_applicable("the device does no biometric processing")
    if _biometric_notices(ev).any:
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
    """Face recognition (enrolment, verification, identification) in hotel rooms, baths,
    changing rooms or toilets, or a face-recognition device deployed there."""
    if not does_face_recognition(ev):
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
    for op in _ops(ev, IDENTIFYING_OPS, True):
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
