"""The template vault: sealed at rest, bound to its row, rotatable, deletable, never exported."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine, select, text, update

from bystander import config
from bystander.evidence.audit import AuditLog
from bystander.evidence.events import AuditEvent, EventType, MemorySink
from bystander.evidence.retention import RetentionManager, RetentionPolicyError, utcnow
from bystander.evidence.vault import (
    FACE_TEMPLATE,
    KEY_FILE_NAME,
    TemplateExportRefused,
    TemplateRecord,
    TemplateVault,
    VaultError,
    VaultIntegrityError,
    VaultKeyError,
    VaultKeyring,
    cosine_similarity,
)

#: A template anyone would recognise in a database dump.
MARKER = b"RECOGNIZABLE-FACE-TEMPLATE-OF-ALICE-" * 4
PURPOSE = "identity_verification"


@pytest.fixture()
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture()
def retention(engine: Engine, sink: MemorySink) -> RetentionManager:
    return RetentionManager(engine, sink)


@pytest.fixture()
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / KEY_FILE_NAME


@pytest.fixture()
def vault(
    engine: Engine, sink: MemorySink, retention: RetentionManager, key_file: Path
) -> TemplateVault:
    return TemplateVault(engine, key_file=key_file, sink=sink, retention=retention)


def embedding(seed: int) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal(128).astype(np.float32)


def raw_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM biometric_templates"))]


def test_stored_bytes_do_not_contain_the_template(
    vault: TemplateVault, engine: Engine, sink: MemorySink
) -> None:
    first = vault.store("subject-a", MARKER, "consent-1", PURPOSE)
    second = vault.store("subject-a", MARKER, "consent-1", PURPOSE)
    rows = raw_rows(engine)
    assert len(rows) == 2
    for row in rows:
        for value in row:
            blob = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
            assert b"RECOGNIZABLE" not in blob and MARKER[:16] not in blob
    with engine.connect() as conn:
        sealed = conn.execute(select(TemplateRecord.nonce, TemplateRecord.ciphertext)).all()
    assert len({bytes(n) for n, _ in sealed}) == 2 and all(len(n) == 12 for n, _ in sealed)
    assert len({bytes(c) for _, c in sealed}) == 2  # same template, different ciphertexts
    assert {e.data["template_id"] for e in sink.events} == {first, second}
    assert all(b"RECOGNIZABLE" not in e.canonical_bytes() for e in sink.events)
    if engine.dialect.name == "sqlite":
        database = Path(str(engine.url.database))
        files = [database, database.with_name(database.name + "-wal")]
        dump = b"".join(p.read_bytes() for p in files if p.exists())
        assert b"subject-a" in dump and b"RECOGNIZABLE" not in dump


def test_key_file_is_private_and_outside_the_database(
    vault: TemplateVault, key_file: Path, engine: Engine
) -> None:
    vault.store("subject-a", MARKER, "consent-1", PURPOSE)
    assert key_file.exists() and key_file.stat().st_mode & 0o777 == 0o600
    key = VaultKeyring.load(key_file).key(vault.keys.current_id)
    for row in raw_rows(engine):
        assert all(key not in (v if isinstance(v, bytes) else b"") for v in row)


def test_default_key_file_lives_in_keys_dir(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    vault = TemplateVault(engine)
    vault.delete("nothing")  # deleting needs no key: none is created
    assert not (config.keys_dir() / KEY_FILE_NAME).exists()
    vault.store("subject-a", MARKER, "consent-1", PURPOSE)
    assert (config.keys_dir() / KEY_FILE_NAME).stat().st_mode & 0o777 == 0o600


def test_match_finds_the_enrolled_subject(
    vault: TemplateVault, retention: RetentionManager
) -> None:
    alice, bob = embedding(1), embedding(2)
    alice_id = vault.store("alice", alice, "consent-a", PURPOSE)
    vault.store("bob", bob, "consent-b", PURPOSE)
    vault.store("carol", embedding(3), "consent-c", "consent_recognition")
    probe = alice + 0.05 * embedding(9)

    best = vault.match(probe, cosine_similarity, threshold=0.9)
    assert best is not None and (best.subject_id, best.template_id) == ("alice", alice_id)
    assert best.consent_record_id == "consent-a" and best.score > 0.99
    assert vault.match(embedding(7), cosine_similarity, threshold=0.9) is None
    assert vault.match(probe, cosine_similarity, threshold=0.9, subject_id="bob") is None
    assert vault.match(probe, cosine_similarity, threshold=0.9, purpose="other") is None
    as_bytes = vault.match(probe.tobytes(), cosine_similarity, threshold=0.9)
    assert as_bytes is not None and as_bytes.subject_id == "alice"
    distance = vault.match(
        probe, lambda p, t: float(np.linalg.norm(p - t)), threshold=3.0, higher_is_better=False
    )
    assert distance is not None and distance.subject_id == "alice"
    assert retention.get(alice_id).last_used_at > retention.get(alice_id).created_at


def test_matcher_sees_read_only_views_zeroed_afterwards(vault: TemplateVault) -> None:
    vault.store("alice", embedding(1), "consent-a", PURPOSE)
    seen: list[npt.NDArray[Any]] = []

    def scorer(probe: npt.NDArray[Any], template: npt.NDArray[Any]) -> float:
        seen.append(template)
        with pytest.raises(ValueError):
            template[0] = 0
        assert np.array_equal(template, embedding(1))
        return 1.0

    assert vault.match(embedding(1), scorer, threshold=0.5) is not None
    [kept] = seen
    assert not kept.any()  # the buffer was zeroed once the scorer returned


def test_no_public_method_returns_template_bytes(vault: TemplateVault) -> None:
    template_id = vault.store("alice", MARKER, "consent-1", PURPOSE)
    [info] = vault.templates()
    assert info.template_id == template_id and "RECOGNIZABLE" not in repr(info)
    public = [name for name in dir(vault) if not name.startswith("_")]
    assert not {"get", "load", "read", "decrypt", "open"} & set(public)


def test_wrong_key_cannot_decrypt(vault: TemplateVault, engine: Engine) -> None:
    vault.store("alice", embedding(1), "consent-a", PURPOSE)
    stranger = TemplateVault(engine, VaultKeyring.from_key(os.urandom(32)))
    with pytest.raises(VaultKeyError, match="is not available"):
        stranger.match(embedding(1), cosine_similarity, threshold=0.5)
    key_id = vault.keys.current_id
    impostor = TemplateVault(engine, VaultKeyring({key_id: os.urandom(32)}, key_id))
    with pytest.raises(VaultIntegrityError, match="failed authentication"):
        impostor.match(embedding(1), cosine_similarity, threshold=0.5)


def test_swapped_or_edited_rows_fail_authentication(vault: TemplateVault, engine: Engine) -> None:
    alice = vault.store("alice", embedding(1), "consent-a", PURPOSE)
    bob = vault.store("bob", embedding(2), "consent-b", PURPOSE)
    with engine.begin() as conn:
        sealed = {
            row.id: (row.nonce, row.ciphertext)
            for row in conn.execute(select(TemplateRecord.__table__))
        }
        conn.execute(
            update(TemplateRecord)
            .where(TemplateRecord.id == alice)
            .values(nonce=sealed[bob][0], ciphertext=sealed[bob][1])
        )
    with pytest.raises(VaultIntegrityError, match=alice):
        vault.match(embedding(2), cosine_similarity, threshold=0.5)
    with engine.begin() as conn:
        conn.execute(
            update(TemplateRecord)
            .where(TemplateRecord.id == alice)
            .values(nonce=sealed[alice][0], ciphertext=sealed[alice][1], subject_id="mallory")
        )
    with pytest.raises(VaultIntegrityError, match=alice):
        vault.match(embedding(1), cosine_similarity, threshold=0.5)


def test_rotation_reencrypts_every_row(
    vault: TemplateVault, engine: Engine, key_file: Path, sink: MemorySink
) -> None:
    ids = [vault.store(f"s{i}", embedding(i), f"c{i}", PURPOSE) for i in range(3)]
    old_id = vault.keys.current_id
    old_key = vault.keys.key(old_id)
    before = {r.id: bytes(r.ciphertext) for r in _records(engine)}

    new_id = vault.rotate_key()

    assert new_id != old_id
    records = _records(engine)
    assert {r.key_id for r in records} == {new_id}
    assert all(bytes(r.ciphertext) != before[r.id] for r in records)
    on_disk = VaultKeyring.load(key_file)
    assert on_disk.key_ids == (new_id,) and on_disk.current_id == new_id
    assert old_id not in key_file.read_text()
    event = sink.events[-1]
    assert event.type is EventType.VAULT_KEY_ROTATED
    assert event.data == {"new_key_id": new_id, "retired_key_ids": [old_id], "templates": 3}
    best = vault.match(embedding(1), cosine_similarity, threshold=0.99)
    assert best is not None and best.template_id == ids[1]
    old_vault = TemplateVault(engine, VaultKeyring({new_id: old_key}, new_id))
    with pytest.raises(VaultIntegrityError):
        old_vault.match(embedding(1), cosine_similarity, threshold=0.5)


def test_delete_for_consent_removes_exactly_the_linked_templates(
    vault: TemplateVault, retention: RetentionManager, sink: MemorySink
) -> None:
    linked = {vault.store("alice", embedding(i), "consent-a", PURPOSE) for i in range(2)}
    other = vault.store("alice", embedding(5), "consent-b", PURPOSE)
    sink.events.clear()

    assert vault.delete_for_consent("consent-a") == 2

    assert [t.template_id for t in vault.templates()] == [other]
    assert {e.data["template_id"] for e in sink.events} == linked
    assert {(e.type, e.reason) for e in sink.events} == {
        (EventType.TEMPLATE_DELETED, "consent_withdrawn")
    }
    assert all(retention.get(i).deleted_at is not None for i in linked)
    assert retention.get(other).deleted_at is None
    assert vault.delete_for_consent("consent-a") == 0
    assert vault.delete(other) and not vault.delete(other)
    assert vault.count() == 0


def test_retention_run_destroys_idle_templates(
    vault: TemplateVault, retention: RetentionManager, sink: MemorySink
) -> None:
    template_id = vault.store("alice", embedding(1), "consent-a", PURPOSE)
    item = retention.get(template_id)
    assert (item.data_category, item.deleter) == (FACE_TEMPLATE, "vault.template")
    assert item.consent_record_id == "consent-a"
    assert retention.run(now=utcnow() + timedelta(days=364)).deleted == ()

    report = retention.run(now=utcnow() + timedelta(days=366))

    assert [(o.item_id, o.reason) for o in report.deleted] == [(template_id, "idle_limit_reached")]
    assert vault.count() == 0
    assert [(e.type, e.reason) for e in sink.events[-2:]] == [
        (EventType.TEMPLATE_DELETED, "retention"),
        (EventType.RETENTION_DELETED, "idle_limit_reached"),
    ]


def test_export_is_refused_and_logged(vault: TemplateVault, sink: MemorySink) -> None:
    template_id = vault.store("alice", MARKER, "consent-1", PURPOSE)
    with pytest.raises(TemplateExportRefused, match="never leave the vault"):
        vault.export(template_id, destination="https://cloud.example/upload")
    event = sink.events[-1]
    assert event.type is EventType.TEMPLATE_ACCESS_REFUSED
    assert event.data["template_id"] == template_id


def test_store_refuses_bad_input(vault: TemplateVault) -> None:
    with pytest.raises(VaultError, match="empty template"):
        vault.store("alice", b"", "consent-1", PURPOSE)
    with pytest.raises(VaultError, match="never raw images"):
        vault.store("alice", bytes(100_000), "consent-1", PURPOSE)
    with pytest.raises(VaultError, match="consent_record_id must not be empty"):
        vault.store("alice", MARKER, " ", PURPOSE)
    with pytest.raises(RetentionPolicyError, match="no retention rule"):
        vault.store("alice", MARKER, "consent-1", "marketing")
    assert vault.count() == 0


@pytest.mark.parametrize(
    ("content", "mode", "expected"),
    [
        ("not json at all", 0o600, "is malformed"),
        ('{"format": "other/1", "current": "a", "keys": {}}', 0o600, "is malformed|is not a"),
        (
            '{"format": "bystander-vault-keyring/1", "current": "k", "keys": {"k": "AAAA"}}',
            0o600,
            "is malformed",
        ),
        ('{"keys": []}', 0o600, "is malformed"),
        ("{}", 0o644, "accessible by other users"),
    ],
)
def test_malformed_key_file_is_one_line(
    engine: Engine, key_file: Path, content: str, mode: int, expected: str
) -> None:
    key_file.parent.mkdir(parents=True)
    key_file.write_text(content)
    key_file.chmod(mode)
    vault = TemplateVault(engine, key_file=key_file)
    with pytest.raises(VaultKeyError, match=expected) as info:
        vault.store("alice", MARKER, "consent-1", PURPOSE)
    message = str(info.value)
    assert "\n" not in message and str(key_file) in message


def test_keyring_round_trip(key_file: Path) -> None:
    ring = VaultKeyring.load_or_create(key_file)
    again = VaultKeyring.load_or_create(key_file)
    assert again.current_id == ring.current_id
    assert again.key(ring.current_id) == ring.key(ring.current_id)
    data = json.loads(key_file.read_text())
    assert data["format"] == "bystander-vault-keyring/1"
    with pytest.raises(VaultKeyError, match="32 bytes"):
        VaultKeyring.from_key(b"short")


def _records(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(TemplateRecord.__table__)))


def test_store_is_undone_when_the_event_cannot_be_logged(
    engine: Engine, retention: RetentionManager
) -> None:
    class BrokenSink:
        def append(self, event: AuditEvent) -> int:
            raise OSError("audit log unavailable")

    vault = TemplateVault(
        engine, VaultKeyring.from_key(os.urandom(32)), sink=BrokenSink(), retention=retention
    )
    with pytest.raises(OSError):
        vault.store("alice", MARKER, "consent-1", PURPOSE)
    assert vault.count() == 0 and retention.items() == []


def test_with_the_real_audit_log(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events are appended outside open write transactions (SQLite would lock otherwise)."""
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    log = AuditLog(engine)
    retention = RetentionManager(engine, log)
    vault = TemplateVault(engine, key_file=tmp_path / KEY_FILE_NAME, sink=log, retention=retention)
    template_id = vault.store("alice", embedding(1), "consent-a", PURPOSE)
    vault.store("bob", embedding(2), "consent-b", PURPOSE)
    vault.rotate_key()
    assert vault.delete_for_consent("consent-b") == 1
    report = retention.run(now=utcnow() + timedelta(days=366))
    assert [o.item_id for o in report.deleted] == [template_id]
    assert [e.event.type for e in log.entries()] == [
        EventType.TEMPLATE_CREATED,
        EventType.TEMPLATE_CREATED,
        EventType.VAULT_KEY_ROTATED,
        EventType.TEMPLATE_DELETED,
        EventType.TEMPLATE_DELETED,
        EventType.RETENTION_DELETED,
    ]
