"""Which receipt signers are trusted: the device's own key and keys an auditor imported.

A receipt proves who gave consent only if its signer is known. The embedded ``jwk`` only
shows the receipt is intact: anyone can make a key, change a record and re-sign it. So a
receipt is *valid* only when its signer is

- the device's own receipt key (``$BYSTANDER_HOME/keys/consent.ed25519.pem``, if present);
- a key imported into this registry (``$BYSTANDER_HOME/keys/trusted-receipt-keys.json``),
  e.g. by an auditor who received a device's public JWK (``bystander consent key``);
- or a key pinned for one verification (``--public-key`` / ``--kid``).

Keys are named by their RFC 7638 JWK thumbprint (SHA-256, base64url).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander import config
from bystander.errors import InputError
from bystander.evidence import keys
from bystander.evidence.keys import SigningKeyError

#: The key name receipts are signed with by default (under ``config.keys_dir()``).
DEVICE_KEY_NAME = "consent"
_REGISTRY_FILE = "trusted-receipt-keys.json"


@dataclass(frozen=True)
class TrustedKey:
    """A trusted receipt signer: its thumbprint, a label and the public key."""

    kid: str
    name: str
    key: Ed25519PublicKey


def public_jwk(key: Ed25519PrivateKey | Ed25519PublicKey) -> dict[str, str]:
    """The public half of ``key`` as an OKP JWK (RFC 8037) with its RFC 7638 ``kid``."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": keys.b64url(keys.public_key_bytes(key)),
        "kid": keys.jwk_thumbprint(key),
    }


def key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """The Ed25519 public key of an OKP JWK; ``InputError`` if it is not one."""
    if (jwk.get("kty"), jwk.get("crv")) != ("OKP", "Ed25519") or not isinstance(jwk.get("x"), str):
        raise InputError("not an Ed25519 public JWK (kty OKP, crv Ed25519, x)")
    try:
        return keys.public_key_from_bytes(keys.b64url_decode(str(jwk["x"])))
    except SigningKeyError as exc:
        raise InputError(f"not an Ed25519 public JWK: {exc}") from None


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a JWK (JSON) or a PEM public or private key file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data.lstrip().startswith(b"{"):
        try:
            return key_from_jwk(json.loads(data))
        except (ValueError, AttributeError):
            raise InputError(f"{path} is not a JWK") from None
    key: Any
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise InputError(f"{path} is not a JWK or a PEM Ed25519 key") from None
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path} is not an Ed25519 key")
    return key


def device_key() -> Ed25519PublicKey | None:
    """The device's own receipt key, if it exists (never creates it)."""
    if not (config.keys_dir() / f"{DEVICE_KEY_NAME}.ed25519.pem").exists():
        return None
    return keys.load_or_create_signing_key(DEVICE_KEY_NAME).public_key()


class KeyRegistry:
    """The receipt keys trusted on this machine (see the module docs)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config.keys_dir() / _REGISTRY_FILE

    def imported(self) -> dict[str, TrustedKey]:
        """Imported keys by thumbprint."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the receipt key registry {self.path}: {exc}") from None
        found: dict[str, TrustedKey] = {}
        for kid, item in dict(raw.get("keys", {})).items():
            key = key_from_jwk(item.get("jwk", {}))
            if keys.jwk_thumbprint(key) != kid:
                raise InputError(f"{self.path}: key {kid} does not match its thumbprint")
            found[kid] = TrustedKey(kid, str(item.get("name") or kid), key)
        return found

    def trusted(self) -> dict[str, TrustedKey]:
        """The device's own key (if any) and every imported key, by thumbprint."""
        found = self.imported()
        own = device_key()
        if own is not None:
            kid = keys.jwk_thumbprint(own)
            found[kid] = TrustedKey(kid, "this device's receipt key", own)
        return found

    def add(self, key: Ed25519PublicKey, name: str) -> TrustedKey:
        """Trust ``key`` under ``name`` (idempotent); returns the entry."""
        if not name.strip() or len(name) > 200:
            raise InputError("a trusted key needs a name of 1-200 characters")
        entries = self._raw()
        kid = keys.jwk_thumbprint(key)
        jwk = public_jwk(key)
        entries[kid] = {"name": name, "jwk": jwk, "added": datetime.now(UTC).isoformat()}
        self._write(entries)
        return TrustedKey(kid, name, key)

    def remove(self, kid: str) -> bool:
        """Stop trusting ``kid``; False if it was not imported."""
        entries = self._raw()
        if entries.pop(kid, None) is None:
            return False
        self._write(entries)
        return True

    def _raw(self) -> dict[str, Any]:
        self.imported()  # refuse to rewrite a registry that does not read back
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")).get("keys", {}))
        except FileNotFoundError:
            return {}

    def _write(self, entries: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"keys": entries}, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
