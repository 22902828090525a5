"""Signed checkpoints: C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note`` envelopes (Ed25519).

A checkpoint looks like this (the key name is the origin)::

    bystander.local/audit/3f2a9c0d11e4b7a2
    1000
    4Kx0r9...base64 root...=

    — bystander.local/audit/3f2a9c0d11e4b7a2 q8Zk...base64(key id || signature)...

The key id is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; a verifier key is written
``<name>+<key id hex>+<base64(0x01 || public key)>`` as in Go's ``golang.org/x/mod/sumdb/note``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander.errors import BystanderError, InputError
from bystander.evidence.keys import public_key_bytes
from bystander.evidence.merkle import HASH_SIZE

ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 64
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_NAME_FORBIDDEN = re.compile(r"[\s+]")


class CheckpointError(BystanderError):
    """A checkpoint is malformed or its signature does not verify."""


class KeyFormatError(InputError):
    """A verifier key cannot be read."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 that must be canonical (so no two spellings decode to the same bytes)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise CheckpointError(f"{what} is not valid base64") from None
    if b64encode(data) != text:
        raise CheckpointError(f"{what} is not canonical base64")
    return data


def check_key_name(name: str) -> str:
    if not name or _NAME_FORBIDDEN.search(name):
        raise CheckpointError(f"invalid key name {name!r} (empty, or has spaces or '+')")
    return name


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_TYPE + public_key).digest()[:4]


@dataclass(frozen=True)
class NoteSigner:
    """Signs note text as ``name`` with an Ed25519 key."""

    name: str
    key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(public_key_bytes(self.key), self.name)

    def signature_line(self, text: str) -> str:
        sig = self.key.sign(text.encode("utf-8"))
        blob = key_id(self.name, public_key_bytes(self.key)) + sig
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(blob)}\n"


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 key; with ``name`` None it trusts the key under any key name."""

    public_key: bytes
    name: str | None = None

    def matches(self, name: str, kid: bytes) -> bool:
        if self.name is not None and name != self.name:
            return False
        return key_id(name, self.public_key) == kid

    def verify(self, text: str, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature, text.encode("utf-8")
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def vkey(self) -> str:
        """``<name>+<key id hex>+<base64(0x01 || public key)>`` (needs a name)."""
        if self.name is None:
            raise CheckpointError("a verifier key string needs a key name")
        kid = key_id(self.name, self.public_key).hex()
        return f"{self.name}+{kid}+{b64encode(ED25519_TYPE + self.public_key)}"


def parse_vkey(text: str) -> NoteVerifier:
    """Read a verifier key string ``name+hex8+base64(0x01||key)``."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFormatError(f"not a verifier key (name+keyid+key): {text[:80]!r}")
    name, kid_hex, blob_text = parts
    try:
        check_key_name(name)
        blob = b64decode_strict(blob_text, "verifier key")
        kid = bytes.fromhex(kid_hex)
    except (CheckpointError, ValueError) as exc:
        raise KeyFormatError(f"bad verifier key {text[:80]!r}: {exc}") from None
    if len(blob) != 33 or blob[:1] != ED25519_TYPE:
        raise KeyFormatError("verifier key is not an Ed25519 key")
    verifier = NoteVerifier(blob[1:], name)
    if len(kid) != 4 or key_id(name, verifier.public_key) != kid:
        raise KeyFormatError(f"verifier key id does not match its key: {text[:80]!r}")
    return verifier


def load_verifier(spec: str) -> NoteVerifier:
    """A verifier from a key string, or from a file holding one or holding a PEM key."""
    path = Path(spec)
    if "+" in spec and not path.exists():
        return parse_vkey(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFormatError(f"cannot read key {spec}: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in data:
        return parse_vkey(data.decode("utf-8", "replace"))
    return NoteVerifier(public_key_bytes(_pem_ed25519(data, spec)))


def _pem_ed25519(data: bytes, spec: str) -> Ed25519PublicKey:
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            if isinstance(private, Ed25519PrivateKey):
                return private.public_key()
        else:
            public = serialization.load_pem_public_key(data)
            if isinstance(public, Ed25519PublicKey):
                return public
    except (ValueError, TypeError) as exc:
        raise KeyFormatError(f"cannot read key {spec}: {exc}") from None
    raise KeyFormatError(f"{spec} is not an Ed25519 key")


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: ``origin``, tree ``size``, ``root_hash`` and the full signed ``note``."""

    origin: str
    size: int
    root_hash: bytes
    note: str

    @property
    def text(self) -> str:
        """The signed text (the note without its signature lines)."""
        return split_note(self.note)[0]


def checkpoint_text(origin: str, size: int, root_hash: bytes) -> str:
    """The checkpoint body: origin, size and base64 root, each on its own line."""
    if not origin or "\n" in origin or _CONTROL.search(origin):
        raise CheckpointError(f"invalid origin {origin!r}")
    if size < 0 or len(root_hash) != HASH_SIZE:
        raise CheckpointError("a checkpoint needs a size >= 0 and a 32-byte root")
    return f"{origin}\n{size}\n{b64encode(root_hash)}\n"


def sign_checkpoint(origin: str, size: int, root_hash: bytes, signer: NoteSigner) -> Checkpoint:
    text = checkpoint_text(origin, size, root_hash)
    return Checkpoint(origin, size, root_hash, text + "\n" + signer.signature_line(text))


def split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """``(text, [(key name, key id, signature), ...])`` of a signed note; checks the syntax."""
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise CheckpointError("note is too large")
    if _CONTROL.search(note):
        raise CheckpointError("note contains control characters")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise CheckpointError("note has no signature block")
    text, block = note[: cut + 1], note[cut + 2 :]
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("note has too many signatures")
    return text, [_signature(line) for line in lines]


def _signature(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise CheckpointError("malformed signature line")
    name, sep, blob_text = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep:
        raise CheckpointError("malformed signature line")
    check_key_name(name)
    blob = b64decode_strict(blob_text, "signature")
    if len(blob) < 5:
        raise CheckpointError("signature is too short")
    return name, blob[:4], blob[4:]


def verify_note(note: str, verifiers: list[NoteVerifier]) -> str:
    """The note's text, if a trusted key signed it and no trusted key's signature fails."""
    text, signatures = split_note(note)
    verified = False
    for name, kid, sig in signatures:
        for verifier in verifiers:
            if verifier.matches(name, kid):
                if not verifier.verify(text, sig):
                    raise CheckpointError(f"signature by {name} does not verify")
                verified = True
    if not verified:
        raise CheckpointError("no signature by a trusted key")
    return text


def parse_checkpoint_text(text: str) -> tuple[str, int, bytes]:
    """``(origin, size, root)`` from a checkpoint body (extension lines are allowed)."""
    lines = text[:-1].split("\n") if text.endswith("\n") else []
    if len(lines) < 3 or any(not line for line in lines):
        raise CheckpointError("checkpoint body needs origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not size_text.isascii() or not size_text.isdigit() or size_text != str(int(size_text)):
        raise CheckpointError(f"bad tree size {size_text[:30]!r}")
    root = b64decode_strict(root_text, "root hash")
    if len(root) != HASH_SIZE:
        raise CheckpointError("root hash is not 32 bytes")
    return origin, int(size_text), root


def open_checkpoint(note: str, verifiers: list[NoteVerifier]) -> Checkpoint:
    """Verify ``note`` with the trusted keys and parse its checkpoint body."""
    origin, size, root = parse_checkpoint_text(verify_note(note, verifiers))
    return Checkpoint(origin, size, root, note)


def read_checkpoint(note: str) -> Checkpoint:
    """Parse a checkpoint without checking signatures (for display only)."""
    origin, size, root = parse_checkpoint_text(split_note(note)[0])
    return Checkpoint(origin, size, root, note)
