"""Consent records after ISO/IEC TS 27560:2023, with consent states from W3C DPV.

A record has a header (id), processing (scopes, purposes, data categories, legal basis,
jurisdictions, retention, storage, recipients, notice), parties (the data subject, a
guardian, the controller) and an append-only list of events (given, refused, withdrawn,
expired, renewed). Its state is the DPV status of its latest event.

Which record kinds satisfy which required kind (``satisfies``); rows are the kind a caller
requires, columns the kind of the record::

    required \\ record   general  separate  explicit  written  guardian
    general              yes      yes       yes       yes      yes
    separate             no       yes       no        yes      yes
    explicit             no       yes       yes       yes      yes
    written              no       no        no        yes      no
    guardian             no       no        no        no       yes

Two more rules, applied whatever kind is required:

- **Bundling.** A ``general`` record that lists a scope of ``SEPARATE_SCOPES`` together with
  any other scope never counts for that scope (biometric consent bundled into general terms,
  PIPL Art 29, FRM Art 6).
- **Minors.** Once any record marks a subject as under 14, only ``guardian`` records given
  by a guardian count for that subject; a minor's own consent never does (PIPL Art 31,
  FRM Art 7). A refusal always counts, whoever gave it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bystander.errors import BystanderError, InputError


class ConsentError(BystanderError):
    """A consent operation is not possible (unknown record, wrong state, bad terms)."""


class ConsentNotFoundError(ConsentError):
    """No consent record, link or deletion task has the given id."""


class ConsentFormatError(InputError):
    """A consent document or receipt cannot be read (malformed, wrong version, bad signature)."""


class Scope(StrEnum):
    """What a consent covers."""

    RECORD_VIDEO = "record-video"
    RECORD_AUDIO = "record-audio"
    LIVE_STREAM = "live-stream"
    AI_PROCESSING = "ai-processing"
    CLOUD_PROCESSING = "cloud-processing"
    FACE_ENROLMENT = "face-enrolment"
    FACE_CLOUD_TRANSFER = "face-cloud-transfer"
    CROSS_BORDER_TRANSFER = "cross-border-transfer"
    PUBLICATION = "publication"


class ConsentKind(StrEnum):
    """How consent was obtained; Chinese law tells them apart (see the module table)."""

    GENERAL = "general"
    SEPARATE = "separate"
    EXPLICIT = "explicit"
    WRITTEN = "written"
    GUARDIAN = "guardian"


class ConsentState(StrEnum):
    """W3C DPV consent statuses (``dpv:ConsentStatus``)."""

    UNKNOWN = "ConsentUnknown"
    REQUESTED = "ConsentRequested"
    REQUEST_DEFERRED = "ConsentRequestDeferred"
    GIVEN = "ConsentGiven"
    RENEWED = "RenewedConsentGiven"
    REFUSED = "ConsentRefused"
    WITHDRAWN = "ConsentWithdrawn"
    EXPIRED = "ConsentExpired"
    TERMINATED = "ConsentTerminated"
    INVALIDATED = "ConsentInvalidated"

    @property
    def valid_for_processing(self) -> bool:
        """True for DPV's ``ConsentStatusValidForProcessing`` (given, renewed)."""
        return self in (ConsentState.GIVEN, ConsentState.RENEWED)


class EventType(StrEnum):
    """What happened to a record (ISO/IEC TS 27560 event)."""

    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RENEWED = "renewed"

    @property
    def state(self) -> ConsentState:
        """The DPV status this event leaves the record in."""
        return _EVENT_STATE[self]


_EVENT_STATE = {
    EventType.GIVEN: ConsentState.GIVEN,
    EventType.REFUSED: ConsentState.REFUSED,
    EventType.WITHDRAWN: ConsentState.WITHDRAWN,
    EventType.EXPIRED: ConsentState.EXPIRED,
    EventType.RENEWED: ConsentState.RENEWED,
}


class SubjectRole(StrEnum):
    """Who the data subject is to the device."""

    WEARER = "wearer"
    ENROLLED = "enrolled"
    BYSTANDER = "bystander"


#: Scopes Chinese law wants separate consent for: face data (PIPL Art 29, FRM Art 6),
#: face data leaving the device (FRM Art 8), cross-border transfer (PIPL Art 39) and
#: publication (PIPL Art 25). Bundled into a ``general`` record they never count.
SEPARATE_SCOPES: frozenset[Scope] = frozenset(
    {
        Scope.FACE_ENROLMENT,
        Scope.FACE_CLOUD_TRANSFER,
        Scope.CROSS_BORDER_TRANSFER,
        Scope.PUBLICATION,
    }
)

_K = ConsentKind
#: Record kind -> the required kinds it satisfies (the module docstring shows it as a table).
SATISFIES: dict[ConsentKind, frozenset[ConsentKind]] = {
    _K.GENERAL: frozenset({_K.GENERAL}),
    _K.SEPARATE: frozenset({_K.GENERAL, _K.SEPARATE, _K.EXPLICIT}),
    _K.EXPLICIT: frozenset({_K.GENERAL, _K.EXPLICIT}),
    _K.WRITTEN: frozenset({_K.GENERAL, _K.SEPARATE, _K.EXPLICIT, _K.WRITTEN}),
    _K.GUARDIAN: frozenset({_K.GENERAL, _K.SEPARATE, _K.EXPLICIT, _K.GUARDIAN}),
}


def satisfies(record_kind: ConsentKind, required: ConsentKind) -> bool:
    """Whether a record of ``record_kind`` meets a requirement of ``required``."""
    return required in SATISFIES[record_kind]


def is_bundled(kind: ConsentKind, scope_count: int, scope: Scope) -> bool:
    """True when ``scope`` needs separate consent but sits in a multi-scope general record."""
    return kind is ConsentKind.GENERAL and scope in SEPARATE_SCOPES and scope_count > 1


# --- small validated value types -------------------------------------------------------------

_ID_RE = re.compile(r"[^\s\x00-\x1f\x7f]{1,200}")
_JURISDICTION_RE = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
_DURATION_RE = re.compile(
    r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
)


def _check_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ValueError("an id is 1-200 printable characters without spaces")
    return value


def _check_text(value: str) -> str:
    if not value.strip() or len(value) > 2000 or any(ord(c) < 32 and c != "\n" for c in value):
        raise ValueError("text must be non-empty, printable and at most 2000 characters")
    return value


def _check_jurisdiction(value: str) -> str:
    code = value.removeprefix("loc:").upper()
    if not _JURISDICTION_RE.fullmatch(code):
        raise ValueError(f"jurisdiction must be a code like CN, EU or US-IL, got {value!r}")
    return code


def _check_duration(value: str) -> str:
    if not _DURATION_RE.fullmatch(value):
        raise ValueError(f"retention must be an ISO 8601 duration like P30D, got {value!r}")
    return value


def _check_time(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("times must carry a time zone")
    return value.astimezone(UTC)


Id = Annotated[str, AfterValidator(_check_id)]
Text = Annotated[str, AfterValidator(_check_text)]
Jurisdiction = Annotated[str, AfterValidator(_check_jurisdiction)]
Duration = Annotated[str, AfterValidator(_check_duration)]
UtcTime = Annotated[datetime, AfterValidator(_check_time)]


def utc(value: datetime | None = None) -> datetime:
    """``value`` in UTC (now when None); a naive time is an error, never guessed."""
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConsentError("times must carry a time zone (for example 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)


def new_id() -> str:
    """A fresh record id (a UUID)."""
    return str(uuid.uuid4())


def record_digest(body: str) -> str:
    """SHA-256 (hex) of a record's stored JSON body, as consent audit events carry it."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def iso(value: datetime) -> str:
    """``2026-01-01T12:00:00Z`` (microseconds only when present)."""
    spec = "microseconds" if value.microsecond else "seconds"
    return value.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- parties ---------------------------------------------------------------------------------


class DataSubject(_Frozen):
    """The person the data is about, by pseudonymous id only."""

    id: Id
    role: SubjectRole = SubjectRole.WEARER
    under_14: bool = False


class Controller(_Frozen):
    """The party that decides the processing (ISO 27560 PII controller)."""

    id: Id = "device-operator"
    name: Text | None = None
    address: Text | None = None
    contact: Text | None = None


class Recipient(_Frozen):
    """Who receives the data: a cloud service, a third party, possibly abroad."""

    id: Id
    name: Text | None = None
    cloud: bool = False
    cross_border: bool = False
    jurisdiction: Jurisdiction | None = None


# --- processing ------------------------------------------------------------------------------

_SCOPE_ORDER = {scope: index for index, scope in enumerate(Scope)}


class Processing(_Frozen):
    """What the consent covers (ISO 27560 processing section)."""

    scopes: tuple[Scope, ...] = Field(min_length=1)
    purposes: tuple[Text, ...] = ()
    data_categories: tuple[Text, ...] = ()
    legal_basis: Text = "dpv:Consent"
    jurisdictions: tuple[Jurisdiction, ...] = ()
    retention: Duration | None = None
    storage_locations: tuple[Text, ...] = ()
    recipients: tuple[Recipient, ...] = ()
    notice: Text | None = None
    language: Text | None = None
    withdrawal_method: Text = "bystander consent withdraw RECORD_ID"

    @model_validator(mode="after")
    def _normalise(self) -> Self:
        scopes = tuple(sorted(set(self.scopes), key=_SCOPE_ORDER.__getitem__))
        jurisdictions = tuple(dict.fromkeys(self.jurisdictions))
        if scopes != self.scopes:
            object.__setattr__(self, "scopes", scopes)
        if jurisdictions != self.jurisdictions:
            object.__setattr__(self, "jurisdictions", jurisdictions)
        return self


# --- events and the record -------------------------------------------------------------------


class ConsentEvent(_Frozen):
    """One step in a record's history (ISO 27560 event; ``state`` is the DPV status)."""

    type: EventType
    at: UtcTime
    by: Id
    method: Text | None = None
    valid_until: UtcTime | None = None
    reason: Text | None = None

    @property
    def state(self) -> ConsentState:
        return self.type.state

    @model_validator(mode="after")
    def _check(self) -> Self:
        grants = (EventType.GIVEN, EventType.RENEWED)
        if self.valid_until is not None:
            if self.type not in grants:
                raise ValueError(f"a {self.type} event has no validity end")
            if self.valid_until <= self.at:
                raise ValueError("consent must be valid for some time after it is given")
        return self


#: Which event may follow a record in a given state.
NEXT_EVENTS: dict[ConsentState, frozenset[EventType]] = {
    ConsentState.GIVEN: frozenset({EventType.WITHDRAWN, EventType.EXPIRED, EventType.RENEWED}),
    ConsentState.RENEWED: frozenset({EventType.WITHDRAWN, EventType.EXPIRED, EventType.RENEWED}),
    ConsentState.EXPIRED: frozenset({EventType.RENEWED, EventType.WITHDRAWN}),
    ConsentState.WITHDRAWN: frozenset(),
    ConsentState.REFUSED: frozenset(),
}


class Interval(_Frozen):
    """A span in which a record permits processing; ``end`` None means open-ended."""

    start: UtcTime
    end: UtcTime | None
    ended_by: EventType | None = None

    def covers(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


class ConsentRecord(_Frozen):
    """One consent record: header, processing, parties and its event history."""

    id: Id = Field(default_factory=new_id)
    kind: ConsentKind = ConsentKind.GENERAL
    subject: DataSubject
    guardian_id: Id | None = None
    controller: Controller = Controller()
    processing: Processing
    events: tuple[ConsentEvent, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind is ConsentKind.GUARDIAN and self.guardian_id is None:
            raise ValueError("guardian consent needs the guardian's id")
        if self.guardian_id is not None and self.guardian_id == self.subject.id:
            raise ValueError("a guardian cannot be the data subject")
        first = self.events[0].type
        if first not in (EventType.GIVEN, EventType.REFUSED):
            raise ValueError(f"a record starts with a given or refused event, not {first}")
        for before, after in zip(self.events, self.events[1:], strict=False):
            if after.at < before.at:
                raise ValueError("events must be in time order")
            if after.type not in NEXT_EVENTS.get(before.state, frozenset()):
                raise ValueError(f"a {after.type} event cannot follow {before.state}")
        return self

    @property
    def state(self) -> ConsentState:
        """The DPV status now recorded (that of the latest event)."""
        return self.events[-1].state

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return self.processing.scopes

    @property
    def created_at(self) -> datetime:
        return self.events[0].at

    @property
    def given_by(self) -> str:
        """Who indicated the first decision (the subject, or a guardian)."""
        return self.events[0].by

    @property
    def refused_at(self) -> datetime | None:
        return self.events[0].at if self.events[0].type is EventType.REFUSED else None

    @property
    def expires_at(self) -> datetime | None:
        """When the current validity ends by expiry (None: no expiry or not valid)."""
        spans = self.validity()
        last = spans[-1] if spans else None
        if last is None or last.ended_by is not EventType.EXPIRED or last.end is None:
            return None
        return last.end if self.state.valid_for_processing else None

    def validity(self) -> tuple[Interval, ...]:
        """The spans in which this record permitted (or permits) processing."""
        spans: list[Interval] = []
        for event in self.events:
            if event.type in (EventType.GIVEN, EventType.RENEWED):
                ended_by = EventType.EXPIRED if event.valid_until else None
                last = spans[-1] if spans else None
                if last is not None and last.covers(event.at):
                    spans[-1] = Interval(start=last.start, end=event.valid_until, ended_by=ended_by)
                else:
                    spans.append(Interval(start=event.at, end=event.valid_until, ended_by=ended_by))
            elif event.type in (EventType.WITHDRAWN, EventType.EXPIRED) and spans:
                last = spans[-1]
                if last.covers(event.at):
                    spans[-1] = Interval(start=last.start, end=event.at, ended_by=event.type)
        return tuple(spans)

    def with_event(self, event: ConsentEvent) -> ConsentRecord:
        """A copy with ``event`` appended (validated: order in time, allowed transition)."""
        return ConsentRecord.model_validate(
            {**self.model_dump(), "events": (*self.model_dump()["events"], event.model_dump())}
        )

    def public_summary(self) -> dict[str, object]:
        """Ids, scopes, kind, state, the subject's role and under-14 flag: what audit events
        may carry (the inspector needs the last two to judge consents)."""
        return {
            "record_id": self.id,
            "scopes": [str(s) for s in self.scopes],
            "kind": str(self.kind),
            "state": str(self.state),
            "role": str(self.subject.role),
            "under_14": self.subject.under_14,
        }


# --- results of store operations -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """The answer to "may this subject's data be used for this scope now?"."""

    allowed: bool
    record_id: str | None
    reason: str


class ConsentLink(_Frozen):
    """A stored item (a clip, a face template, ...) that exists because of a consent."""

    record_id: Id
    data_kind: Id
    item_id: Id
    created_at: UtcTime


class DeletionTask(_Frozen):
    """Data to delete because the consent it depended on was withdrawn."""

    id: Id
    record_id: Id
    data_kind: Id
    item_id: Id
    reason: Text
    created_at: UtcTime
    completed_at: UtcTime | None = None

    @property
    def pending(self) -> bool:
        return self.completed_at is None


class WithdrawalResult(_Frozen):
    """The withdrawn record and the deletion work it created."""

    record: ConsentRecord
    tasks: tuple[DeletionTask, ...] = ()


class ImportResult(_Frozen):
    """How many records an import added and how many were already present unchanged."""

    added: int
    unchanged: int
