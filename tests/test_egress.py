"""The egress gate against the real consent store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.events import EventType, MemorySink
from bystander.guard.egress import (
    DataKind,
    Destination,
    EgressDenied,
    EgressGate,
    Purpose,
    requirements,
)

CLOUD_CN = Destination("upload.example.cn", "CN", Purpose.STORAGE)
CLOUD_US = Destination("upload.example.com", "US", Purpose.STORAGE)


@pytest.fixture()
def setup(engine: Engine) -> tuple[ConsentStore, MemorySink, EgressGate]:
    store = ConsentStore(engine)
    sink = MemorySink()
    return store, sink, EgressGate(store, sink, home_country="CN")


def test_video_upload_with_consent_is_allowed_and_logged(setup: tuple) -> None:
    store, sink, gate = setup
    record = store.grant("wearer-1", [Scope.CLOUD_PROCESSING, Scope.RECORD_VIDEO])
    decision = gate.decide(CLOUD_CN, [DataKind.VIDEO], ["wearer-1"])
    assert decision.allowed
    assert decision.consent_records == (record.id,)
    assert [e.type for e in sink.events] == [EventType.EGRESS_ALLOWED]
    assert sink.events[0].data["host"] == "upload.example.cn"


def test_no_consent_is_denied_and_logged(setup: tuple) -> None:
    _, sink, gate = setup
    decision = gate.decide(CLOUD_CN, [DataKind.VIDEO], ["wearer-1"])
    assert not decision.allowed
    assert "cloud-processing" in decision.reasons[0]
    assert [e.type for e in sink.events] == [EventType.EGRESS_DENIED]


def test_face_data_needs_separate_consent(setup: tuple) -> None:
    store, _, gate = setup
    store.grant(
        "person-7", [Scope.CLOUD_PROCESSING, Scope.FACE_CLOUD_TRANSFER], kind=ConsentKind.GENERAL
    )
    bundled = gate.decide(CLOUD_CN, [DataKind.FACE_TEMPLATE], ["person-7"])
    assert not bundled.allowed
    assert any("separate" in r and "face-cloud-transfer" in r for r in bundled.reasons)

    store.grant("person-7", [Scope.FACE_CLOUD_TRANSFER], kind=ConsentKind.SEPARATE)
    assert gate.decide(CLOUD_CN, [DataKind.FACE_TEMPLATE], ["person-7"]).allowed


def test_cross_border_transfer_needs_its_own_separate_consent(setup: tuple) -> None:
    store, _, gate = setup
    store.grant("wearer-1", [Scope.CLOUD_PROCESSING])
    assert gate.decide(CLOUD_CN, [DataKind.VIDEO], ["wearer-1"]).allowed
    abroad = gate.decide(CLOUD_US, [DataKind.VIDEO], ["wearer-1"])
    assert not abroad.allowed and "CN to US" in abroad.reasons[0]
    store.grant("wearer-1", [Scope.CROSS_BORDER_TRANSFER], kind=ConsentKind.SEPARATE)
    assert gate.decide(CLOUD_US, [DataKind.VIDEO], ["wearer-1"]).allowed


def test_withdrawal_takes_effect_for_the_next_transfer(setup: tuple) -> None:
    store, _, gate = setup
    record = store.grant("wearer-1", [Scope.AI_PROCESSING])
    ai = Destination("ai.example.cn", "CN", Purpose.AI)
    assert gate.decide(ai, [DataKind.IMAGE], ["wearer-1"]).allowed
    store.withdraw(record.id)
    assert not gate.decide(ai, [DataKind.IMAGE], ["wearer-1"]).allowed


def test_every_subject_needs_consent(setup: tuple) -> None:
    store, _, gate = setup
    store.grant("wearer-1", [Scope.PUBLICATION])
    publish = Destination("forum.example.cn", "CN", Purpose.PUBLICATION)
    decision = gate.decide(publish, [DataKind.VIDEO], ["wearer-1", "bystander-9"])
    assert not decision.allowed
    assert len(decision.reasons) == 1 and decision.reasons[0].startswith("bystander-9")


def test_send_runs_the_uploader_only_when_allowed(setup: tuple) -> None:
    store, _, gate = setup
    calls: list[str] = []
    with pytest.raises(EgressDenied, match="denied"):
        gate.send(CLOUD_CN, [DataKind.VIDEO], ["wearer-1"], lambda: calls.append("sent"))
    assert calls == []
    store.grant("wearer-1", [Scope.CLOUD_PROCESSING])
    assert gate.send(CLOUD_CN, [DataKind.VIDEO], ["wearer-1"], lambda: "uploaded") == "uploaded"


def test_consent_store_failure_denies(setup: tuple) -> None:
    _, sink, _ = setup

    class Broken:
        def check(self, *args: object, **kwargs: object) -> object:
            raise ConnectionError("database unreachable")

    gate = EgressGate(Broken(), sink, home_country="CN")  # type: ignore[arg-type]
    decision = gate.decide(CLOUD_CN, [DataKind.VIDEO], ["wearer-1"])
    assert not decision.allowed and "database unreachable" in decision.reasons[0]
    assert sink.events[-1].type == EventType.EGRESS_DENIED


def test_unloggable_decision_stops_the_transfer(setup: tuple) -> None:
    store, _, _ = setup
    store.grant("wearer-1", [Scope.CLOUD_PROCESSING])

    class FullDisk:
        def append(self, event: object) -> int:
            raise OSError("no space left on device")

    gate = EgressGate(store, FullDisk(), home_country="CN")
    calls: list[str] = []
    with pytest.raises(OSError):
        gate.send(CLOUD_CN, [DataKind.VIDEO], ["wearer-1"], lambda: calls.append("sent"))
    assert calls == []


def test_no_subject_is_denied(setup: tuple) -> None:
    _, _, gate = setup
    assert not gate.decide(CLOUD_CN, [DataKind.TELEMETRY], []).allowed


def test_requirements_table() -> None:
    needs = requirements(CLOUD_US, [DataKind.FACE_EMBEDDING, DataKind.VOICEPRINT], ["s"], "CN")
    assert {(n.scope, n.kind) for n in needs} == {
        (Scope.CLOUD_PROCESSING, ConsentKind.GENERAL),
        (Scope.FACE_CLOUD_TRANSFER, ConsentKind.SEPARATE),
        (Scope.CLOUD_PROCESSING, ConsentKind.SEPARATE),
        (Scope.CROSS_BORDER_TRANSFER, ConsentKind.SEPARATE),
    }


def test_decision_time_is_respected(setup: tuple) -> None:
    store, _, gate = setup
    granted = datetime(2026, 11, 1, tzinfo=UTC)  # pinned: the test must not depend on today
    store.grant(
        "wearer-1",
        [Scope.CLOUD_PROCESSING],
        at=granted,
        expires=datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert gate.decide(
        CLOUD_CN, [DataKind.VIDEO], ["wearer-1"], at=datetime(2026, 12, 1, tzinfo=UTC)
    ).allowed
    assert not gate.decide(
        CLOUD_CN, [DataKind.VIDEO], ["wearer-1"], at=datetime(2027, 2, 1, tzinfo=UTC)
    ).allowed
