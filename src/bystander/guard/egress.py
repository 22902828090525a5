"""The egress gate: the one function every uploader must pass.

Given where data is going (host, country, purpose) and what it is (data kinds) and whose it
is (data subjects), the gate allows the transfer only when each subject holds valid consent
of the required kind for every scope the transfer touches, and logs its decision either way.
It fails closed: an error while checking consent or logging is a denial.

Consents a transfer needs (each named subject must hold all of them):

- by purpose, any valid consent (kind general): storage and cloud-processing need
  ``cloud-processing``; ai needs ``ai-processing``; live-stream needs ``live-stream``;
  publication needs ``publication``;
- face data (face image, template, embedding) leaving the device: ``face-cloud-transfer``,
  kind separate (CAC/MPS Facial Recognition Measures Art 8);
- a voiceprint leaving the device: ``cloud-processing``, kind separate (PIPL Art 29,
  sensitive personal information);
- a destination country other than the device's jurisdiction: ``cross-border-transfer``,
  kind separate (PIPL Art 39).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from bystander.consent.models import ConsentKind, Scope
from bystander.errors import BystanderError
from bystander.evidence.events import AuditEvent, EventSink, EventType

T = TypeVar("T")


class DataKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    FACE_IMAGE = "face-image"
    FACE_TEMPLATE = "face-template"
    FACE_EMBEDDING = "face-embedding"
    VOICEPRINT = "voiceprint"
    LOCATION = "location"
    TELEMETRY = "telemetry"


class Purpose(StrEnum):
    STORAGE = "storage"
    CLOUD_PROCESSING = "cloud-processing"
    AI = "ai"
    LIVE_STREAM = "live-stream"
    PUBLICATION = "publication"


FACE_DATA = frozenset({DataKind.FACE_IMAGE, DataKind.FACE_TEMPLATE, DataKind.FACE_EMBEDDING})

_PURPOSE_SCOPE = {
    Purpose.STORAGE: Scope.CLOUD_PROCESSING,
    Purpose.CLOUD_PROCESSING: Scope.CLOUD_PROCESSING,
    Purpose.AI: Scope.AI_PROCESSING,
    Purpose.LIVE_STREAM: Scope.LIVE_STREAM,
    Purpose.PUBLICATION: Scope.PUBLICATION,
}


class EgressDenied(BystanderError):
    """The gate refused a transfer; the message says which consent is missing."""


class ConsentChecker(Protocol):
    """What the gate needs from the consent store."""

    def check(
        self, subject_id: str, scope: Scope, at: datetime | None = None, kind: ConsentKind = ...
    ) -> ConsentAnswer: ...


class ConsentAnswer(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def record_id(self) -> str | None: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Destination:
    """Where data goes: ``country`` is an ISO 3166-1 alpha-2 code."""

    host: str
    country: str
    purpose: Purpose


@dataclass(frozen=True)
class Requirement:
    subject_id: str
    scope: Scope
    kind: ConsentKind
    why: str


@dataclass(frozen=True)
class EgressDecision:
    allowed: bool
    destination: Destination
    data_kinds: tuple[DataKind, ...]
    reasons: tuple[str, ...]
    consent_records: tuple[str, ...] = field(default=())


def requirements(
    destination: Destination,
    data_kinds: Iterable[DataKind],
    subject_ids: Iterable[str],
    home_country: str,
) -> list[Requirement]:
    """Every (subject, scope, kind) consent a transfer needs, with the rule that asks for it."""
    kinds = set(data_kinds)
    needed: list[tuple[Scope, ConsentKind, str]] = [
        (_PURPOSE_SCOPE[destination.purpose], ConsentKind.GENERAL, f"purpose {destination.purpose}")
    ]
    if kinds & FACE_DATA:
        needed.append(
            (Scope.FACE_CLOUD_TRANSFER, ConsentKind.SEPARATE, "face data leaves the device")
        )
    if DataKind.VOICEPRINT in kinds:
        needed.append(
            (Scope.CLOUD_PROCESSING, ConsentKind.SEPARATE, "voiceprint leaves the device")
        )
    if destination.country.upper() != home_country.upper():
        needed.append(
            (
                Scope.CROSS_BORDER_TRANSFER,
                ConsentKind.SEPARATE,
                f"transfer from {home_country.upper()} to {destination.country.upper()}",
            )
        )
    return [
        Requirement(subject, scope, kind, why)
        for subject in sorted(set(subject_ids))
        for scope, kind, why in needed
    ]


class EgressGate:
    """Checks consent for every transfer off the device and records the decision.

    >>> gate = EgressGate(consent_store, audit_log, home_country="CN")   # doctest: +SKIP
    >>> gate.send(Destination("upload.example.com", "CN", Purpose.STORAGE),
    ...           [DataKind.VIDEO], ["wearer-1"], upload)                 # doctest: +SKIP
    """

    def __init__(self, consents: ConsentChecker, sink: EventSink, home_country: str) -> None:
        if len(home_country) != 2:
            raise ValueError("home_country must be an ISO 3166-1 alpha-2 code")
        self.consents = consents
        self.sink = sink
        self.home_country = home_country.upper()

    def decide(
        self,
        destination: Destination,
        data_kinds: Iterable[DataKind],
        subject_ids: Iterable[str],
        at: datetime | None = None,
    ) -> EgressDecision:
        """Decide and log. Never raises for a denial; raises only if the log cannot be written."""
        kinds = tuple(sorted(set(data_kinds)))
        subjects = tuple(sorted(set(subject_ids)))
        at = at or datetime.now(UTC)
        try:
            decision = self._evaluate(destination, kinds, subjects, at)
        except Exception as exc:  # fail closed: an unanswerable question is a "no"
            decision = EgressDecision(
                False, destination, kinds, (f"consent check failed: {type(exc).__name__}: {exc}",)
            )
        if not subjects:
            decision = EgressDecision(False, destination, kinds, ("no data subject named",))
        self._log(decision, subjects)
        return decision

    def send(
        self,
        destination: Destination,
        data_kinds: Iterable[DataKind],
        subject_ids: Iterable[str],
        sender: Callable[[], T],
    ) -> T:
        """Run ``sender`` only if the transfer is allowed; otherwise raise ``EgressDenied``."""
        decision = self.decide(destination, data_kinds, subject_ids)
        if not decision.allowed:
            raise EgressDenied(
                f"egress to {destination.host} denied: " + "; ".join(decision.reasons)
            )
        return sender()

    def _evaluate(
        self,
        destination: Destination,
        kinds: tuple[DataKind, ...],
        subjects: tuple[str, ...],
        at: datetime,
    ) -> EgressDecision:
        reasons: list[str] = []
        records: list[str] = []
        for need in requirements(destination, kinds, subjects, self.home_country):
            answer = self.consents.check(need.subject_id, need.scope, at=at, kind=need.kind)
            if answer.allowed:
                if answer.record_id:
                    records.append(answer.record_id)
            else:
                reasons.append(
                    f"{need.subject_id}: no valid {need.kind} consent for {need.scope} "
                    f"({need.why}; {answer.reason})"
                )
        allowed = not reasons
        if allowed:
            reasons = [f"consent on record for {', '.join(sorted(set(records))) or 'all scopes'}"]
        return EgressDecision(
            allowed, destination, kinds, tuple(reasons), tuple(sorted(set(records)))
        )

    def _log(self, decision: EgressDecision, subjects: tuple[str, ...]) -> None:
        event = AuditEvent(
            type=EventType.EGRESS_ALLOWED if decision.allowed else EventType.EGRESS_DENIED,
            reason="; ".join(decision.reasons),
            data={
                "host": decision.destination.host,
                "country": decision.destination.country.upper(),
                "purpose": str(decision.destination.purpose),
                "data_kinds": [str(k) for k in decision.data_kinds],
                "subjects": list(subjects),
                "consent_records": list(decision.consent_records),
            },
        )
        self.sink.append(event)
