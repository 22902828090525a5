"""Withdrawal -> deletion: templates leave the vault, dependent files are destroyed, logged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from bystander.consent.deletion import carry_out_deletions, withdraw_and_delete
from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.events import EventType, MemorySink
from bystander.evidence.retention import RetentionManager
from bystander.evidence.vault import TemplateVault, VaultKeyring


def setup(engine: Engine) -> tuple[ConsentStore, TemplateVault, RetentionManager, MemorySink]:
    sink = MemorySink()
    consents = ConsentStore(engine, sink)
    retention = RetentionManager(engine, sink)
    vault = TemplateVault(
        engine, VaultKeyring.from_key(bytes(range(32))), sink=sink, retention=retention
    )
    return consents, vault, retention, sink


def test_withdrawal_deletes_templates_and_dependent_files(engine: Engine, tmp_path: Path) -> None:
    consents, vault, retention, sink = setup(engine)
    record = consents.grant(
        "person-7", [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE, role="enrolled"
    )
    other = consents.grant(
        "person-8", [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE, role="enrolled"
    )
    template = np.random.default_rng(0).random(128).astype(np.float32)
    vault.store("person-7", template, record.id, "consent_recognition")
    kept = vault.store("person-8", template, other.id, "consent_recognition")
    photo = tmp_path / "enrolment.jpg"
    photo.write_bytes(b"face photo")
    item = retention.register(
        "user.biometric.face.image", "enrolment", str(photo), consent_record_id=record.id
    )
    consents.link(record.id, "stored-item", item.id)

    report = withdraw_and_delete(consents, record.id, vault, retention)

    assert report.ok
    assert report.templates_deleted == 1 and report.tasks_completed == 1
    assert not photo.exists()
    assert [t.template_id for t in vault.templates()] == [kept]
    assert consents.pending_deletions() == []
    assert not consents.check("person-7", Scope.FACE_ENROLMENT, kind=ConsentKind.SEPARATE).allowed
    types = [e.type for e in sink.events]
    assert EventType.CONSENT_WITHDRAWN in types
    assert EventType.TEMPLATE_DELETED in types
    assert EventType.RETENTION_DELETED in types


def test_a_failed_deletion_keeps_the_task_pending_until_a_later_run(
    engine: Engine, tmp_path: Path
) -> None:
    consents, vault, retention, _ = setup(engine)
    record = consents.grant("wearer-1", [Scope.RECORD_VIDEO])
    attempts: list[str] = []

    def flaky(item: object) -> None:
        attempts.append("try")
        if len(attempts) == 1:
            raise OSError("storage offline")

    retention.register_deleter("flaky", flaky)
    item = retention.register(
        "user.media.recording.original",
        "anonymisation",
        "clip-1",
        deleter_key="flaky",
        consent_record_id=record.id,
    )
    consents.link(record.id, "stored-item", item.id)

    first = withdraw_and_delete(consents, record.id, vault, retention)
    assert not first.ok and len(consents.pending_deletions()) == 1

    second = carry_out_deletions(consents, vault, retention)
    assert second.ok and second.tasks_completed == 1
    assert consents.pending_deletions() == []
    assert len(attempts) == 2
