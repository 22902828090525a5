"""Typed evidence records: what the inspector observes about a device, whatever the source.

Importers (``bystander.inspect.importers``) turn an evidence bundle (audit export, device log,
HAR traffic, documents, billing events) into these records; checks (``bystander.rules.checks``)
read them. The vocabulary follows the evidence table of the rule research (capture, indicator,
notice, consent, biometric operation, egress, store, zone, document, permission, request,
upload/moderation, billing, count).

Conventions:

- ``ref`` names where a record came from, precisely enough for a person to find it:
  ``audit:1234`` (audit-log index), ``log:records.jsonl:17`` (line), ``har:traffic.har#5``
  (entry index), ``doc:privacy.md:12`` (line), ``billing:billing.csv:3`` (row), ``profile:auth``.
- ``t`` and every other time is seconds since the Unix epoch, UTC (``float``); ``None`` when the
  source does not say. Floats keep a million records cheap to sort and compare.
- Records are immutable; sets are ``frozenset`` and sequences ``tuple``.
- Data categories use the taxonomy keys of ``bystander.rules`` (``user.biometric.face.image``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bystander.evidence.events import AuditEvent
from bystander.inspect.profile import InspectedDevice


class Sensor(StrEnum):
    CAMERA = "camera"
    MICROPHONE = "microphone"
    DEPTH = "depth"


class ConsentAction(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RENEWED = "renewed"


class ConsentKindName(StrEnum):
    """How consent was given; ``separate`` is the PIPL/FRM notion (its own, unbundled act)."""

    GENERAL = "general"
    SEPARATE = "separate"
    WRITTEN = "written"
    EXPLICIT = "explicit"
    GUARDIAN = "guardian"


class BiometricOpKind(StrEnum):
    DETECT = "detect"
    TEMPLATE_CREATE = "template_create"
    VERIFY_1TO1 = "verify_1to1"
    IDENTIFY_1TON = "identify_1toN"
    CATEGORIZE = "categorize"
    EMOTION = "emotion"
    TEMPLATE_DELETE = "template_delete"


class ZoneType(StrEnum):
    HOTEL_ROOM = "hotel_room"
    PUBLIC_BATH = "public_bath"
    CHANGING_ROOM = "changing_room"
    TOILET = "toilet"
    PUBLIC_PLACE = "public_place"
    HOME = "home"
    WORKPLACE = "workplace"
    SCHOOL = "school"
    OTHER = "other"


PRIVATE_SPACES = frozenset(
    {ZoneType.HOTEL_ROOM, ZoneType.PUBLIC_BATH, ZoneType.CHANGING_ROOM, ZoneType.TOILET}
)


@dataclass(frozen=True, slots=True)
class Capture:
    """A period during which a sensor delivered data to any consumer."""

    ref: str
    t_start: float | None
    t_end: float | None
    sensor: Sensor = Sensor.CAMERA
    mode: str = "video"  # photo | video | stream | always_on
    session_id: str | None = None
    zone: ZoneType | None = None
    consent_ids: tuple[str, ...] = ()
    t_lead_ms: float | None = None  # the indicator lead the device must keep (guard rule R1)
    bystanders: int | None = None  # people other than the user in view (0: nobody else)


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator state change (``on``, ``off``) or a tamper report (``tampered``)."""

    ref: str
    t: float | None
    state: str  # on | off | tampered
    sensor: Sensor = Sensor.CAMERA
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice shown to a person (or to everyone, ``subject_id=None``)."""

    ref: str
    t: float | None
    notice_id: str
    fields: frozenset[str] = frozenset()  # processor, contact, purpose, categories, retention...
    biometric: bool = False  # a separate notice for biometric processing
    channel: str | None = None  # app, device_screen, signage, voice, web
    subject_id: str | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent act: granted, refused, withdrawn, expired or renewed."""

    ref: str
    t: float | None
    action: ConsentAction
    scopes: frozenset[str]  # recording, face.processing, face.cloud_transfer, cross_border...
    kind: ConsentKindName = ConsentKindName.GENERAL
    subject_id: str | None = None
    record_id: str | None = None
    granted_by: str | None = None  # subject | guardian
    bundled: bool = False  # accepted as part of a wider terms-of-service acceptance
    subject_role: str | None = None  # wearer | user | owner | enrolled | bystander
    age: float | None = None  # the subject's age in years, when known
    under_14: bool | None = None  # the subject is under 14 (the consent store's flag)


#: Subject roles of the device's own user: their consent never stands in for anyone else's.
USER_ROLES = frozenset({"wearer", "user", "owner"})


@dataclass(frozen=True, slots=True)
class Subject:
    """What the bundle says about one person: their age and their role to the device."""

    ref: str
    subject_id: str
    age: float | None = None
    under_14: bool | None = None
    role: str | None = None  # wearer | user | owner | enrolled | resident | bystander ...

    @property
    def child(self) -> bool | None:
        """Under 14 (PIPL Art 28/31), from the flag or the age; None when unknown."""
        if self.under_14 is not None:
            return self.under_14
        return None if self.age is None else self.age < 14


@dataclass(frozen=True, slots=True)
class BiometricOp:
    """A biometric operation on a face (or voice) by the device or its cloud."""

    ref: str
    t: float | None
    op: BiometricOpKind
    subject_id: str | None = None
    zone: ZoneType | None = None
    location: str = "on_device"  # on_device | cloud:<region>
    inferred_attributes: frozenset[str] = frozenset()
    purpose: str | None = None
    modality: str = "face"  # face | voice | fingerprint | gait


@dataclass(frozen=True, slots=True)
class Egress:
    """Data leaving the device: one network request, or one decision of an egress gate."""

    ref: str
    t: float | None
    host: str
    data_categories: frozenset[str] = frozenset()
    country: str | None = None  # ISO 3166 alpha-2, or None when unknown
    ip: str | None = None
    method: str | None = None
    url: str | None = None
    bytes_sent: int = 0
    tls: bool | None = None
    allowed: bool = True  # False for a request the guard refused (nothing left)
    findings: tuple[str, ...] = ()  # what traffic analysis saw: "jpeg body", "field face_feature"
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Store:
    """A stored item of personal data and where it lives."""

    ref: str
    record_id: str
    data_category: str
    location: str = "on_device"  # on_device | cloud:<country-or-region>
    t_created: float | None = None
    t_deleted: float | None = None
    retention_days: float | None = None  # declared retention
    encrypted: bool | None = None
    subject_id: str | None = None


@dataclass(frozen=True, slots=True)
class Zone:
    """The device entered (or was deployed in) a zone from ``t`` on."""

    ref: str
    t: float | None
    zone_type: ZoneType
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentField:
    """Where in a document a required element was found (``location`` like ``privacy.md:12``)."""

    name: str
    location: str
    excerpt: str = ""


@dataclass(frozen=True, slots=True)
class Document:
    """A document in the bundle, with what notice analysis found in it."""

    ref: str
    doc_type: str  # privacy_policy, processing_rules, biometric_notice, pia, filing,
    # retention_schedule, signage, children_rules, vuln_disclosure_policy, support_period
    path: str
    lang: str | None = None  # zh | en
    t: float | None = None  # effective or signed date
    fields: tuple[DocumentField, ...] = ()
    biometric_section: bool = False
    public: bool = True

    def has(self, name: str) -> bool:
        """Whether notice analysis found ``name`` (e.g. ``retention``) in this document."""
        return any(f.name == name for f in self.fields)


@dataclass(frozen=True, slots=True)
class Permission:
    """An OS or app permission request, or an access-control fact about the device."""

    ref: str
    t: float | None
    permission: str  # camera, microphone, location, contacts, remote_view...
    result: str  # granted | denied | not_asked
    purpose_shown: bool = False
    prompted: bool = True


@dataclass(frozen=True, slots=True)
class SubjectRequest:
    """A data-subject request (access, delete, correct, cancel_account, withdraw)."""

    ref: str
    kind: str
    t_received: float | None
    t_completed: float | None = None
    subject_id: str | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Moderation:
    """A platform fact: an upload, a complaint, a moderation decision or a takedown."""

    ref: str
    t: float | None
    content_id: str
    action: str  # uploaded, complaint, accepted, featured, held, rejected, anonymized, taken_down
    has_faces: bool | None = None
    bystander_count: int | None = None
    consent_refs: tuple[str, ...] = ()
    reason: str | None = None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Billing:
    """A subscription billing event."""

    ref: str
    t: float | None
    subscription_id: str
    event: str  # subscribed, opt_in, reminder_sent, renewal, cancel_option_shown, cancelled
    amount: float | None = None
    currency: str | None = None
    auto_renew: bool | None = None


@dataclass(frozen=True, slots=True)
class Count:
    """An aggregate reported by the device or its backend (e.g. distinct_face_subjects)."""

    ref: str
    t: float | None
    metric: str
    value: float


@dataclass
class Evidence:
    """Everything the inspector knows about one device: its profile plus typed records.

    Lists are sorted by time (records without a time last) once ``finish()`` is called.
    ``sources`` lists the files read; ``notes`` holds non-fatal import remarks
    (e.g. ``traffic.har: 3 entries without a response``).
    """

    device: InspectedDevice
    captures: list[Capture] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
    biometric_ops: list[BiometricOp] = field(default_factory=list)
    egress: list[Egress] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    permissions: list[Permission] = field(default_factory=list)
    requests: list[SubjectRequest] = field(default_factory=list)
    moderation: list[Moderation] = field(default_factory=list)
    billing: list[Billing] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)
    subjects: list[Subject] = field(default_factory=list)
    # ``capture.*`` events of imported audit logs, with their refs (replayed by the checks)
    guard_events: list[tuple[str, AuditEvent]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    has_traffic: bool = False  # a traffic capture was supplied (absence of egress means something)
    has_audit_log: bool = False
    root: str | None = None  # the bundle folder as given
    artifacts: dict[str, str] = field(default_factory=dict)  # manifest, profile, audit -> file
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def finish(self) -> Evidence:
        """Sort every record list by time (stable; unknown times last) and return self."""
        inf = float("inf")
        for name in _TIMED:
            items = getattr(self, name)
            items.sort(
                key=lambda r, a=_TIME_ATTR[name]: inf if getattr(r, a) is None else getattr(r, a)
            )
        return self

    def record_count(self) -> int:
        """How many records were imported (documents and the profile not counted)."""
        timed = sum(len(getattr(self, name)) for name in _TIMED if name != "documents")
        return timed + len(self.subjects)

    def documents_of(self, *doc_types: str) -> list[Document]:
        """The documents of the given types."""
        return [d for d in self.documents if d.doc_type in doc_types]

    def children(self) -> set[str]:
        """Ids of subjects the records say are under 14 (subject records, consent ages)."""
        kids = {s.subject_id for s in self.subjects if s.child}
        for c in self.consents:
            if c.subject_id and (c.under_14 or (c.age is not None and c.age < 14)):
                kids.add(c.subject_id)
        return kids


_TIME_ATTR = {
    "captures": "t_start",
    "indicators": "t",
    "notices": "t",
    "consents": "t",
    "biometric_ops": "t",
    "egress": "t",
    "stores": "t_created",
    "zones": "t",
    "documents": "t",
    "permissions": "t",
    "requests": "t_received",
    "moderation": "t",
    "billing": "t",
    "counts": "t",
}
_TIMED = tuple(_TIME_ATTR)
