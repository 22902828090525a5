"""The witness: C2SP tlog-cosignature/v1 lines checked independently, tlog-witness requests,
conflicts, persistence, and cosigned checkpoints that still open as plain signed notes."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from bystander.errors import InputError
from bystander.evidence.audit import AuditLog
from bystander.evidence.checkpoint import open_checkpoint, split_note
from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.witness import (
    Witness,
    WitnessConflict,
    WitnessError,
    add_cosignature,
    parse_cosigner_vkey,
)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z


def grow(log: AuditLog, n: int) -> None:
    log.append_many(AuditEvent(type=EventType.EGRESS_DENIED, data={"n": i}) for i in range(n))


@pytest.fixture
def setup(engine: Engine, tmp_path: Path) -> tuple[AuditLog, Witness]:
    log = AuditLog(engine, key=Ed25519PrivateKey.generate())
    witness = Witness.init(tmp_path / "w", "witness.example/w1")
    witness.add_log(log.verifier().vkey())
    return log, witness


def test_cosignature_line_follows_c2sp_byte_for_byte(setup: tuple[AuditLog, Witness]) -> None:
    log, witness = setup
    grow(log, 5)
    cp = log.checkpoint()
    line = witness.add_checkpoint(cp.note, 0, log.consistency_proof(0, cp.size), now=NOW)
    name, blob = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(blob)
    public = witness.verifier.public_key
    # key id: SHA-256(name || 0x0A || 0x04 || key)[:4]; then a big-endian u64 timestamp
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == NOW
    message = f"cosignature/v1\ntime {NOW}\n{cp.text}".encode()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)  # raises if wrong
    cosigned = add_cosignature(cp.note, line)
    # still a valid signed note for the log's key (unknown signature lines are ignored)
    assert open_checkpoint(cosigned, [log.verifier()]).size == 5
    assert len(split_note(cosigned)[1]) == 2
    assert add_cosignature(cosigned, line) == cosigned  # the same witness once
    assert parse_cosigner_vkey(witness.verifier.vkey()) == witness.verifier
    assert witness.verifier.verify(cosigned) is not None


def test_request_body_conflict_and_persistence(setup: tuple[AuditLog, Witness]) -> None:
    log, witness = setup
    grow(log, 3)
    first = log.checkpoint()
    body = "old 0\n\n" + first.note
    assert witness.handle_request(body, now=NOW).startswith("\u2014 witness.example/w1 ")
    grow(log, 4)
    second = log.checkpoint()
    with pytest.raises(WitnessConflict) as info:
        witness.add_checkpoint(second.note, 0, [])
    assert info.value.known_size == 3
    again = Witness(witness.folder)  # the state survived on disk
    assert again.logs[first.origin].size == 3
    proof = "\n".join(base64.b64encode(p).decode() for p in log.consistency_proof(3, 7))
    again.handle_request(f"old 3\n{proof}\n\n{second.note}", now=NOW + 1)
    assert Witness(witness.folder).logs[first.origin].size == 7
    for bad in ("nonsense", "old x\n\n" + second.note, "old 7\n!!\n\n" + second.note):
        with pytest.raises(WitnessError):
            again.handle_request(bad)


def test_unknown_logs_and_foreign_signatures_are_refused(
    setup: tuple[AuditLog, Witness], engine: Engine
) -> None:
    log, witness = setup
    grow(log, 2)
    stranger = AuditLog(engine, key=Ed25519PrivateKey.generate(), origin="other.example/log")
    with pytest.raises(WitnessError, match="does not know log"):
        witness.add_checkpoint(stranger.checkpoint().note, 0, [])
    with pytest.raises(InputError, match="already holds a witness"):
        Witness.init(witness.folder, "another")
