"""Consent store: check, lifecycle (withdraw, expire, renew, refuse), minors, bundling, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from bystander.consent import (
    SATISFIES,
    ConsentError,
    ConsentEvent,
    ConsentKind,
    ConsentNotFoundError,
    ConsentRecord,
    ConsentState,
    ConsentStore,
    DataSubject,
    EventType,
    Processing,
    Scope,
    satisfies,
)
from bystander.consent.store import records
from bystander.errors import BystanderError
from bystander.evidence.events import AuditEvent, MemorySink
from bystander.evidence.events import EventType as AuditType

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def store(engine: Engine, sink: MemorySink) -> ConsentStore:
    return ConsentStore(engine, sink)


def types(sink: MemorySink) -> list[AuditType]:
    return [e.type for e in sink.events]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(records)) or 0)


# --- check basics ----------------------------------------------------------------------------


def test_no_consent_is_denied_with_a_plain_reason(store: ConsentStore) -> None:
    decision = store.check("ds-1", Scope.FACE_ENROLMENT, at=T0)
    assert not decision.allowed
    assert decision.record_id is None
    assert decision.reason == "no consent for face-enrolment"


def test_grant_allows_its_scopes_only(store: ConsentStore, sink: MemorySink) -> None:
    record = store.grant("ds-1", [Scope.RECORD_VIDEO, Scope.RECORD_AUDIO], at=T0)
    assert store.check("ds-1", Scope.RECORD_VIDEO, at=T0).allowed
    assert store.check("ds-1", Scope.RECORD_AUDIO, at=T0 + DAY).record_id == record.id
    assert not store.check("ds-1", Scope.LIVE_STREAM, at=T0).allowed
    assert not store.check("ds-2", Scope.RECORD_VIDEO, at=T0).allowed
    assert not store.check("ds-1", Scope.RECORD_VIDEO, at=T0 - DAY).allowed  # before it was given
    assert types(sink) == [AuditType.CONSENT_GIVEN]
    assert store.get(record.id) == record
    assert store.list(subject_id="ds-1") == [record]


def test_naive_times_are_refused(store: ConsentStore) -> None:
    with pytest.raises(ConsentError, match="time zone"):
        store.check("ds-1", Scope.RECORD_VIDEO, at=datetime(2026, 1, 1))


def test_unknown_record_is_a_clear_error(store: ConsentStore) -> None:
    with pytest.raises(ConsentNotFoundError, match="no consent record nope"):
        store.withdraw("nope")
    with pytest.raises(ConsentNotFoundError):
        store.link("nope", "clip", "c1")


def test_invalid_terms_are_one_line_errors(store: ConsentStore, engine: Engine) -> None:
    with pytest.raises(ConsentError) as info:
        store.grant("ds 1", [Scope.RECORD_VIDEO])
    assert "\n" not in str(info.value) and "id" in str(info.value)
    with pytest.raises(ConsentError, match="jurisdiction"):
        store.grant("ds-1", [Scope.RECORD_VIDEO], jurisdictions=["China"])
    with pytest.raises(ConsentError, match="valid for some time"):
        store.grant("ds-1", [Scope.RECORD_VIDEO], at=T0, expires=T0)
    with pytest.raises(ValueError):
        store.grant("ds-1", ["record-everything"])
    assert count(engine) == 0


# --- withdrawal ------------------------------------------------------------------------------


def test_withdrawal_takes_effect_at_once_and_queues_deletions(
    store: ConsentStore, sink: MemorySink
) -> None:
    record = store.grant("ds-1", [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE, at=T0)
    store.link(record.id, "face-template", "tpl-1")
    store.link(record.id, "clip", "clip-7")
    store.link(record.id, "clip", "clip-7")  # idempotent
    assert len(store.links(record.id)) == 2
    assert store.check("ds-1", Scope.FACE_ENROLMENT, kind=ConsentKind.SEPARATE).allowed

    result = store.withdraw(record.id, reason="changed my mind")

    decision = store.check("ds-1", Scope.FACE_ENROLMENT, kind=ConsentKind.SEPARATE)
    assert not decision.allowed
    assert decision.reason.startswith("consent withdrawn 20")
    assert result.record.state is ConsentState.WITHDRAWN
    assert {(t.data_kind, t.item_id) for t in result.tasks} == {
        ("face-template", "tpl-1"),
        ("clip", "clip-7"),
    }
    assert store.pending_deletions() == sorted(result.tasks, key=lambda t: (t.created_at, t.id))
    assert types(sink) == [
        AuditType.CONSENT_GIVEN,
        AuditType.CONSENT_WITHDRAWN,
        AuditType.DELETION_QUEUED,
        AuditType.DELETION_QUEUED,
    ]
    # history stays true: before the withdrawal the consent held
    assert store.check("ds-1", Scope.FACE_ENROLMENT, at=T0 + DAY, kind=ConsentKind.SEPARATE).allowed

    done = store.complete_deletion(result.tasks[0].id)
    assert done.completed_at is not None
    assert store.complete_deletion(done.id) == done
    assert [t.id for t in store.pending_deletions()] == [result.tasks[1].id]
    with pytest.raises(ConsentNotFoundError):
        store.complete_deletion("no-such-task")


def test_withdrawn_consent_cannot_be_withdrawn_renewed_or_linked(store: ConsentStore) -> None:
    record = store.grant("ds-1", [Scope.RECORD_VIDEO], at=T0)
    store.withdraw(record.id)
    with pytest.raises(ConsentError, match="ConsentWithdrawn: cannot be withdrawn"):
        store.withdraw(record.id)
    with pytest.raises(ConsentError, match="cannot be renewed"):
        store.renew(record.id)
    with pytest.raises(ConsentError, match="nothing may rely on it"):
        store.link(record.id, "clip", "c1")


def test_withdrawal_cannot_be_dated_in_the_future(store: ConsentStore) -> None:
    record = store.grant("ds-1", [Scope.RECORD_VIDEO], at=T0)
    with pytest.raises(ConsentError, match="future"):
        store.withdraw(record.id, at=datetime.now(UTC) + DAY)


# --- expiry and renewal ----------------------------------------------------------------------


def test_expiry_is_enforced_before_and_after_expire_due(
    store: ConsentStore, sink: MemorySink
) -> None:
    record = store.grant("ds-1", [Scope.CLOUD_PROCESSING], at=T0, expires=T0 + 30 * DAY)
    end = T0 + 30 * DAY
    assert store.check("ds-1", Scope.CLOUD_PROCESSING, at=end - timedelta(seconds=1)).allowed
    late = store.check("ds-1", Scope.CLOUD_PROCESSING, at=end)
    assert not late.allowed
    assert late.reason == "consent expired 2026-01-31T12:00:00Z"

    assert store.expire_due(end - DAY) == []
    expired = store.expire_due(end + DAY)
    assert [r.id for r in expired] == [record.id]
    assert expired[0].state is ConsentState.EXPIRED
    assert expired[0].events[-1].at == end
    assert store.expire_due(end + 2 * DAY) == []
    assert store.list(state=ConsentState.EXPIRED) == expired
    assert types(sink) == [AuditType.CONSENT_GIVEN, AuditType.CONSENT_EXPIRED]


def test_renewal_after_expiry_and_before_it(store: ConsentStore, sink: MemorySink) -> None:
    record = store.grant("ds-1", [Scope.AI_PROCESSING], at=T0, expires=T0 + 10 * DAY)
    store.expire_due(T0 + 11 * DAY)
    renewed = store.renew(record.id, until=T0 + 40 * DAY, at=T0 + 20 * DAY)
    assert renewed.state is ConsentState.RENEWED
    assert renewed.expires_at == T0 + 40 * DAY
    assert store.check("ds-1", Scope.AI_PROCESSING, at=T0 + 5 * DAY).allowed
    gap = store.check("ds-1", Scope.AI_PROCESSING, at=T0 + 15 * DAY)
    assert not gap.allowed and gap.reason.startswith("consent expired")
    assert store.check("ds-1", Scope.AI_PROCESSING, at=T0 + 25 * DAY).allowed
    # renewing before expiry extends the same span; no end means no expiry
    forever = store.renew(record.id, at=T0 + 30 * DAY)
    assert forever.expires_at is None
    assert store.check("ds-1", Scope.AI_PROCESSING, at=T0 + 400 * DAY).allowed
    assert types(sink)[-2:] == [AuditType.CONSENT_RENEWED, AuditType.CONSENT_RENEWED]
    with pytest.raises(ConsentError, match="time order"):
        store.renew(record.id, at=T0)


# --- refusal ---------------------------------------------------------------------------------


def test_refusal_denies_and_overrides_earlier_consent(
    store: ConsentStore, sink: MemorySink
) -> None:
    store.refuse("ds-1", [Scope.LIVE_STREAM], at=T0)
    decision = store.check("ds-1", Scope.LIVE_STREAM, at=T0 + DAY)
    assert not decision.allowed
    assert decision.reason == "consent refused 2026-01-01T12:00:00Z"

    store.grant("ds-2", [Scope.PUBLICATION], kind=ConsentKind.SEPARATE, at=T0)
    store.refuse("ds-2", [Scope.PUBLICATION], at=T0 + DAY)
    assert store.check("ds-2", Scope.PUBLICATION, at=T0 + DAY / 2).allowed
    assert not store.check("ds-2", Scope.PUBLICATION, at=T0 + 2 * DAY).allowed
    # consent given after the refusal counts again
    store.grant("ds-2", [Scope.PUBLICATION], kind=ConsentKind.SEPARATE, at=T0 + 3 * DAY)
    assert store.check("ds-2", Scope.PUBLICATION, at=T0 + 4 * DAY).allowed
    assert AuditType.CONSENT_REFUSED in types(sink)
    refused = store.list(state=ConsentState.REFUSED)
    assert len(refused) == 2
    with pytest.raises(ConsentError, match="cannot be withdrawn"):
        store.withdraw(refused[0].id)


# --- kinds, bundling, minors -----------------------------------------------------------------


def test_bundled_general_consent_never_counts_for_face_enrolment(store: ConsentStore) -> None:
    bundle = store.grant("ds-1", [Scope.RECORD_VIDEO, Scope.FACE_ENROLMENT], at=T0)
    assert store.check("ds-1", Scope.RECORD_VIDEO, at=T0).allowed
    for kind in ConsentKind:
        decision = store.check("ds-1", Scope.FACE_ENROLMENT, at=T0, kind=kind)
        assert not decision.allowed
    decision = store.check("ds-1", Scope.FACE_ENROLMENT, at=T0)
    assert decision.record_id == bundle.id
    assert "bundled" in decision.reason

    separate = store.grant("ds-1", [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE, at=T0)
    decision = store.check("ds-1", Scope.FACE_ENROLMENT, at=T0, kind=ConsentKind.SEPARATE)
    assert decision.allowed and decision.record_id == separate.id


def test_general_consent_does_not_satisfy_separate(store: ConsentStore) -> None:
    store.grant("ds-1", [Scope.FACE_CLOUD_TRANSFER], at=T0)
    decision = store.check("ds-1", Scope.FACE_CLOUD_TRANSFER, at=T0, kind=ConsentKind.SEPARATE)
    assert not decision.allowed
    assert decision.reason == "general consent does not satisfy separate"
    store.grant("ds-2", [Scope.CROSS_BORDER_TRANSFER], kind=ConsentKind.EXPLICIT, at=T0)
    decision = store.check("ds-2", Scope.CROSS_BORDER_TRANSFER, at=T0, kind=ConsentKind.SEPARATE)
    assert decision.reason == "explicit consent does not satisfy separate"
    store.grant("ds-3", [Scope.FACE_ENROLMENT], kind=ConsentKind.WRITTEN, at=T0)
    assert store.check("ds-3", Scope.FACE_ENROLMENT, at=T0, kind=ConsentKind.SEPARATE).allowed


def test_satisfaction_table_through_check(store: ConsentStore) -> None:
    for record_kind in ConsentKind:
        guardian = "gd-1" if record_kind is ConsentKind.GUARDIAN else None
        store.grant(
            f"ds-{record_kind}",
            [Scope.RECORD_VIDEO, Scope.RECORD_AUDIO],
            kind=record_kind,
            guardian_id=guardian,
            at=T0,
        )
    for record_kind in ConsentKind:
        for required in ConsentKind:
            got = store.check(f"ds-{record_kind}", Scope.RECORD_VIDEO, at=T0, kind=required)
            assert got.allowed == satisfies(record_kind, required), (record_kind, required)
    assert all(ConsentKind.GENERAL in kinds for kinds in SATISFIES.values())
    assert all(kind in SATISFIES[kind] for kind in ConsentKind)


def test_minor_needs_guardian_consent(store: ConsentStore, engine: Engine) -> None:
    with pytest.raises(ConsentError, match="under 14"):
        store.grant("kid-1", [Scope.RECORD_VIDEO], under_14=True, at=T0)
    assert count(engine) == 0
    # a minor's own consent that got in anyway (e.g. an import) never counts
    own = ConsentRecord(
        subject=DataSubject(id="kid-1", under_14=True),
        kind=ConsentKind.SEPARATE,
        processing=Processing(scopes=(Scope.RECORD_VIDEO,)),
        events=(ConsentEvent(type=EventType.GIVEN, at=T0, by="kid-1"),),
    )
    store.add(own)
    decision = store.check("kid-1", Scope.RECORD_VIDEO, at=T0)
    assert not decision.allowed and "under 14" in decision.reason

    record = store.grant(
        "kid-1",
        [Scope.RECORD_VIDEO, Scope.FACE_ENROLMENT],
        kind=ConsentKind.GUARDIAN,
        guardian_id="parent-1",
        under_14=True,
        at=T0,
    )
    assert record.given_by == "parent-1"
    for kind in (ConsentKind.GENERAL, ConsentKind.SEPARATE, ConsentKind.GUARDIAN):
        assert store.check("kid-1", Scope.FACE_ENROLMENT, at=T0, kind=kind).allowed
    assert not store.check("kid-1", Scope.FACE_ENROLMENT, at=T0, kind=ConsentKind.WRITTEN).allowed


def test_a_known_minor_cannot_consent_even_without_the_flag(store: ConsentStore) -> None:
    store.grant(
        "kid-2",
        [Scope.LIVE_STREAM],
        kind=ConsentKind.GUARDIAN,
        guardian_id="parent-2",
        under_14=True,
        at=T0,
    )
    store.grant("kid-2", [Scope.RECORD_AUDIO], kind=ConsentKind.EXPLICIT, at=T0)
    decision = store.check("kid-2", Scope.RECORD_AUDIO, at=T0)
    assert not decision.allowed and "guardian" in decision.reason


def test_guardian_kind_needs_a_guardian(store: ConsentStore) -> None:
    with pytest.raises(ConsentError, match="guardian"):
        store.grant("kid-3", [Scope.RECORD_VIDEO], kind=ConsentKind.GUARDIAN, under_14=True)
    with pytest.raises(ConsentError, match="guardian cannot be the data subject"):
        store.grant("kid-3", [Scope.RECORD_VIDEO], kind=ConsentKind.GUARDIAN, guardian_id="kid-3")


# --- audit events ----------------------------------------------------------------------------


def test_events_carry_ids_and_scopes_but_no_personal_details(
    store: ConsentStore, sink: MemorySink
) -> None:
    record = store.grant(
        "ds-9",
        [Scope.FACE_ENROLMENT],
        kind=ConsentKind.SEPARATE,
        purposes=["unlock the door of Alice Example"],
        controller=None,
        method="PIN 1234 on the lock",
        at=T0,
    )
    store.link(record.id, "face-template", "tpl-9")
    store.withdraw(record.id, reason="I am Alice Example and I moved out")
    for event in sink.events:
        text = event.model_dump_json()
        # Whole phrases: a bare "1234" also turns up in timestamps and random ids.
        assert "Alice" not in text and "PIN 1234" not in text
        assert event.subject_id == "ds-9"
        assert event.data["record_id"] == record.id
        assert event.data["scopes"] == ["face-enrolment"]


class FailingSink:
    def append(self, event: AuditEvent) -> int:
        raise OSError("audit log is full")


def test_a_grant_the_audit_log_refuses_is_undone(engine: Engine) -> None:
    store = ConsentStore(engine, FailingSink())
    with pytest.raises(OSError):
        store.grant("ds-1", [Scope.RECORD_VIDEO], at=T0)
    assert count(engine) == 0
    assert not store.check("ds-1", Scope.RECORD_VIDEO, at=T0).allowed


def test_a_withdrawal_stands_even_if_the_audit_log_fails(engine: Engine) -> None:
    record = ConsentStore(engine).grant("ds-1", [Scope.RECORD_VIDEO], at=T0)
    with pytest.raises(OSError):
        ConsentStore(engine, FailingSink()).withdraw(record.id)
    assert not ConsentStore(engine).check("ds-1", Scope.RECORD_VIDEO).allowed


# --- import ----------------------------------------------------------------------------------


def test_import_is_all_or_nothing(store: ConsentStore, engine: Engine) -> None:
    kept = store.grant("ds-1", [Scope.RECORD_VIDEO], at=T0)
    fresh = ConsentRecord(
        subject=DataSubject(id="ds-2"),
        processing=Processing(scopes=(Scope.RECORD_AUDIO,)),
        events=(ConsentEvent(type=EventType.GIVEN, at=T0, by="ds-2"),),
    )
    changed = kept.model_copy(update={"kind": ConsentKind.WRITTEN})
    with pytest.raises(ConsentError, match="other content; nothing imported"):
        store.import_records([fresh, changed])
    assert count(engine) == 1
    result = store.import_records([kept, fresh])
    assert (result.added, result.unchanged) == (1, 1)
    assert store.check("ds-2", Scope.RECORD_AUDIO, at=T0).allowed
    with pytest.raises(ConsentError, match="exists already"):
        store.add(fresh)
    assert issubclass(ConsentError, BystanderError)
