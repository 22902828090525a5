"""Ed25519 signing keys for checkpoints and receipts, kept as files outside the database."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander import config
from bystander.errors import BystanderError


class SigningKeyError(BystanderError):
    """A key file is missing, unreadable or not an Ed25519 key."""


def load_or_create_signing_key(name: str, folder: Path | None = None) -> Ed25519PrivateKey:
    """The private key ``<folder>/<name>.ed25519.pem``, created (mode 0600) on first use.

    Creation is atomic (written to a temporary file, then linked into place), so a crash
    never leaves a half-written key and two processes racing to create it agree on one key.
    """
    folder = folder or config.keys_dir()
    path = folder / f"{name}.ed25519.pem"
    if not path.exists():
        _create_key_file(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, OSError) as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key")
    return key


def _create_key_file(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        # os.link fails if another process created the key first: keep theirs.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)


def public_key_bytes(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SigningKeyError(f"not an Ed25519 public key: {exc}") from None


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short, stable identifier of a public key (first 8 bytes of its SHA-256, hex)."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def jwk_thumbprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 (OKP) public key."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(public_key_bytes(key))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"invalid base64url data: {exc}") from None
