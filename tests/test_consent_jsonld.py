"""JSON-LD export and import: DPV terms, lossless round trip, clear errors on bad input."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from bystander.consent import (
    ConsentEvent,
    ConsentFormatError,
    ConsentKind,
    ConsentRecord,
    ConsentStore,
    Controller,
    DataSubject,
    EventType,
    Processing,
    Recipient,
    Scope,
    SubjectRole,
    jsonld,
    shapes,
)
from bystander.evidence.db import init_db, make_engine

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rich_record() -> ConsentRecord:
    """A record that uses every field."""
    return ConsentRecord(
        kind=ConsentKind.GUARDIAN,
        subject=DataSubject(id="kid-7", role=SubjectRole.ENROLLED, under_14=True),
        guardian_id="parent-7",
        controller=Controller(
            id="acme-locks",
            name="Acme Locks Ltd",
            address="8 Lock Lane, Hangzhou",
            contact="privacy@acme",
        ),
        processing=Processing(
            scopes=(Scope.FACE_CLOUD_TRANSFER, Scope.FACE_ENROLMENT),
            purposes=("dpv:IdentityAuthentication", "unlock the front door"),
            data_categories=("pd:FacialPrint", "face template"),
            legal_basis="eu-gdpr:A9-2-a",
            jurisdictions=("CN", "loc:eu"),
            retention="P1Y",
            storage_locations=("dpv:WithinDevice", "vendor cloud, Shanghai"),
            recipients=(
                Recipient(id="aliyun-oss", name="Alibaba Cloud", cloud=True, jurisdiction="CN"),
                Recipient(id="acme-eu", cross_border=True, jurisdiction="DE"),
            ),
            notice="https://acme.example/notice/v3",
            language="zh",
            withdrawal_method="app > privacy > withdraw",
        ),
        events=(
            ConsentEvent(
                type=EventType.GIVEN,
                at=T0,
                by="parent-7",
                method="app confirm + PIN",
                valid_until=T0 + timedelta(days=10),
            ),
            ConsentEvent(type=EventType.EXPIRED, at=T0 + timedelta(days=10), by="system"),
            ConsentEvent(
                type=EventType.RENEWED,
                at=T0 + timedelta(days=12, microseconds=5),
                by="parent-7",
                valid_until=T0 + timedelta(days=400),
            ),
            ConsentEvent(
                type=EventType.WITHDRAWN,
                at=T0 + timedelta(days=20),
                by="parent-7",
                reason="moved house",
            ),
        ),
    )


def test_export_uses_dpv_terms() -> None:
    doc = json.loads(jsonld.dumps([rich_record()]))
    assert doc["@context"]["dpv"] == "https://w3id.org/dpv#"
    node = doc["@graph"][0]
    assert node["@type"] == "dpv:ConsentRecord"
    assert node["dct:conformsTo"] == jsonld.RECORD_SCHEMA
    assert node["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentWithdrawn"}
    assert node["dpv:hasDataSubject"]["@type"] == ["dpv:DataSubject", "dpv:Child"]
    assert node["bys:hasGuardian"]["@type"] == "dpv:GuardianOfDataSubject"
    process = node["dpv:hasProcess"]
    assert {"@id": "pd:FacialPrint"} in process["dpv:hasPersonalData"]
    assert process["dpv:hasJurisdiction"] == [{"@id": "loc:CN"}, {"@id": "loc:EU"}]
    # a node of type WithdrawConsent: the shared DPV term itself is never given a description
    assert process["dpv:hasConsentControl"] == {
        "@type": "dpv:WithdrawConsent", "dct:description": "app > privacy > withdraw"
    }  # fmt: skip
    assert "dpv:WithdrawConsent" not in json.dumps([v for v in _ids_of(doc)])
    states = [e["dpv:hasConsentStatus"]["@id"] for e in node["dct:hasPart"]]
    assert states == [
        "dpv:ConsentGiven",
        "dpv:ConsentExpired",
        "dpv:RenewedConsentGiven",
        "dpv:ConsentWithdrawn",
    ]
    assert node["dct:hasPart"][0]["dpv:isIndicatedAtTime"]["@value"] == "2026-01-01T12:00:00Z"


def _ids_of(value: Any) -> list[str]:
    """Every ``@id`` in a document."""
    if isinstance(value, dict):
        found = [value["@id"]] if "@id" in value else []
        return found + [i for v in value.values() for i in _ids_of(v)]
    if isinstance(value, list):
        return [i for v in value for i in _ids_of(v)]
    return []


def test_complete_record_meets_dpvs_27560_profile() -> None:
    record = rich_record()
    assert jsonld.missing_27560(record) == []
    node = jsonld.record_node(record)
    assert node["dct:conformsTo"] == "https://w3id.org/dpv/schema/dpv-27560#record"
    assert shapes.missing_fields(node) == []
    controller = node["dpv:hasDataController"]
    assert (controller["dpv:hasName"], controller["dpv:hasAddress"], controller["dpv:hasContact"]) \
        == ("Acme Locks Ltd", "8 Lock Lane, Hangzhou", "privacy@acme")
    validity = [e["dct:valid"] for e in node["dct:hasPart"]]
    assert validity[0] == {"@type": "dpv:UntilTimeDuration",
                           "rdf:value": {"@value": "2026-01-11T12:00:00Z", "@type": "xsd:dateTime"}}
    assert validity[3]["@type"] == "dpv:UntilEventDuration"
    # every DPV type and state the export uses is a real DPV term (listed, with sources)
    used = {t for e in node["dct:hasPart"] for t in [e["@type"], e["dct:valid"]["@type"]]}
    assert used <= shapes.dpv_terms()


@pytest.mark.parametrize(
    ("drop", "field"),
    [
        (lambda r: r.model_copy(update={"processing": r.processing.model_copy(
            update={"notice": None})}), "privacy notice"),
        (lambda r: r.model_copy(update={"processing": r.processing.model_copy(
            update={"language": None})}), "language"),
        (lambda r: r.model_copy(update={"controller": r.controller.model_copy(
            update={"address": None})}), "party address (controller)"),
        (lambda r: r.model_copy(update={"processing": r.processing.model_copy(
            update={"retention": None})}), "retention period"),
        (lambda r: r.model_copy(update={"processing": r.processing.model_copy(
            update={"jurisdictions": ()})}), "jurisdiction"),
        (lambda r: r.model_copy(update={"processing": r.processing.model_copy(
            update={"data_categories": ()})}), "pii information"),
    ],
)
def test_a_missing_mandatory_field_is_named_and_drops_the_claim(drop: Any, field: str) -> None:
    record = drop(rich_record())
    assert field in jsonld.missing_27560(record)
    node = jsonld.record_node(record)
    assert node["dct:conformsTo"] == jsonld.PROJECT_SCHEMA
    assert jsonld.loads(jsonld.dumps([record])) == [record]  # still lossless


def test_exports_of_earlier_versions_still_read() -> None:
    record = rich_record()
    doc = jsonld.to_jsonld([record])
    doc["@context"] = {k: v for k, v in doc["@context"].items() if k != "rdf"}
    doc["@context"]["bys"] = jsonld.LEGACY_BYS
    node = doc["@graph"][0]
    node["dpv:hasProcess"]["dpv:hasConsentControl"] = {
        "@id": "dpv:WithdrawConsent", "dct:description": "app > privacy > withdraw"
    }  # fmt: skip
    node["dpv:hasProcess"]["dpv:hasStorageCondition"]["dpv:hasDuration"] = {
        "@value": "P1Y", "@type": "xsd:duration"
    }  # fmt: skip
    for event in node["dct:hasPart"]:
        valid = event.pop("dct:valid")
        if valid["@type"] == "dpv:UntilTimeDuration":
            event["bys:validUntil"] = valid["rdf:value"]
    assert jsonld.from_jsonld(doc) == [record]


def test_every_project_term_is_documented() -> None:
    from importlib import resources

    vocab = resources.files("bystander.consent").joinpath("data", "bystander-vocab.ttl")
    defined = set(re.findall(r"^(bys:\w+) a ", vocab.read_text("utf-8"), re.MULTILINE))
    used = set(re.findall(r'"(bys:\w+)"', jsonld.dumps([rich_record()])))
    used.add("bys:" + jsonld.PROJECT_SCHEMA.removeprefix(jsonld.BYS))
    assert used and used <= defined
    docs = (Path(__file__).parents[1] / "docs" / "vocabulary.md").read_text("utf-8")
    assert all(f"`{term}`" in docs for term in defined)


def test_round_trip_is_lossless() -> None:
    records = [rich_record()]
    text = jsonld.dumps(records)
    assert jsonld.loads(text) == records
    assert jsonld.dumps(jsonld.loads(text)) == text
    # a single record node (not in @graph) reads too
    single = {"@context": jsonld.CONTEXT, **jsonld.record_node(records[0])}
    assert jsonld.from_jsonld(single) == records


def test_store_export_import_round_trip(engine: Engine, tmp_path: Path) -> None:
    source = ConsentStore(engine)
    source.add(rich_record())
    granted = source.grant("ds-1", [Scope.RECORD_VIDEO, Scope.RECORD_AUDIO], at=T0)
    source.withdraw(granted.id)
    text = jsonld.dumps(source.list())
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    init_db(other)
    target = ConsentStore(other)
    assert target.import_records(jsonld.loads(text)).added == 2
    assert target.list() == source.list()
    assert target.import_records(jsonld.loads(text)).unchanged == 2
    other.dispose()


_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_characters="\x7f"),
    min_size=1,
    max_size=20,
).filter(str.strip)
_ids = st.from_regex(r"[A-Za-z0-9:._-]{1,24}", fullmatch=True)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@st.composite
def records(draw: st.DrawFn) -> ConsentRecord:
    kind = draw(st.sampled_from(list(ConsentKind)))
    start = draw(_times)
    refused = draw(st.booleans())
    first = EventType.REFUSED if refused else EventType.GIVEN
    until = (
        None
        if refused or draw(st.booleans())
        else start + timedelta(seconds=1 + draw(st.integers(0, 10**8)))
    )
    events = [ConsentEvent(type=first, at=start, by="x", valid_until=until, reason=None)]
    if not refused and draw(st.booleans()):
        events.append(
            ConsentEvent(type=EventType.WITHDRAWN, at=start + timedelta(microseconds=7), by="x")
        )
    return ConsentRecord(
        id=draw(_ids),
        kind=kind,
        subject=DataSubject(
            id="ds-" + draw(_ids),
            role=draw(st.sampled_from(list(SubjectRole))),
            under_14=draw(st.booleans()),
        ),
        guardian_id="gd-1"
        if kind is ConsentKind.GUARDIAN
        else draw(st.none() | _ids.map("gd-".__add__)),
        processing=Processing(
            scopes=tuple(draw(st.lists(st.sampled_from(list(Scope)), min_size=1, max_size=4))),
            purposes=tuple(draw(st.lists(_text, max_size=3))),
            data_categories=tuple(draw(st.lists(_text, max_size=2))),
            legal_basis=draw(_text),
            retention=draw(st.none() | st.sampled_from(["P30D", "PT12H", "P1Y2M"])),
            storage_locations=tuple(draw(st.lists(_text, max_size=2))),
            notice=draw(st.none() | _text),
            language=draw(st.none() | _text),
        ),
        events=tuple(events),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), max_size=3))
def test_round_trip_property(items: list[ConsentRecord]) -> None:
    assert jsonld.loads(jsonld.dumps(items)) == items


# --- malformed input -------------------------------------------------------------------------


def _doc() -> dict[str, Any]:
    return jsonld.to_jsonld([rich_record()])


def _without_context(doc: dict[str, Any]) -> dict[str, Any]:
    doc.pop("@context")
    return doc


def _wrong_dpv(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@context"]["dpv"] = "https://example.org/dpv#"
    return doc


def _remote_context(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@context"] = "https://w3id.org/dpv/context.jsonld"
    return doc


def _unknown_version(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@graph"][0]["dct:conformsTo"] = "https://w3id.org/dpv/schema/dpv-27560#record-v9"
    return doc


def _bad_state(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@graph"][0]["dpv:hasConsentStatus"] = {"@id": "dpv:ConsentGiven"}
    return doc


def _bad_scope(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@graph"][0]["dpv:hasProcess"]["bys:scope"] = ["record-everything"]
    return doc


def _missing_subject(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@graph"][0].pop("dpv:hasDataSubject")
    return doc


def _naive_time(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@graph"][0]["dct:hasPart"][0]["dpv:isIndicatedAtTime"]["@value"] = "2026-01-01T12:00:00"
    return doc


def _events_out_of_order(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@graph"][0]["dct:hasPart"].reverse()
    return doc


def _graph_not_list(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@graph"] = {"oops": 1}
    return doc


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_without_context, "missing @context"),
        (_wrong_dpv, "must map 'dpv'"),
        (_remote_context, "inline"),
        (_unknown_version, "unsupported consent record version"),
        (_bad_state, "hasConsentStatus is ConsentGiven"),
        (_bad_scope, "scopes"),
        (_missing_subject, "missing dpv:hasDataSubject"),
        (_naive_time, "time zone"),
        (_events_out_of_order, "invalid record"),
        (_graph_not_list, "@graph must be a list"),
    ],
)
def test_malformed_documents_give_one_line_errors(mutate: Any, message: str) -> None:
    text = json.dumps(mutate(copy.deepcopy(_doc())))
    with pytest.raises(ConsentFormatError, match=message) as info:
        jsonld.loads(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        ("", "not JSON"),
    ],
)
def test_non_documents_give_one_line_errors(text: str | bytes, message: str) -> None:
    with pytest.raises(ConsentFormatError, match=message):
        jsonld.loads(text)
