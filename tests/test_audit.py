"""The audit log: durable appends, proofs, signed checkpoints, offline verification, bundles,
the CLI, and crash safety (kill -9 of real appending processes)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bystander.cli import audit_cmd
from bystander.evidence import merkle
from bystander.evidence.audit import (
    AuditError,
    AuditIntegrityError,
    AuditLog,
    BundleError,
    CheckpointRecord,
    EntryRecord,
    VerifyPolicy,
    verify_bundle,
    verify_database,
    verify_records,
)
from bystander.evidence.checkpoint import (
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    parse_vkey,
    sign_checkpoint,
)
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.keys import public_key_bytes

TYPES = [EventType.CAPTURE_ARMED, EventType.CONSENT_GIVEN, EventType.EGRESS_DENIED]


def make_event(i: int) -> AuditEvent:
    return AuditEvent(
        type=TYPES[i % len(TYPES)],
        device_id="dev-1",
        session_id=f"s{i // 4}",
        subject_id=f"p{i % 5}",
        reason="test",
        data={"n": i, "note": "café"},
    )


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keys and the default database live in a private BYSTANDER_HOME."""
    folder = tmp_path / "home"
    monkeypatch.setenv("BYSTANDER_HOME", str(folder))
    monkeypatch.delenv("BYSTANDER_DATABASE_URL", raising=False)
    return folder


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log(engine: Engine, key: Ed25519PrivateKey) -> AuditLog:
    return AuditLog(engine, key=key, origin="test.example/audit")


def fill(log: AuditLog, n: int, checkpoint_at: tuple[int, ...] = ()) -> None:
    for i in range(log.size(), n):
        log.append(make_event(i))
        if i + 1 in checkpoint_at:
            log.checkpoint()


def pinned(key: Ed25519PrivateKey) -> list[NoteVerifier]:
    return [NoteVerifier(public_key_bytes(key))]


# -- appends, proofs, checkpoints ----------------------------------------------------------


def test_append_and_proofs_match_an_independent_tree(log: AuditLog) -> None:
    events = [make_event(i) for i in range(23)]
    assert [log.append(e) for e in events[:3]] == [0, 1, 2]
    first = log.checkpoint()
    assert log.append_many(events[3:]) == list(range(3, 23))
    assert log.append_many([]) == []
    second = log.checkpoint()
    reference = merkle.MemoryTree(merkle.leaf_hash(e.canonical_bytes()) for e in events)
    assert (first.size, first.root_hash) == (3, reference.root(3))
    assert (second.size, second.root_hash) == (23, reference.root())
    assert log.root(3) == first.root_hash and log.root() == second.root_hash
    for i, event in enumerate(events):
        leaf = merkle.leaf_hash(event.canonical_bytes())
        assert log.leaf_hash(i) == leaf
        proof = log.inclusion_proof(i, 23)
        assert merkle.verify_inclusion(leaf, i, 23, proof, second.root_hash)
    proof = log.consistency_proof(3, 23)
    assert merkle.verify_consistency(3, 23, proof, first.root_hash, second.root_hash)
    assert log.event(5) == events[5]
    assert [e.index for e in log.entries(20)] == [20, 21, 22]


def test_checkpoint_is_a_signed_note(log: AuditLog, key: Ed25519PrivateKey) -> None:
    fill(log, 4)
    cp = log.checkpoint()
    lines = cp.note.split("\n")
    assert lines[:3] == ["test.example/audit", "4", base64.b64encode(log.root()).decode()]
    assert lines[3] == "" and lines[4].startswith("\u2014 test.example/audit ")
    vkey = log.verifier().vkey()
    assert open_checkpoint(cp.note, [parse_vkey(vkey)]).size == 4
    assert log.checkpoint() == cp  # nothing new: the latest is returned, not re-signed
    assert len(log.checkpoints()) == 1
    assert log.latest_checkpoint() == cp


def test_reopened_log_continues_the_same_tree(engine: Engine, key: Ed25519PrivateKey) -> None:
    first = AuditLog(engine, key=key)
    fill(first, 13)
    old = first.checkpoint()
    second = AuditLog(engine, key=key)
    assert second.append(make_event(13)) == 13
    fill(first, 20)  # the first instance notices the other's append
    new = second.checkpoint()
    assert new.origin == old.origin
    proof = second.consistency_proof(old.size, new.size)
    assert merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    assert verify_database(engine, pinned(key)).ok


def test_checkpoint_every_signs_inside_the_append(engine: Engine, key: Ed25519PrivateKey) -> None:
    log = AuditLog(engine, key=key, checkpoint_every=10)
    log.append_many([make_event(i) for i in range(25)])
    fill(log, 31)
    assert [cp.size for cp in log.checkpoints()] == [25, 30]
    with pytest.raises(AuditError):
        AuditLog(engine, checkpoint_every=0)


def test_proof_arguments_are_checked(log: AuditLog) -> None:
    fill(log, 3)
    with pytest.raises(AuditError):
        log.inclusion_proof(0, 4)
    with pytest.raises(AuditError):
        log.leaf_hash(3)
    with pytest.raises(merkle.ProofError):
        log.inclusion_proof(3, 3)
    with pytest.raises(AuditError):
        log.event(9)


def test_default_key_comes_from_the_keys_folder(engine: Engine, home: Path) -> None:
    cp = AuditLog(engine).checkpoint()
    assert (home / "keys" / "audit.ed25519.pem").exists()
    assert cp.origin.startswith("bystander.local/audit/")
    assert verify_database(engine).pinned  # the local key is trusted by default


@pytest.mark.parametrize(
    "data",
    [
        {"image": "..."},
        {"nested": [{"face_template": "x"}]},
        {"vector": [0.1] * 128},
        {"blob": "x" * 20000},
    ],
)
def test_media_and_biometrics_are_refused(log: AuditLog, data: dict[str, object]) -> None:
    with pytest.raises(AuditError):
        log.append_many([make_event(0), AuditEvent(type=EventType.MEDIA_PROTECTED, data=data)])
    assert log.size() == 0


def test_flags_about_media_are_allowed(log: AuditLog) -> None:
    """``audio: false`` says a session records no sound; it carries no media."""
    log.append(AuditEvent(type=EventType.CAPTURE_ARMED, data={"audio": False, "image": None}))
    assert log.size() == 1


def test_concurrent_appenders_get_distinct_contiguous_indices(
    engine: Engine, key: Ed25519PrivateKey
) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        own = AuditLog(engine, key=key)
        try:
            for i in range(15):
                if i % 5 == 0:
                    results.extend(own.append_many([make_event(1000 * w + i)] * 3))
                else:
                    results.append(own.append(make_event(1000 * w + i)))
                if i == 7:
                    own.checkpoint()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == list(range(4 * 21))
    AuditLog(engine, key=key).checkpoint()
    report = verify_database(engine, pinned(key))
    assert report.ok, report.problems
    assert report.signed_size == 84


# -- verification of a database ------------------------------------------------------------


def test_entries_not_covered_by_a_checkpoint_fail_verification(
    log: AuditLog, key: Ed25519PrivateKey
) -> None:
    fill(log, 10, checkpoint_at=(4, 8))
    report = verify_database(log.engine, pinned(key))
    assert not report.ok and report.checkpoints == 2 and report.entries == 10
    assert report.signed_size == 8
    assert "entries 8..9 (2) are not covered by a signed checkpoint" in report.headline()
    log.checkpoint()
    assert verify_database(log.engine, pinned(key)).ok
    report = verify_database(log.engine, pinned(key), VerifyPolicy(require_coverage=False))
    assert report.ok


def _update(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def test_altered_event_is_named(log: AuditLog, key: Ed25519PrivateKey) -> None:
    fill(log, 12, checkpoint_at=(6, 12))
    _update(
        log.engine,
        "UPDATE audit_entries SET event_json = replace(event_json, :a, :b) WHERE idx = 7",
        a='"n":7',
        b='"n":8',
    )
    report = verify_database(log.engine, pinned(key))
    assert not report.ok
    first = report.first_tampered
    assert first is not None and (first.index, first.type) == (7, "consent.given")
    assert "entry 7 (consent.given) was altered" in report.headline()
    with pytest.raises(AuditIntegrityError):
        report.raise_for_problems()


def test_rewritten_history_is_caught_by_the_signed_roots(
    log: AuditLog, key: Ed25519PrivateKey
) -> None:
    """An attacker who rewrites an event and every stored hash is still caught by the
    signed checkpoint, and the log refuses to sign over the rewritten history."""
    fill(log, 8, checkpoint_at=(4, 8))
    forged = make_event(5).model_copy(update={"reason": "forged"}).canonical_bytes()
    data = [e.event.canonical_bytes() for e in log.entries()]
    data[5] = forged
    tree = merkle.MemoryTree(merkle.leaf_hash(d) for d in data)
    _update(log.engine, "UPDATE audit_entries SET event_json = :j WHERE idx = 5", j=forged.decode())
    for level in range(4):
        for index in range(8 >> level):
            nid = (level << 48) | index
            digest = tree.node(level, index)
            _update(log.engine, "UPDATE audit_nodes SET hash = :h WHERE id = :i", h=digest, i=nid)
    report = verify_database(log.engine, pinned(key))
    assert report.problems[0].message == (
        "checkpoint #2 (size 8) does not match the entries: an entry in 4..7 was altered"
    )
    assert "entries 4..7 (4) are not covered" in report.problems[1].message
    assert report.first_tampered is None
    fresh = AuditLog(log.engine, key=key)
    fresh.append(make_event(8))
    with pytest.raises(AuditIntegrityError, match="not consistent"):
        fresh.checkpoint()


def test_removed_entries_and_forged_checkpoints_fail(log: AuditLog, key: Ed25519PrivateKey) -> None:
    fill(log, 6, checkpoint_at=(6,))
    _update(log.engine, "DELETE FROM audit_entries WHERE idx = 5")
    report = verify_database(log.engine, pinned(key))
    assert report.first_tampered is not None and report.first_tampered.index == 5
    assert "removed" in report.headline()
    impostor = AuditLog(log.engine, key=Ed25519PrivateKey.generate(), origin="test.example/audit")
    _update(log.engine, "DELETE FROM audit_checkpoints")
    impostor.checkpoint()
    report = verify_database(log.engine, pinned(key))
    assert "no signature by a trusted key" in report.headline()


def test_type_column_must_match_the_event(log: AuditLog, key: Ed25519PrivateKey) -> None:
    fill(log, 4, checkpoint_at=(4,))
    _update(log.engine, "UPDATE audit_entries SET type = 'capture.armed' WHERE idx = 1")
    report = verify_database(log.engine, pinned(key))
    assert report.first_tampered is not None and report.first_tampered.index == 1


def test_single_character_change_in_the_database_is_detected(
    log: AuditLog, key: Ed25519PrivateKey
) -> None:
    fill(log, 6, checkpoint_at=(3, 6))
    with log.engine.connect() as conn:
        events = [
            r for (r,) in conn.execute(text("SELECT event_json FROM audit_entries ORDER BY idx"))
        ]
        notes = [r for (r,) in conn.execute(text("SELECT note FROM audit_checkpoints ORDER BY id"))]
    trusted = pinned(key)

    @settings(max_examples=25, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        table, column, rows, key_column = data.draw(
            st.sampled_from(
                [
                    ("audit_entries", "event_json", events, "idx"),
                    ("audit_checkpoints", "note", notes, "id"),
                ]
            )
        )
        row = data.draw(st.integers(0, len(rows) - 1))
        original = rows[row]
        pos = data.draw(st.integers(0, len(original) - 1))
        char = data.draw(st.characters(min_codepoint=32, max_codepoint=126))
        if char == original[pos]:
            return
        changed = original[:pos] + char + original[pos + 1 :]
        row_id = row if table == "audit_entries" else row + 1
        sql = f"UPDATE {table} SET {column} = :v WHERE {key_column} = :k"
        _update(log.engine, sql, v=changed, k=row_id)
        try:
            report = verify_database(log.engine, trusted)
            assert not report.ok
            if table == "audit_entries":
                assert report.first_tampered is not None
                assert report.first_tampered.index == row
        finally:
            _update(log.engine, sql, v=original, k=row_id)

    check()
    assert verify_database(log.engine, trusted).ok


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_byte_change_to_an_event_or_checkpoint_is_detected(data: st.DataObject) -> None:
    signer = NoteSigner("test.example/audit", _PROPERTY_KEY)
    tree = merkle.MemoryTree()
    entries = []
    for i in range(7):
        raw = make_event(i).canonical_bytes()
        entries.append(EntryRecord(i, raw, merkle.leaf_hash(raw), str(make_event(i).type)))
        tree.append(merkle.leaf_hash(raw))
    notes = [
        CheckpointRecord(n, sign_checkpoint(signer.name, s, tree.root(s), signer).note)
        for n, s in ((1, 4), (2, 7))
    ]
    verifiers = [signer.verifier]
    assert verify_records(entries, notes, verifiers).ok
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(entries) - 1))
        raw = entries[i].data
        pos, value = data.draw(st.integers(0, len(raw) - 1)), data.draw(st.integers(0, 255))
        if value == raw[pos]:
            return
        entries[i] = EntryRecord(
            i, raw[:pos] + bytes([value]) + raw[pos + 1 :], *_claims(entries[i])
        )
        report = verify_records(entries, notes, verifiers)
        assert report.first_tampered is not None and report.first_tampered.index == i
    else:
        n = data.draw(st.integers(0, len(notes) - 1))
        raw_note = notes[n].note.encode()
        pos, value = data.draw(st.integers(0, len(raw_note) - 1)), data.draw(st.integers(0, 255))
        changed = raw_note[:pos] + bytes([value]) + raw_note[pos + 1 :]
        if value == raw_note[pos]:
            return
        try:
            note = changed.decode("utf-8")
        except UnicodeDecodeError:
            return  # not text: cannot be stored as a note (the bundle test covers raw bytes)
        notes[n] = CheckpointRecord(notes[n].number, note)
        assert not verify_records(entries, notes, verifiers).ok


_PROPERTY_KEY = Ed25519PrivateKey.generate()


def _claims(record: EntryRecord) -> tuple[bytes | None, str | None]:
    return record.claimed_leaf, record.claimed_type


# -- export bundles ------------------------------------------------------------------------


def _bundle(log: AuditLog, tmp_path: Path, n: int = 9) -> Path:
    fill(log, n, checkpoint_at=(3, n))
    out = tmp_path / "bundle.jsonl"
    report = log.export(out)
    assert report.ok and report.entries == n
    return out


def test_export_bundle_is_self_contained(
    log: AuditLog, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = _bundle(log, tmp_path)
    lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "bystander-audit-log" and header["version"] == 1
    assert header["entries"] == 9 and header["checkpoints"] == 2
    assert header["verifier_keys"] == [log.verifier().vkey()]
    entry = json.loads(lines[3])
    event = entry["event"].encode()
    assert base64.b64decode(entry["leaf_hash"]) == merkle.leaf_hash(event)
    assert AuditEvent.model_validate_json(event) == log.event(0)
    assert log.event(0).data == {"n": 0, "note": "café"}
    assert verify_bundle(out, pinned(key)).ok
    assert not verify_bundle(out).pinned
    with pytest.raises(Exception, match="exists"):
        log.export(out)
    assert not verify_bundle(out, pinned(Ed25519PrivateKey.generate())).ok


def test_any_byte_change_to_a_bundle_is_detected(
    engine: Engine, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the bundle format does not depend on the database")
    original = _bundle(AuditLog(engine, key=key), tmp_path, n=5).read_bytes()
    target = tmp_path / "mutated.jsonl"

    @settings(max_examples=200, deadline=None)
    @given(st.integers(0, len(original) - 1), st.integers(0, 255))
    def check(pos: int, value: int) -> None:
        if original[pos] == value:
            return
        target.write_bytes(original[:pos] + bytes([value]) + original[pos + 1 :])
        try:
            report = verify_bundle(target)
        except (BundleError, AuditError) as exc:
            assert "\n" not in str(exc)
            return
        assert not report.ok

    check()


# -- the CLI ---------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """bystander"""

    audit_cmd.register(app)
    return app


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli(), list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def sqlite_log(tmp_path: Path) -> tuple[AuditLog, str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    init_db(engine)
    log = AuditLog(engine)  # the local key in BYSTANDER_HOME
    fill(log, 10, checkpoint_at=(5,))
    return log, url


def test_cli_verify_export_show_checkpoint(
    sqlite_log: tuple[AuditLog, str], tmp_path: Path
) -> None:
    log, url = sqlite_log
    code, out, err = run_cli("audit", "verify", "--database", url, "--no-state")
    assert code == 3 and "are not covered by a signed checkpoint" in err
    assert run_cli("audit", "checkpoint", "--database", url)[0] == 0
    code, out, _ = run_cli("audit", "verify", "--database", url, "--no-state")
    assert code == 0 and "ok:" in out
    code, out, err = run_cli("audit", "verify", str(tmp_path / "cli.db"))
    assert code == 3 and "entry 1 (consent.given) names no record_id" in err  # synthetic events
    bundle = tmp_path / "export.jsonl"
    code, out, err = run_cli("audit", "export", str(bundle), "--database", url)
    assert code == 0, err
    assert "10 entries, 2 checkpoints" in out
    vkey = log.verifier().vkey()
    code, out, err = run_cli("audit", "verify", str(bundle), "--key", vkey)
    assert code == 0 and "signer (pinned)" in out and not err
    code, out, err = run_cli("audit", "verify", str(bundle), "--json")
    report = json.loads(out)
    assert code == 0 and report["entries"] == 10 and report["key_pinned"] is False
    assert any("pin it" in w for w in report["warnings"])
    code, out, _ = run_cli("audit", "show", "--database", url, "--limit", "2")
    assert code == 0 and "10 entries" in out and "egress.denied" in out
    code, out, _ = run_cli("audit", "show", "--database", url, "--json", "-n", "3")
    assert [e["index"] for e in json.loads(out)["events"]] == [7, 8, 9]
    fill(log, 12)
    code, out, _ = run_cli("audit", "checkpoint", "--database", url)
    assert code == 0 and out.split("\n")[1] == "12"
    code, out, _ = run_cli("audit", "key", "--database", url)
    assert out.strip() == vkey


def test_cli_names_the_first_tampered_entry_of_an_export(
    sqlite_log: tuple[AuditLog, str], tmp_path: Path
) -> None:
    _, url = sqlite_log
    bundle = tmp_path / "export.jsonl"
    assert run_cli("audit", "export", str(bundle), "--database", url)[0] == 0
    lines = bundle.read_text(encoding="utf-8").splitlines(keepends=True)
    for entry in (4, 8):  # line 1 is the header, lines 2-3 the checkpoints
        lines[3 + entry] = lines[3 + entry].replace('\\"n\\":', '\\"n\\":1')
    bundle.write_text("".join(lines), encoding="utf-8")
    before = bundle.read_bytes()
    code, out, err = run_cli("audit", "verify", str(bundle))
    assert code == 3
    assert "entry 4 (consent.given) was altered" in err
    assert len(err.strip().splitlines()) == 2  # the unpinned-key warning and one error line
    assert "FAIL entry 8" in out
    assert bundle.read_bytes() == before


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b.replace(b'"entries":10', b'"entries":10,'), "not valid JSON"),
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b.replace(b'"version":1', b'"version":7'), "unsupported bundle version 7"),
        (lambda b: b"not json at all\n", "not valid JSON"),
        (lambda b: b"", "truncated"),
        (lambda b: b + b'{"index":10}\n', "data after the last entry"),
    ],
)
def test_cli_rejects_malformed_bundles(
    sqlite_log: tuple[AuditLog, str], tmp_path: Path, mangle: object, message: str
) -> None:
    _, url = sqlite_log
    bundle = tmp_path / "export.jsonl"
    assert run_cli("audit", "export", str(bundle), "--database", url)[0] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(mangle(bundle.read_bytes()))  # type: ignore[operator]
    listing = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli("audit", "verify", str(bad))
    assert code == 1 and message in err and err.count("error:") == 1
    assert len(err.strip().splitlines()) == 1 and not out
    assert sorted(p.name for p in tmp_path.iterdir()) == listing


def test_cli_wrong_signature_fails(sqlite_log: tuple[AuditLog, str], tmp_path: Path) -> None:
    _, url = sqlite_log
    bundle = tmp_path / "export.jsonl"
    assert run_cli("audit", "export", str(bundle), "--database", url)[0] == 0
    other = NoteSigner("x", Ed25519PrivateKey.generate()).verifier.vkey()
    code, _, err = run_cli("audit", "verify", str(bundle), "--key", other)
    assert code == 3 and "no signature by a trusted key" in err
    raw = bundle.read_text(encoding="utf-8")
    sig = raw.split("\u2014 ")[1].split(" ")[1][:30]  # key id, then signature bytes
    flipped = sig[:20] + ("A" if sig[20] != "A" else "B") + sig[21:]
    bundle.write_text(raw.replace(sig, flipped, 1), encoding="utf-8")
    code, _, err = run_cli("audit", "verify", str(bundle))
    assert code == 3 and "does not verify" in err


def test_cli_input_errors(tmp_path: Path) -> None:
    code, _, err = run_cli("audit", "verify", str(tmp_path / "missing.jsonl"))
    assert code == 1 and "no such file" in err
    code, _, err = run_cli("audit", "verify")  # the default database does not exist
    assert code == 1 and "no database" in err
    empty = tmp_path / "empty.db"
    make_engine(f"sqlite:///{empty}").connect().close()
    code, _, err = run_cli("audit", "verify", str(empty))
    assert code == 1 and "no audit log" in err
    code, _, err = run_cli("audit", "verify", "--key", "garbage+1+2", str(empty))
    assert code == 1 and err.count("error:") == 1
    code, _, err = run_cli("audit", "export", str(tmp_path / "x.jsonl"))
    assert code == 1 and not (tmp_path / "x.jsonl").exists()


# -- crash safety ----------------------------------------------------------------------------

_CHILD = """
import sys
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import make_engine
from bystander.evidence.events import AuditEvent, EventType

log = AuditLog(make_engine(sys.argv[1]))
worker, n = sys.argv[2], 0
while True:
    batch = [AuditEvent(type=EventType.FIRST_FRAME, session_id=worker, data={"n": n + k})
             for k in range(1 + n % 7)]
    indices = log.append_many(batch) if len(batch) > 1 else [log.append(batch[0])]
    for index, event in zip(indices, batch):
        print(index, worker, event.data["n"], flush=True)
    n += len(batch)
"""


def _database_url(engine: Engine) -> str:
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name != "postgresql":
        return url
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
    return f"{url}?options=-csearch_path%3D{schema}"


@pytest.mark.slow
def test_kill_9_during_appends_loses_no_acknowledged_event(
    engine: Engine, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    url = _database_url(engine)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, f"w{w}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for w in range(2)
    ]
    acked: dict[int, tuple[str, int]] = {}
    lines: list[str] = []

    def read(child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)

    readers = [threading.Thread(target=read, args=(c,)) for c in children]
    for r in readers:
        r.start()
    deadline = time.monotonic() + 60
    while len(lines) < 400 and time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            break
        time.sleep(0.01)
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
    for child in children:
        child.wait()
        assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    for r in readers:
        r.join()
    complete = [line for line in lines if line.endswith("\n")]  # SIGKILL can cut the last
    assert len(lines) - len(complete) <= len(children)  # at most one cut line per child
    for line in complete:
        index, worker, n = line.split()
        acked[int(index)] = (worker, int(n))
    assert len(acked) == len(complete) >= 100

    reopened = AuditLog(make_engine(url), key=key)
    assert reopened.size() >= max(acked) + 1
    for index, (worker, n) in acked.items():
        event = reopened.event(index)
        assert (event.session_id, event.data["n"]) == (worker, n)
    assert reopened.append(make_event(0)) == reopened.size() - 1
    reopened.checkpoint()
    report = verify_database(reopened.engine, pinned(key))
    assert report.ok, report.problems
    reopened.engine.dispose()
