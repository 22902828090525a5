"""The evidence, attacked: every forgery class is caught with one line and exit 3, on SQLite
and PostgreSQL; untouched evidence raises no alarm.

Each case starts from the same realistic evidence (consent granted, withdrawn and refused,
a face template enrolled and deleted, a deletion task, a signed log exported as a bundle),
applies one attack with the attacker's powers (write access to the database or the files,
keys of their own, the device key when the attack is the device lying), and checks what the
verifier says.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bystander.cli.app import app
from bystander.consent.audit_state import check_state, database_events, rebuild
from bystander.consent.models import Scope
from bystander.consent.receipts import issue_receipt
from bystander.consent.store import ConsentStore
from bystander.evidence import merkle
from bystander.evidence.audit import AuditLog, VerifyPolicy, verify_bundle, verify_database
from bystander.evidence.checkpoint import NoteSigner, NoteVerifier, sign_checkpoint
from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.vault import TemplateVault, VaultKeyring
from bystander.evidence.witness import (
    Witness,
    WitnessMisbehaviourError,
    add_cosignature,
    load_cosigner,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
runner = CliRunner()


@dataclass
class Evidence:
    engine: Engine
    log: AuditLog
    key: Ed25519PrivateKey
    withdrawn: str
    given: str
    template_kept: str
    template_deleted: str
    bundle: Path
    checkpoint_file: Path

    @property
    def vkey(self) -> str:
        return self.log.verifier().vkey()

    @property
    def pinned(self) -> list[NoteVerifier]:
        return [self.log.verifier()]


@pytest.fixture
def evidence(engine: Engine, tmp_path: Path, home: Path) -> Evidence:
    key = Ed25519PrivateKey.generate()
    log = AuditLog(engine, key=key, checkpoint_every=1)
    store = ConsentStore(engine, log)
    withdrawn = store.grant("ds-1", [Scope.RECORD_VIDEO], at=T0).id
    given = store.grant("ds-2", [Scope.FACE_ENROLMENT], kind="separate", at=T0).id  # type: ignore[arg-type]
    store.refuse("ds-3", [Scope.PUBLICATION], at=T0)
    store.link(withdrawn, "clip", "clip-1")
    store.withdraw(withdrawn, at=T0 + timedelta(hours=1))
    vault = TemplateVault(engine, VaultKeyring.from_key(bytes(range(32))), sink=log)
    template = np.linspace(-1, 1, 128, dtype=np.float32)
    kept = vault.store("ds-2", template, given, "face.unlock")
    deleted = vault.store("ds-2", template, given, "face.unlock")
    vault.delete(deleted)
    log.append(AuditEvent(type=EventType.EGRESS_DENIED, data={"host": "cloud.example"}))
    bundle = tmp_path / "export.jsonl"
    log.export(bundle)
    checkpoint_file = tmp_path / "seen.checkpoint"
    checkpoint_file.write_text(log.checkpoint().note, encoding="utf-8")
    return Evidence(
        engine, log, key, withdrawn, given, kept, deleted, bundle, checkpoint_file
    )


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def problems(ev: Evidence, policy: VerifyPolicy | None = None) -> list[str]:
    """Every problem the log check and the state check find, as lines."""
    report = verify_database(ev.engine, ev.pinned, policy)
    lines = [p.message for p in report.problems]
    if report.ok:
        logged = rebuild(database_events(ev.engine, report.entries))
        lines += check_state(ev.engine, logged).problems
    return lines


def reset_nodes(engine: Engine, data: list[bytes]) -> None:
    """Rewrite ``audit_nodes`` to match ``data``: the attacker recomputes every hash."""
    tree = merkle.MemoryTree(merkle.leaf_hash(d) for d in data)
    sql(engine, "DELETE FROM audit_nodes")
    rows = [
        {"i": (level << 48) | index, "h": tree.node(level, index)}
        for level in range(tree.size.bit_length())
        for index in range(tree.size >> level)
    ]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_nodes (id, hash) VALUES (:i, :h)"), rows)


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stderr


def one_line_exit_3(code: int, err: str) -> str:
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# -- no false alarms ------------------------------------------------------------------------


def test_untouched_evidence_verifies(evidence: Evidence) -> None:
    assert problems(evidence) == []
    state = check_state(evidence.engine, rebuild(database_events(evidence.engine, 10**9)))
    assert state.checked["consent_records"] == 3 and state.checked["biometric_templates"] == 1
    assert verify_bundle(evidence.bundle, evidence.pinned).ok
    code, err = cli("audit", "verify", str(evidence.bundle), "--key", evidence.vkey)
    assert code == 0, err
    code, err = cli(
        "audit", "verify", str(evidence.bundle), "--key", evidence.vkey,
        "--pin-checkpoint", str(evidence.checkpoint_file),
    )  # fmt: skip
    assert code == 0, err


def test_untouched_sqlite_database_verifies_with_its_rows(evidence: Evidence) -> None:
    if evidence.engine.dialect.name != "sqlite":
        pytest.skip("the CLI opens databases by URL; the scratch PostgreSQL schema has none")
    url = evidence.engine.url.render_as_string(hide_password=False)
    code, err = cli("audit", "verify", url, "--key", evidence.vkey)
    assert code == 0, err
    code, err = cli("audit", "verify", str(evidence.bundle), "--key", evidence.vkey,
                    "--database", url)  # fmt: skip
    assert code == 0, err


# -- the log --------------------------------------------------------------------------------


def test_byte_flip_in_an_entry(evidence: Evidence) -> None:
    sql(evidence.engine, "UPDATE audit_entries SET event_json = replace(event_json, "
        "'cloud.example', 'cloud.exampl3') WHERE type = 'egress.denied'")  # fmt: skip
    (first, *_) = problems(evidence)
    assert "(egress.denied) was altered" in first


def test_deleted_entry(evidence: Evidence) -> None:
    sql(evidence.engine, "DELETE FROM audit_entries WHERE idx = 3")
    assert "entry 3 is missing (found 4)" in problems(evidence)[0]


def test_reordered_entries(evidence: Evidence) -> None:
    rows = {}
    with evidence.engine.connect() as conn:
        for idx, raw in conn.execute(text("SELECT idx, event_json FROM audit_entries "
                                          "WHERE idx IN (1, 2)")):  # fmt: skip
            rows[idx] = raw
    sql(evidence.engine, "UPDATE audit_entries SET event_json = :j WHERE idx = 1", j=rows[2])
    sql(evidence.engine, "UPDATE audit_entries SET event_json = :j WHERE idx = 2", j=rows[1])
    found = problems(evidence)
    assert any("entry 1 (" in p and "was altered" in p for p in found)


def test_truncated_log(evidence: Evidence) -> None:
    size = evidence.log.size()
    sql(evidence.engine, "DELETE FROM audit_entries WHERE idx >= :n", n=size - 3)
    assert any(f"only {size - 3} are present" in p for p in problems(evidence))


def test_stripped_checkpoints_and_a_recomputed_leaf(evidence: Evidence) -> None:
    """The issue's first attack: drop every checkpoint, change an entry, fix its leaf hash."""
    forged = AuditEvent(type=EventType.EGRESS_ALLOWED, wall_time=T0.isoformat(), mono_ns=1,
                        data={"host": "cloud.example"}).canonical_bytes()  # fmt: skip
    idx = evidence.log.size() - 1
    sql(evidence.engine, "DELETE FROM audit_checkpoints")
    sql(evidence.engine, "UPDATE audit_entries SET event_json = :j, type = 'egress.allowed' "
        "WHERE idx = :i", j=forged.decode(), i=idx)  # fmt: skip
    sql(evidence.engine, "UPDATE audit_nodes SET hash = :h WHERE id = :i",
        h=merkle.leaf_hash(forged), i=idx)  # fmt: skip
    found = problems(evidence)
    assert any("is covered by a checkpoint signed by a trusted key" in p for p in found)


def test_dropped_later_checkpoints_and_an_altered_tail(evidence: Evidence) -> None:
    with evidence.engine.connect() as conn:
        keep = conn.execute(text("SELECT min(id) FROM audit_checkpoints")).scalar()
    sql(evidence.engine, "DELETE FROM audit_checkpoints WHERE id > :k", k=keep)
    found = problems(evidence)
    assert any("are not covered by a signed checkpoint" in p for p in found)


def test_checkpoint_resigned_with_the_attackers_key(evidence: Evidence) -> None:
    sql(evidence.engine, "UPDATE audit_entries SET event_json = replace(event_json, "
        "'cloud.example', 'evil.example') WHERE type = 'egress.denied'")  # fmt: skip
    data = [e.event.canonical_bytes() for e in evidence.log.entries()]
    tree = merkle.MemoryTree(merkle.leaf_hash(d) for d in data)
    attacker = NoteSigner(evidence.log.latest_checkpoint().origin, Ed25519PrivateKey.generate())  # type: ignore[union-attr]
    forged = sign_checkpoint(attacker.name, tree.size, tree.root(), attacker)
    sql(evidence.engine, "INSERT INTO audit_checkpoints (size, root_hash, note, verifier_key, "
        "created_at) VALUES (:s, :r, :n, :v, 'x')", s=tree.size, r=tree.root(),
        n=forged.note, v=attacker.verifier.vkey())  # fmt: skip
    found = problems(evidence)
    assert any("no signature by a trusted key" in p for p in found)


def test_rollback_to_an_older_log(evidence: Evidence, tmp_path: Path) -> None:
    """The device shows an older state than the one an auditor saw (entries dropped, with
    their checkpoints): the pinned checkpoint and the minimum size catch it."""
    seen = evidence.log.latest_checkpoint()
    assert seen is not None
    data = [e.event.canonical_bytes() for e in evidence.log.entries(0, 4)]
    sql(evidence.engine, "DELETE FROM audit_checkpoints WHERE size > 4")
    sql(evidence.engine, "DELETE FROM audit_entries WHERE idx >= 4")
    reset_nodes(evidence.engine, data)
    assert verify_database(evidence.engine, evidence.pinned).ok  # consistent on its own
    policy = VerifyPolicy(known=[seen.note])
    assert any("rolled back" in p for p in problems(evidence, policy))
    policy = VerifyPolicy(min_size=seen.size)
    assert any("fewer than the pinned minimum" in p for p in problems(evidence, policy))


def test_fork_signed_by_the_device_itself(evidence: Evidence, tmp_path: Path) -> None:
    """A device that signs another history with its own key: pinned checkpoints and a
    witness both refuse it."""
    seen = evidence.log.latest_checkpoint()
    assert seen is not None
    witness = Witness.init(tmp_path / "witness", "witness.test/w1")
    witness.add_log(evidence.vkey)
    witness.add_checkpoint(seen.note, 0, evidence.log.consistency_proof(0, seen.size))
    # the fork: same origin and key, one old event rewritten, signed again
    data = [e.event.canonical_bytes() for e in evidence.log.entries()]
    data[2] = AuditEvent(type=EventType.EGRESS_ALLOWED, wall_time=T0.isoformat(),
                         mono_ns=2).canonical_bytes()  # fmt: skip
    tree = merkle.MemoryTree(merkle.leaf_hash(d) for d in data)
    signer = NoteSigner(seen.origin, evidence.key)
    fork = sign_checkpoint(seen.origin, tree.size, tree.root(), signer)
    with pytest.raises(WitnessMisbehaviourError, match="fork or a rewrite"):
        witness.add_checkpoint(fork.note, seen.size, [])
    with pytest.raises(WitnessMisbehaviourError, match="rollback"):
        older = sign_checkpoint(seen.origin, 3, tree.root(3), signer)
        witness.add_checkpoint(older.note, seen.size, [])
    sql(evidence.engine, "UPDATE audit_entries SET event_json = :j, type = 'egress.allowed' "
        "WHERE idx = 2", j=data[2].decode())  # fmt: skip
    sql(evidence.engine, "DELETE FROM audit_checkpoints")
    reset_nodes(evidence.engine, data)
    fresh = AuditLog(evidence.engine, key=evidence.key)
    fresh.checkpoint()  # the device signs its forked history
    assert verify_database(evidence.engine, evidence.pinned).ok  # a fork looks fine alone
    found = problems(evidence, VerifyPolicy(known=[seen.note]))
    assert any("forked" in p for p in found)


def test_witness_cosignatures_required(evidence: Evidence, tmp_path: Path) -> None:
    if evidence.engine.dialect.name != "sqlite":
        pytest.skip("the witness CLI opens the log by URL")
    url = evidence.engine.url.render_as_string(hide_password=False)
    folder = tmp_path / "witness"
    code, _ = cli("audit", "witness", "init", str(folder), "--name", "witness.test/w1")
    assert code == 0
    wkey = Witness(folder).verifier.vkey()
    assert cli("audit", "witness", "add-log", str(folder), evidence.vkey)[0] == 0
    args = ["audit", "verify", url, "--key", evidence.vkey, "--witness", wkey,
            "--require-cosignatures", "1"]  # fmt: skip
    line = one_line_exit_3(*cli(*args))
    assert "0 valid witness cosignature(s), 1 required" in line
    assert cli("audit", "witness", "cosign", str(folder), "--database", url)[0] == 0
    code, err = cli(*args)
    assert code == 0, err
    # more events, a new checkpoint: the witness cosigns again from where it stopped
    evidence.log.append(AuditEvent(type=EventType.EGRESS_DENIED, data={"host": "b.example"}))
    assert cli("audit", "witness", "cosign", str(folder), "--database", url)[0] == 0
    assert cli(*args)[0] == 0
    # a forged cosignature (the attacker's key under the witness's name) fails
    with evidence.engine.connect() as conn:
        row = conn.execute(text("SELECT id, note FROM audit_checkpoints ORDER BY id DESC "
                                "LIMIT 1")).one()  # fmt: skip
    name, kid = "witness.test/w1", load_cosigner(wkey).key_id
    bogus = kid + (1).to_bytes(8, "big") + bytes(64)
    note = add_cosignature(row.note, f"— {name} {base64.b64encode(bogus).decode()}\n")
    sql(evidence.engine, "UPDATE audit_checkpoints SET note = :n WHERE id = :i", n=note, i=row.id)
    line = one_line_exit_3(*cli(*args))
    assert "cosignature by witness.test/w1 does not verify" in line


# -- derived state --------------------------------------------------------------------------


def test_withdrawal_undone_by_editing_the_row(evidence: Evidence) -> None:
    """The issue's second attack: make `consent check` say allowed again."""
    store = ConsentStore(evidence.engine)
    now = datetime.now(UTC)
    assert not store.check("ds-1", Scope.RECORD_VIDEO, at=now).allowed
    spans = json.dumps([[int(T0.timestamp() * 1e6), None, None]], separators=(",", ":"))
    sql(evidence.engine, "UPDATE consent_records SET state = 'ConsentGiven', validity = :v "
        "WHERE id = :i", v=spans, i=evidence.withdrawn)  # fmt: skip
    assert store.check("ds-1", Scope.RECORD_VIDEO, at=now).allowed  # the forgery works...
    (first,) = problems(evidence)  # ...and verification names the row
    assert f"consent_records row {evidence.withdrawn}" in first
    assert "ConsentWithdrawn" in first or "differ" in first


def test_withdrawal_undone_in_the_body_too(evidence: Evidence) -> None:
    record = ConsentStore(evidence.engine).get(evidence.withdrawn)
    body = record.model_copy(update={"events": record.events[:1]}).model_dump_json()
    spans = json.dumps([[int(T0.timestamp() * 1e6), None, None]], separators=(",", ":"))
    sql(evidence.engine, "UPDATE consent_records SET state = 'ConsentGiven', validity = :v, "
        "body = :b WHERE id = :i", v=spans, b=body, i=evidence.withdrawn)  # fmt: skip
    (first,) = problems(evidence)
    assert f"row {evidence.withdrawn}: its body differs from the record logged at" in first


def test_consent_row_inserted_or_deleted(evidence: Evidence) -> None:
    sql(evidence.engine, "DELETE FROM consent_scopes WHERE record_id = :i", i=evidence.given)
    sql(evidence.engine, "DELETE FROM biometric_templates")
    sql(evidence.engine, "DELETE FROM stored_items")
    sql(evidence.engine, "DELETE FROM consent_records WHERE id = :i", i=evidence.given)
    found = problems(evidence)
    assert any(f"consent record {evidence.given} logged at entry" in p for p in found)
    assert any(f"template {evidence.template_kept} logged at entry" in p for p in found)


def test_deleted_template_brought_back_and_task_erased(evidence: Evidence) -> None:
    with evidence.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM biometric_templates")).mappings().one()
    values = dict(row) | {"id": evidence.template_deleted}
    columns = ", ".join(values)
    sql(evidence.engine, f"INSERT INTO biometric_templates ({columns}) VALUES "
        f"({', '.join(':' + c for c in values)})", **values)  # fmt: skip
    sql(evidence.engine, "DELETE FROM consent_deletions")
    found = problems(evidence)
    assert any(f"{evidence.template_deleted} is still stored although entry" in p for p in found)
    assert any("missing from consent_deletions" in p for p in found)


# -- bundles through the CLI ----------------------------------------------------------------


def _rewrite(bundle: Path, change: Callable[[list[str]], list[str]]) -> None:
    lines = bundle.read_text(encoding="utf-8").splitlines(keepends=True)
    bundle.write_text("".join(change(lines)), encoding="utf-8")


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        ("flip", "was altered"),
        ("strip", "is covered by a checkpoint signed by a trusted key"),
        ("drop-entry", "malformed entry|entry 5 is missing|truncated"),
        ("truncate", "truncated"),
    ],
)
def test_bundle_attacks_fail_with_one_line_and_exit_3(
    evidence: Evidence, attack: str, expected: str
) -> None:
    import re

    header = json.loads(evidence.bundle.read_text(encoding="utf-8").splitlines()[0])
    first_entry = 1 + header["checkpoints"]
    if attack == "flip":
        _rewrite(evidence.bundle, lambda ls: [
            line.replace("cloud.example", "cloud.exampl3") for line in ls])  # fmt: skip
    elif attack == "strip":

        def strip(ls: list[str]) -> list[str]:
            head = json.loads(ls[0]) | {"checkpoints": 0}
            return [json.dumps(head, separators=(",", ":")) + "\n", *ls[first_entry:]]

        _rewrite(evidence.bundle, strip)
    elif attack == "drop-entry":
        _rewrite(evidence.bundle, lambda ls: ls[: first_entry + 5] + ls[first_entry + 6 :])
    else:
        _rewrite(evidence.bundle, lambda ls: ls[:-2])
    code, err = cli("audit", "verify", str(evidence.bundle), "--key", evidence.vkey)
    if attack in ("drop-entry", "truncate"):  # the file cannot be read whole: input error
        assert code in (1, 3) and re.search(expected, err), err
        assert len(err.strip().splitlines()) == 1
        return
    line = one_line_exit_3(code, err)
    assert re.search(expected, line), line


def test_inspector_rejects_an_uncovered_export(evidence: Evidence) -> None:
    from bystander.inspect.importers.audit import AuditExportRejected, load_audit
    from bystander.inspect.profile import InspectedDevice
    from bystander.inspect.records import Evidence as Records

    lines = evidence.bundle.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    stripped = [json.dumps(header | {"checkpoints": 0}, separators=(",", ":")) + "\n",
                *lines[1 + header["checkpoints"]:]]  # fmt: skip
    evidence.bundle.write_text("".join(stripped), encoding="utf-8")
    with pytest.raises(AuditExportRejected, match="covered by a checkpoint") as info:
        device = InspectedDevice(device_id="glasses-0001", device_type="smart_glasses")
        load_audit(evidence.bundle, "audit.jsonl", Records(device), evidence.pinned)
    assert info.value.exit_code == 3


# -- receipts -------------------------------------------------------------------------------


def test_receipt_resigned_with_an_attackers_key_and_a_scope_added(
    evidence: Evidence, tmp_path: Path
) -> None:
    """The issue's third attack: the device's own key is present, the forger's is not."""
    record = ConsentStore(evidence.engine).get(evidence.given)
    genuine = tmp_path / "genuine.jws"
    genuine.write_text(issue_receipt(record), encoding="ascii")  # the device's own key
    code, err = cli("consent", "verify-receipt", str(genuine))
    assert code == 0, err
    widened = record.model_copy(
        update={"processing": record.processing.model_copy(
            update={"scopes": (*record.scopes, Scope.FACE_CLOUD_TRANSFER)})}
    )  # fmt: skip
    forged = tmp_path / "forged.jws"
    forged.write_text(issue_receipt(widened, Ed25519PrivateKey.generate()), encoding="ascii")
    line = one_line_exit_3(*cli("consent", "verify-receipt", str(forged)))
    assert "signed by untrusted key" in line
    token = genuine.read_text(encoding="ascii")
    header, _, signature = token.split(".")
    swapped = tmp_path / "swapped.jws"
    swapped.write_text(f"{header}.{forged.read_text().split('.')[1]}.{signature}")
    line = one_line_exit_3(*cli("consent", "verify-receipt", str(swapped)))
    assert "signature is not valid" in line


# -- provenance -----------------------------------------------------------------------------


def _app11(data: bytes) -> tuple[bytes, bytes]:
    """``(APP11 segments, the JPEG without them)``: where C2PA keeps its manifest."""
    assert data[:2] == b"\xff\xd8"
    pos, kept, manifest = 2, bytearray(b"\xff\xd8"), bytearray()
    while data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segment = data[pos : pos + 2 + length]
        (manifest if data[pos + 1] == 0xEB else kept).extend(segment)
        pos += 2 + length
    return bytes(manifest), bytes(kept) + data[pos:]


def test_manifest_swapped_onto_other_pixels(home: Path, tmp_path: Path) -> None:
    from PIL import Image

    from bystander.provenance import init_identity, sign_file
    from bystander.provenance.assertions import input_ingredient, opened_action
    from bystander.provenance.sign import ProvenanceManifest
    from bystander.provenance.signer import KeyFileSigner

    identity = init_identity(tmp_path / "id", common_name="glasses-0001")
    rng = np.random.default_rng(3)
    paths = []
    for name in ("a.jpg", "b.jpg"):
        path = tmp_path / name
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
        manifest = ProvenanceManifest(
            actions=[opened_action()], ingredients=[input_ingredient("input", "image/jpeg")]
        )
        sign_file(path, path, manifest, KeyFileSigner.for_identity(identity),
                  trust=[identity.root_path])  # fmt: skip
        paths.append(path)
    manifest_a, _ = _app11(paths[0].read_bytes())
    _, pixels_b = _app11(paths[1].read_bytes())
    swapped = tmp_path / "swapped.jpg"
    swapped.write_bytes(pixels_b[:2] + manifest_a + pixels_b[2:])
    code = runner.invoke(app, ["verify", str(swapped), "--trust", str(identity.root_path)])
    assert code.exit_code == 3, code.output
    assert "changed after it was signed" in code.output
    ok = runner.invoke(app, ["verify", str(paths[0]), "--trust", str(identity.root_path)])
    assert ok.exit_code == 4  # intact and trusted; only the protection assertion is missing


def test_log_rekeyed_by_an_attacker_fails_against_a_checkpoint_seen_before(
    evidence: Evidence,
) -> None:
    """Without a pinned key the verifier trusts the keys the log presents; a checkpoint the
    auditor saw before still exposes a log re-signed under another key."""
    seen = evidence.log.latest_checkpoint()
    assert seen is not None
    sql(evidence.engine, "DELETE FROM audit_checkpoints")
    attacker = AuditLog(evidence.engine, key=Ed25519PrivateKey.generate(), origin=seen.origin)
    attacker.checkpoint()
    assert verify_database(evidence.engine).ok  # self-consistent under the attacker's key
    report = verify_database(evidence.engine, None, VerifyPolicy(known=[seen.note]))
    assert "does not verify under this log's trusted keys" in report.headline()
