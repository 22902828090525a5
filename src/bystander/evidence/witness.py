"""A witness for audit logs: C2SP ``tlog-witness`` with ``tlog-cosignature`` v1 (Ed25519).

A witness is a second party with its own Ed25519 key. For each log it knows (by origin and
the log's verifier key) it remembers the largest checkpoint it cosigned. It cosigns a new
checkpoint only when the log's signature verifies and an RFC 9162 consistency proof shows
the new tree extends the one it cosigned before, so a device cannot show one history to an
auditor and another to someone else (a fork), or go back to an older one (a rollback),
without the witnesses noticing. Verifiers require N cosignatures
(``bystander audit verify --witness KEY --require-cosignatures N``).

Format (c2sp.org/tlog-cosignature): a cosignature is one more signature line on the
checkpoint note, ``— <witness name> base64(key id || u64 timestamp || signature)``, with
key id ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` and the signature over::

    cosignature/v1
    time <timestamp>
    <the checkpoint body: origin, size, root, ...>

Verifier keys are ``<name>+<key id hex>+<base64(0x04 || public key)>``.

The witness's state is a folder: ``witness.ed25519.pem`` (mode 0600) and ``witness.json``
(its name and, per origin, the log's key and the last cosigned size and root), replaced
atomically after every cosignature.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander.errors import BystanderError, InputError
from bystander.evidence import merkle
from bystander.evidence.checkpoint import (
    SIGNATURE_PREFIX,
    Checkpoint,
    CheckpointError,
    KeyFormatError,
    b64decode_strict,
    b64encode,
    check_key_name,
    open_checkpoint,
    parse_vkey,
    split_note,
)
from bystander.evidence.keys import load_or_create_signing_key, public_key_bytes

COSIGNATURE_TYPE = b"\x04"
COSIGNATURE_HEADER = "cosignature/v1"
_STATE_FILE = "witness.json"
_KEY_NAME = "witness"
_MAX_TIMESTAMP = 2**63 - 1


class WitnessError(BystanderError):
    """The witness refuses a checkpoint (unknown log, bad signature, bad proof, bad request)."""


class WitnessConflict(WitnessError):
    """The request's old size is not the size the witness last cosigned for this log."""

    def __init__(self, message: str, known_size: int) -> None:
        super().__init__(message)
        self.known_size = known_size


class WitnessMisbehaviourError(WitnessError):
    """The log presented a checkpoint inconsistent with one the witness cosigned (a fork)."""

    exit_code = 3


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 cosigner (signature type 0x04)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + COSIGNATURE_TYPE + public_key).digest()[:4]


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a cosigner signs: header line, time line, then the checkpoint body."""
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who made it and when (POSIX seconds)."""

    name: str
    timestamp: int


@dataclass(frozen=True)
class CosignerVerifier:
    """A trusted witness key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    def vkey(self) -> str:
        blob = b64encode(COSIGNATURE_TYPE + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def verify(self, note: str) -> Cosignature | None:
        """This witness's cosignature on ``note`` if present and valid; None if absent.

        Raises ``CheckpointError`` when a line with this witness's name and key id does not
        verify (a forged or altered cosignature).
        """
        text, signatures = split_note(note)
        for name, kid, blob in signatures:
            if name != self.name or kid != self.key_id:
                continue
            if len(blob) != 8 + 64:
                raise CheckpointError(f"cosignature by {name} has the wrong length")
            timestamp = int.from_bytes(blob[:8], "big")
            if timestamp > _MAX_TIMESTAMP:
                raise CheckpointError(f"cosignature by {name} has an invalid timestamp")
            try:
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                    blob[8:], cosigned_message(text, timestamp)
                )
            except (InvalidSignature, ValueError):
                raise CheckpointError(f"cosignature by {name} does not verify") from None
            return Cosignature(name, timestamp)
        return None


def parse_cosigner_vkey(text: str) -> CosignerVerifier:
    """Read a witness verifier key ``name+hex8+base64(0x04||key)``."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError(f"not a witness key (name+keyid+key): {text[:80]!r}")
    name, kid_hex, blob_text = parts
    try:
        check_key_name(name)
        blob = b64decode_strict(blob_text, "witness key")
        kid = bytes.fromhex(kid_hex)
    except (CheckpointError, ValueError) as exc:
        raise KeyFormatError(f"bad witness key {text[:80]!r}: {exc}") from None
    if len(blob) != 33 or blob[:1] != COSIGNATURE_TYPE:
        raise KeyFormatError("witness key is not an Ed25519 cosignature/v1 key (type 0x04)")
    verifier = CosignerVerifier(name, blob[1:])
    if verifier.key_id != kid:
        raise KeyFormatError(f"witness key id does not match its key: {text[:80]!r}")
    return verifier


def load_cosigner(spec: str) -> CosignerVerifier:
    """A witness key from a key string or a file holding one."""
    path = Path(spec)
    if "+" in spec and not path.exists():
        return parse_cosigner_vkey(spec)
    try:
        return parse_cosigner_vkey(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeyFormatError(f"cannot read witness key {spec}: {exc.strerror or exc}") from None


def add_cosignature(note: str, line: str) -> str:
    """``note`` with the signature ``line`` added (replacing one by the same key id)."""
    text, _ = split_note(note)
    name, kid = _line_key(line)
    kept = [
        existing
        for existing in note[len(text) + 1 :].splitlines()
        if _line_key(existing) != (name, kid)
    ]
    return text + "\n" + "".join(f"{existing}\n" for existing in [*kept, line.rstrip("\n")])


def _line_key(line: str) -> tuple[str, bytes]:
    body = line.rstrip("\n").removeprefix(SIGNATURE_PREFIX)
    name, _, blob = body.partition(" ")
    return name, b64decode_strict(blob, "signature")[:4]


# -- the witness ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogState:
    """What a witness remembers about one log."""

    vkey: str
    size: int
    root_hash: bytes


class Witness:
    """A witness kept in ``folder`` (see the module docs).

    >>> w = Witness.init(folder, "witness.example/w1")          # doctest: +SKIP
    >>> w.add_log(log.verifier().vkey())                         # doctest: +SKIP
    >>> line = w.add_checkpoint(note, old_size=0, proof=[])      # doctest: +SKIP
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        path = self.folder / _STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            self.name = check_key_name(str(state["name"]))
            self.logs = {
                str(origin): LogState(
                    str(item["vkey"]), int(item["size"]), bytes.fromhex(item["root"])
                )
                for origin, item in dict(state["logs"]).items()
            }
        except FileNotFoundError:
            raise InputError(
                f"no witness in {self.folder} (run `bystander audit witness init`)"
            ) from None
        except (OSError, ValueError, KeyError, TypeError, CheckpointError) as exc:
            raise InputError(f"cannot read witness state {path}: {exc}") from None
        self._key: Ed25519PrivateKey = load_or_create_signing_key(_KEY_NAME, self.folder)

    @classmethod
    def init(cls, folder: Path, name: str) -> Witness:
        """Create a witness (key and empty state) in ``folder``; refuses an existing one."""
        check_key_name(name)
        folder = Path(folder)
        if (folder / _STATE_FILE).exists():
            raise InputError(f"{folder} already holds a witness")
        folder.mkdir(parents=True, exist_ok=True)
        load_or_create_signing_key(_KEY_NAME, folder)
        _write_state(folder, name, {})
        return cls(folder)

    @property
    def verifier(self) -> CosignerVerifier:
        return CosignerVerifier(self.name, public_key_bytes(self._key))

    def add_log(self, log_vkey: str) -> str:
        """Start witnessing the log whose checkpoints ``log_vkey`` signs; returns its origin."""
        verifier = parse_vkey(log_vkey)
        origin = verifier.name
        assert origin is not None
        known = self.logs.get(origin)
        if known is not None and known.vkey != verifier.vkey():
            raise WitnessError(f"the witness already knows log {origin} with another key")
        if known is None:
            self.logs[origin] = LogState(verifier.vkey(), 0, merkle.EMPTY_ROOT)
            self._save()
        return origin

    def add_checkpoint(
        self, note: str, old_size: int, proof: list[bytes], *, now: int | None = None
    ) -> str:
        """Cosign ``note`` if it extends the checkpoint cosigned before; the signature line.

        ``old_size`` must be the size this witness last cosigned for the log (else
        ``WitnessConflict`` with that size); ``proof`` the consistency proof from it.
        """
        checkpoint = self._open(note)
        state = self.logs[checkpoint.origin]
        if old_size != state.size:
            raise WitnessConflict(
                f"the witness last cosigned {checkpoint.origin} at size {state.size}, "
                f"not {old_size}",
                state.size,
            )
        if checkpoint.size < state.size:
            raise WitnessMisbehaviourError(
                f"{checkpoint.origin} presents size {checkpoint.size}, older than the size "
                f"{state.size} the witness cosigned: a rollback"
            )
        if not merkle.verify_consistency(
            state.size, checkpoint.size, proof, state.root_hash, checkpoint.root_hash
        ):
            raise WitnessMisbehaviourError(
                f"{checkpoint.origin} at size {checkpoint.size} is not consistent with the "
                f"tree the witness cosigned at size {state.size}: a fork or a rewrite"
            )
        timestamp = int(time.time()) if now is None else now
        text = checkpoint.text
        signature = self._key.sign(cosigned_message(text, timestamp))
        blob = self.verifier.key_id + timestamp.to_bytes(8, "big") + signature
        self.logs[checkpoint.origin] = LogState(state.vkey, checkpoint.size, checkpoint.root_hash)
        self._save()
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(blob)}\n"

    def handle_request(self, body: str, *, now: int | None = None) -> str:
        """A tlog-witness ``add-checkpoint`` request body -> the cosignature line.

        The body is ``old <size>``, one base64 proof hash per line, an empty line, then the
        checkpoint note.
        """
        head, sep, note = body.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines or not lines[0].startswith("old "):
            raise WitnessError("malformed add-checkpoint request (expected 'old N', proof, note)")
        size_text = lines[0][4:]
        if not size_text.isdigit() or size_text != str(int(size_text)):
            raise WitnessError(f"malformed old size {size_text[:20]!r}")
        if len(lines) - 1 > 63:
            raise WitnessError("consistency proof is too long")
        try:
            proof = [b64decode_strict(line, "proof hash") for line in lines[1:]]
        except CheckpointError as exc:
            raise WitnessError(f"malformed proof: {exc}") from None
        if any(len(p) != merkle.HASH_SIZE for p in proof):
            raise WitnessError("proof hashes must be 32 bytes")
        return self.add_checkpoint(note, int(size_text), proof, now=now)

    def _open(self, note: str) -> Checkpoint:
        try:
            origin = split_note(note)[0].split("\n", 1)[0]
        except CheckpointError as exc:
            raise WitnessError(f"malformed checkpoint: {exc}") from None
        state = self.logs.get(origin)
        if state is None:
            raise WitnessError(f"the witness does not know log {origin!r}")
        try:
            return open_checkpoint(note, [parse_vkey(state.vkey)])
        except CheckpointError as exc:
            raise WitnessError(f"checkpoint for {origin} rejected: {exc}") from None

    def _save(self) -> None:
        _write_state(self.folder, self.name, self.logs)


def _write_state(folder: Path, name: str, logs: dict[str, LogState]) -> None:
    state: dict[str, Any] = {
        "name": name,
        "logs": {
            origin: {"vkey": s.vkey, "size": s.size, "root": s.root_hash.hex()}
            for origin, s in sorted(logs.items())
        },
    }
    fd, temp = tempfile.mkstemp(prefix=f".{_STATE_FILE}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, folder / _STATE_FILE)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
