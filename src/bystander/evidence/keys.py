"""Ed25519 signing keys for checkpoints and receipts, kept as files outside the database."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander import config
from bystander.errors import BystanderError


class SigningKeyError(BystanderError):
    """A key file is missing, unreadable or not an Ed25519 key."""


def load_or_create_signing_key(name: str, folder: Path | None = None) -> Ed25519PrivateKey:
    """The private key ``<folder>/<name>.ed25519.pem``, created (mode 0600) on first use."""
    folder = folder or config.keys_dir()
    path = folder / f"{name}.ed25519.pem"
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, OSError) as exc:
            raise SigningKeyError(f"cannot read signing key {path}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


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


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"invalid base64url data: {exc}") from None
