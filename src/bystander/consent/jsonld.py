"""Consent records as JSON-LD with W3C DPV terms, after the DPV guide to ISO/IEC TS 27560.

``dumps`` writes ``{"@context": CONTEXT, "@graph": [record, ...]}``; ``loads`` reads that
shape (or one bare record node) back, losslessly. DPV terms are used wherever DPV has one;
the few it lacks (the consent kind as Chinese law tells kinds apart, the scope list, the
subject's role, the under-14 flag, cloud and cross-border recipients, the guardian link) use
the project vocabulary ``bys:`` (``BYS``), documented term by term in
``data/bystander-vocab.ttl`` and ``docs/vocabulary.md``.

A record that has every field ISO/IEC TS 27560 marks mandatory (checked by
``bystander.consent.shapes`` against DPV's profile) claims ``dct:conformsTo``
``dpv-27560:record``; one that lacks some claims only the project's own record format
(``PROJECT_SCHEMA``). ``loads`` reads the compact form this module writes: the ``@context``
must be inline and map the prefixes as ``CONTEXT`` does; it is not a general JSON-LD
processor.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bystander.consent import shapes
from bystander.consent.models import (
    ConsentFormatError,
    ConsentKind,
    ConsentRecord,
    ConsentState,
    EventType,
    iso,
)

DPV = "https://w3id.org/dpv#"
#: The project vocabulary (terms DPV lacks); see ``data/bystander-vocab.ttl``.
BYS = "https://w3id.org/bystander/vocab#"
#: The placeholder namespace exports used before; still read.
LEGACY_BYS = "urn:bystander:"
CONTEXT: dict[str, str] = {
    "dpv": DPV,
    "dct": "http://purl.org/dc/terms/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "loc": "https://w3id.org/dpv/loc#",
    "bys": BYS,
}
_REQUIRED_PREFIXES = ("dpv", "dct", "xsd", "loc", "bys")
#: The DPV profile of an ISO/IEC TS 27560 record (w3c/dpv schema/dpv-27560).
RECORD_SCHEMA = "https://w3id.org/dpv/schema/dpv-27560#record"
#: What a record lacking 27560 mandatory fields claims instead: this project's format.
PROJECT_SCHEMA = f"{BYS}ConsentRecordV1"
KNOWN_SCHEMAS = frozenset(
    {
        RECORD_SCHEMA,
        PROJECT_SCHEMA,
        "https://w3id.org/dpv/schema/iso-27560#record",
        f"{LEGACY_BYS}ConsentRecordV1",
    }
)

#: How each kind is told in DPV (``bys:consentKind`` keeps the exact kind).
CONSENT_TYPE: dict[ConsentKind, str] = {
    ConsentKind.GENERAL: "dpv:ExpressedConsent",
    ConsentKind.SEPARATE: "dpv:ExplicitlyExpressedConsent",
    ConsentKind.EXPLICIT: "dpv:ExplicitlyExpressedConsent",
    ConsentKind.WRITTEN: "dpv:ExplicitlyExpressedConsent",
    ConsentKind.GUARDIAN: "dpv:ExplicitlyExpressedConsent",
}
_STATE_EVENT = {event.state: event for event in EventType}
_REF = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


# --- writing ---------------------------------------------------------------------------------


def dumps(records: Iterable[ConsentRecord]) -> str:
    """A JSON-LD document holding ``records``."""
    return json.dumps(to_jsonld(records), indent=2, ensure_ascii=False) + "\n"


def to_jsonld(records: Iterable[ConsentRecord]) -> dict[str, Any]:
    """``{"@context": ..., "@graph": [...]}`` for ``records``."""
    return {"@context": dict(CONTEXT), "@graph": [record_node(r) for r in records]}


def record_node(record: ConsentRecord) -> dict[str, Any]:
    """One ``dpv:ConsentRecord`` node (compact, without ``@context``)."""
    subject = record.subject
    node: dict[str, Any] = {
        "@id": _record_iri(record.id),
        "@type": "dpv:ConsentRecord",
        "dct:identifier": record.id,
        "dct:conformsTo": shapes.profile(),
        "dct:created": _time(record.created_at),
        "bys:consentKind": record.kind.value,
        "dpv:hasDataSubject": {
            "@type": ["dpv:DataSubject", "dpv:Child"] if subject.under_14 else "dpv:DataSubject",
            "dct:identifier": subject.id,
            "bys:role": subject.role.value,
            "bys:isUnder14": subject.under_14,
        },
        "dpv:hasDataController": _controller(record),
        "dpv:hasProcess": _process(record),
        "dpv:hasConsentStatus": {"@id": f"dpv:{record.state.value}"},
        "dct:hasPart": [_event(record, e) for e in record.events],
    }
    if record.guardian_id is not None:
        node["bys:hasGuardian"] = {
            "@type": "dpv:GuardianOfDataSubject",
            "dct:identifier": record.guardian_id,
        }
    if shapes.missing_fields(node):
        node["dct:conformsTo"] = PROJECT_SCHEMA
    return node


def missing_27560(record: ConsentRecord) -> list[str]:
    """The ISO/IEC TS 27560 mandatory fields ``record`` lacks (empty: it conforms)."""
    node = record_node(record)
    node["dct:conformsTo"] = RECORD_SCHEMA
    return shapes.missing_fields(node)


def _record_iri(record_id: str) -> str:
    try:
        return f"urn:uuid:{uuid.UUID(record_id)}" if len(record_id) == 36 else _urn(record_id)
    except ValueError:
        return _urn(record_id)


def _urn(record_id: str) -> str:
    return f"{BYS}consent:{record_id}"


def _time(value: datetime) -> dict[str, str]:
    return {"@value": iso(value), "@type": "xsd:dateTime"}


def _thing(value: str, type_: str) -> dict[str, str]:
    """A reference when ``value`` is an IRI or CURIE, else a described node of ``type_``."""
    if _REF.fullmatch(value):
        return {"@id": value}
    return {"@type": type_, "dct:description": value}


def _controller(record: ConsentRecord) -> dict[str, Any]:
    controller = record.controller
    node: dict[str, Any] = {"@type": "dpv:DataController", "dct:identifier": controller.id}
    if controller.name is not None:
        node["dpv:hasName"] = controller.name
    if controller.address is not None:
        node["dpv:hasAddress"] = controller.address
    if controller.contact is not None:
        node["dpv:hasContact"] = controller.contact
    return node


def _process(record: ConsentRecord) -> dict[str, Any]:
    p = record.processing
    storage: dict[str, Any] = {
        "@type": "dpv:StorageCondition",
        "dpv:hasLocation": [_thing(s, "dpv:StorageLocation") for s in p.storage_locations],
    }
    if p.retention is not None:
        storage["dpv:hasDuration"] = {"@type": "dpv:TemporalDuration", "rdf:value": p.retention}
    node: dict[str, Any] = {
        "@type": "dpv:Process",
        "bys:scope": [s.value for s in p.scopes],
        "dpv:hasPurpose": [_thing(v, "dpv:Purpose") for v in p.purposes],
        "dpv:hasPersonalData": [_thing(v, "dpv:PersonalData") for v in p.data_categories],
        "dpv:hasLegalBasis": _thing(p.legal_basis, "dpv:LegalBasis"),
        "dpv:hasJurisdiction": [{"@id": f"loc:{j}"} for j in p.jurisdictions],
        "dpv:hasStorageCondition": storage,
        "dpv:hasRecipient": [_recipient(r) for r in p.recipients],
        # a node of type dpv:WithdrawConsent: the shared DPV term itself is never described
        "dpv:hasConsentControl": {
            "@type": "dpv:WithdrawConsent",
            "dct:description": p.withdrawal_method,
        },
    }
    if p.notice is not None:
        node["dpv:hasNotice"] = _thing(p.notice, "dpv:PrivacyNotice")
    if p.language is not None:
        node["dct:language"] = p.language
    return node


def _recipient(recipient: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@type": "dpv:Recipient",
        "dct:identifier": recipient.id,
        "bys:isCloud": recipient.cloud,
        "bys:isCrossBorder": recipient.cross_border,
    }
    if recipient.name is not None:
        node["dpv:hasName"] = recipient.name
    if recipient.jurisdiction is not None:
        node["dpv:hasJurisdiction"] = {"@id": f"loc:{recipient.jurisdiction}"}
    return node


def _event(record: ConsentRecord, event: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@type": CONSENT_TYPE[record.kind],
        "dpv:hasConsentStatus": {"@id": f"dpv:{event.state.value}"},
        "dpv:isIndicatedAtTime": _time(event.at),
        "dpv:isIndicatedBy": event.by,
    }
    if event.method is not None:
        node["dpv:hasIndicationMethod"] = event.method
    node["dct:valid"] = _validity(event)
    if event.reason is not None:
        node["dct:description"] = event.reason
    return node


def _validity(event: Any) -> dict[str, Any]:
    """How long the event's state holds (27560 validity duration), as a DPV duration."""
    if event.valid_until is not None:
        return {"@type": "dpv:UntilTimeDuration", "rdf:value": _time(event.valid_until)}
    if event.type in (EventType.GIVEN, EventType.RENEWED):
        return {"@type": "dpv:UntilEventDuration", "dct:description": "until withdrawn"}
    return {"@type": "dpv:UntilEventDuration", "dct:description": "until a new decision"}


# --- reading ---------------------------------------------------------------------------------


def loads(text: str | bytes) -> list[ConsentRecord]:
    """Records from a JSON-LD document; ``ConsentFormatError`` (one line) if it is not one."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConsentFormatError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise ConsentFormatError("not JSON: the file is not UTF-8 text") from None
    return from_jsonld(doc)


def from_jsonld(doc: Any) -> list[ConsentRecord]:
    """Records from a parsed JSON-LD document (``@graph`` of records, or one record)."""
    if not isinstance(doc, dict):
        raise ConsentFormatError("not a consent JSON-LD document: expected a JSON object")
    check_context(doc)
    if "@graph" in doc:
        nodes = doc["@graph"]
        if not isinstance(nodes, list):
            raise ConsentFormatError("@graph must be a list of consent records")
        return [record_from_node(n, f"@graph[{i}]") for i, n in enumerate(nodes)]
    return [record_from_node(doc, "document")]


def check_context(doc: Mapping[str, Any]) -> None:
    """The document's inline ``@context`` must map every prefix as ``CONTEXT`` does."""
    if "@context" not in doc:
        raise ConsentFormatError("not a consent JSON-LD document: missing @context")
    raw = doc["@context"]
    parts = raw if isinstance(raw, list) else [raw]
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            raise ConsentFormatError("@context must be inline (remote contexts are not fetched)")
        merged.update(part)
    for prefix, iri in CONTEXT.items():
        allowed = (iri, LEGACY_BYS) if prefix == "bys" else (iri,)
        if merged.get(prefix) not in allowed and (prefix in _REQUIRED_PREFIXES or prefix in merged):
            raise ConsentFormatError(f"@context must map {prefix!r} to {iri}")


class _Node:
    """A JSON object with a path, for one-line errors that say where the problem is."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ConsentFormatError(f"{path}: expected an object")
        self.value: dict[str, Any] = value
        self.path = path

    def has(self, key: str) -> bool:
        return key in self.value

    def raw(self, key: str, default: Any = ...) -> Any:
        if key not in self.value:
            if default is ...:
                raise ConsentFormatError(f"{self.path}: missing {key}")
            return default
        return self.value[key]

    def node(self, key: str) -> _Node:
        return _Node(self.raw(key), f"{self.path}.{key}")

    def nodes(self, key: str) -> list[_Node]:
        items = self.raw(key, [])
        items = items if isinstance(items, list) else [items]
        return [_Node(item, f"{self.path}.{key}[{i}]") for i, item in enumerate(items)]

    def text(self, key: str, default: Any = ...) -> Any:
        value = self.raw(key, default)
        if value is not default and not isinstance(value, str):
            raise ConsentFormatError(f"{self.path}.{key}: expected a string")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key, False)
        if not isinstance(value, bool):
            raise ConsentFormatError(f"{self.path}.{key}: expected true or false")
        return value

    def ref(self, key: str, prefix: str = "") -> str:
        iri = self.node(key).text("@id")
        if not iri.startswith(prefix):
            raise ConsentFormatError(f"{self.path}.{key}: expected a {prefix} term, got {iri!r}")
        return str(iri[len(prefix) :])

    def time(self, key: str) -> str | None:
        if not self.has(key):
            return None
        value = self.node(key)
        if value.text("@type", "xsd:dateTime") != "xsd:dateTime":
            raise ConsentFormatError(f"{value.path}: expected an xsd:dateTime")
        return str(value.text("@value"))

    def thing(self) -> str:
        """The inverse of ``_thing``: the reference or the description."""
        if self.has("@id"):
            return str(self.text("@id"))
        return str(self.text("dct:description"))


def record_from_node(raw: Any, path: str = "record") -> ConsentRecord:
    """One ``dpv:ConsentRecord`` node back into a ``ConsentRecord``."""
    node = _Node(raw, path)
    if node.raw("@type", None) != "dpv:ConsentRecord":
        raise ConsentFormatError(f"{path}: not a dpv:ConsentRecord")
    schema = node.text("dct:conformsTo", None)
    if schema not in KNOWN_SCHEMAS:
        raise ConsentFormatError(
            f"{path}: unsupported consent record version {schema!r} (expected {RECORD_SCHEMA})"
        )
    kind = node.text("bys:consentKind")
    data = {
        "id": node.text("dct:identifier"),
        "kind": kind,
        "subject": _subject(node.node("dpv:hasDataSubject")),
        "guardian_id": node.node("bys:hasGuardian").text("dct:identifier")
        if node.has("bys:hasGuardian")
        else None,
        "controller": _controller_data(node.node("dpv:hasDataController")),
        "processing": _process_data(node.node("dpv:hasProcess")),
        "events": [_event_data(e) for e in node.nodes("dct:hasPart")],
    }
    try:
        record = ConsentRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConsentFormatError(f"{path}: invalid record: {where}: {message}") from None
    status = node.ref("dpv:hasConsentStatus", "dpv:")
    if status != record.state.value:
        raise ConsentFormatError(
            f"{path}: dpv:hasConsentStatus is {status} but the events end in {record.state}"
        )
    return record


def _subject(node: _Node) -> dict[str, Any]:
    return {
        "id": node.text("dct:identifier"),
        "role": node.text("bys:role"),
        "under_14": node.flag("bys:isUnder14"),
    }


def _controller_data(node: _Node) -> dict[str, Any]:
    return {
        "id": node.text("dct:identifier"),
        "name": node.text("dpv:hasName", None),
        "address": node.text("dpv:hasAddress", None),
        "contact": node.text("dpv:hasContact", None),
    }


def _process_data(node: _Node) -> dict[str, Any]:
    scopes = node.raw("bys:scope")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ConsentFormatError(f"{node.path}.bys:scope: expected a list of scopes")
    storage = node.node("dpv:hasStorageCondition") if node.has("dpv:hasStorageCondition") else None
    retention = None
    if storage is not None and storage.has("dpv:hasDuration"):
        duration = storage.node("dpv:hasDuration")
        retention = (
            duration.text("rdf:value") if duration.has("rdf:value") else duration.text("@value")
        )
    return {
        "scopes": scopes,
        "purposes": [n.thing() for n in node.nodes("dpv:hasPurpose")],
        "data_categories": [n.thing() for n in node.nodes("dpv:hasPersonalData")],
        "legal_basis": node.node("dpv:hasLegalBasis").thing(),
        "jurisdictions": [_jurisdiction(n) for n in node.nodes("dpv:hasJurisdiction")],
        "retention": retention,
        "storage_locations": [n.thing() for n in storage.nodes("dpv:hasLocation")]
        if storage
        else [],
        "recipients": [_recipient_data(n) for n in node.nodes("dpv:hasRecipient")],
        "notice": node.node("dpv:hasNotice").thing() if node.has("dpv:hasNotice") else None,
        "language": node.text("dct:language", None),
        "withdrawal_method": node.node("dpv:hasConsentControl").text("dct:description"),
    }


def _jurisdiction(node: _Node) -> str:
    iri = str(node.text("@id"))
    if not iri.startswith("loc:"):
        raise ConsentFormatError(f"{node.path}: expected a loc: term, got {iri!r}")
    return iri.removeprefix("loc:")


def _recipient_data(node: _Node) -> dict[str, Any]:
    return {
        "id": node.text("dct:identifier"),
        "name": node.text("dpv:hasName", None),
        "cloud": node.flag("bys:isCloud"),
        "cross_border": node.flag("bys:isCrossBorder"),
        "jurisdiction": node.ref("dpv:hasJurisdiction", "loc:")
        if node.has("dpv:hasJurisdiction")
        else None,
    }


def _valid_until(node: _Node) -> str | None:
    if node.has("dct:valid"):
        valid = node.node("dct:valid")
        if valid.text("@type", None) == "dpv:UntilTimeDuration":
            return valid.time("rdf:value")
        return None
    return node.time("bys:validUntil")  # exports before the 27560 fields


def _event_data(node: _Node) -> dict[str, Any]:
    status = node.ref("dpv:hasConsentStatus", "dpv:")
    try:
        event_type = _STATE_EVENT[ConsentState(status)]
    except (ValueError, KeyError):
        raise ConsentFormatError(f"{node.path}: unknown consent status dpv:{status}") from None
    return {
        "type": event_type,
        "at": node.time("dpv:isIndicatedAtTime") or node.raw("dpv:isIndicatedAtTime"),
        "by": node.text("dpv:isIndicatedBy"),
        "method": node.text("dpv:hasIndicationMethod", None),
        "valid_until": _valid_until(node),
        "reason": node.text("dct:description", None),
    }
