"""The vault's keys: a keyring (the current key and those older templates are sealed with) in a
private key file outside the database, and the vault's errors.

``<keys_dir>/vault.keys`` holds base64 AES-256 keys by id and must be mode 0600; rotating adds a
new current key, and once every template is resealed the old keys are retired.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from bystander import config
from bystander.errors import BystanderError

KEY_FILE_NAME = "vault.keys"
KEYRING_FORMAT = "bystander-vault-keyring/1"
_KEY_BYTES = 32


class VaultError(BystanderError):
    """The template vault refused or could not do an operation."""


class VaultKeyError(VaultError):
    """The vault key file is missing, malformed, too open, or lacks a needed key."""


class VaultIntegrityError(VaultError):
    """A stored template failed authentication: tampered, swapped, or the wrong key."""


class TemplateExportRefused(VaultError):
    """Templates never leave the vault in clear."""


def _key_id(key: bytes) -> str:
    """A stable, non-secret identifier of a key (a domain-separated hash, 16 hex digits)."""
    return hashlib.sha256(b"bystander.vault.key-id\x00" + key).hexdigest()[:16]


class VaultKeyring:
    """AES-256 keys by id: the current key seals, any listed key opens.

    File-backed keyrings (``load``/``load_or_create``) save every change atomically with
    mode 0600; ``from_key`` keeps a caller-supplied key in memory only.
    """

    def __init__(self, keys: Mapping[str, bytes], current: str, path: Path | None = None) -> None:
        if current not in keys:
            raise VaultKeyError("the current vault key is not in the keyring")
        for key in keys.values():
            if len(key) != _KEY_BYTES:
                raise VaultKeyError(f"vault keys must be {_KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._current = current
        self.path = path

    @classmethod
    def from_key(cls, key: bytes) -> VaultKeyring:
        """An in-memory keyring holding one explicitly passed 32-byte key."""
        if len(key) != _KEY_BYTES:
            raise VaultKeyError(f"a vault key must be {_KEY_BYTES} bytes, got {len(key)}")
        return cls({_key_id(key): bytes(key)}, _key_id(key))

    @classmethod
    def generate(cls, path: Path | None = None) -> VaultKeyring:
        """A fresh random key; written to ``path`` (which must not exist) when given."""
        key = secrets.token_bytes(_KEY_BYTES)
        ring = cls({_key_id(key): key}, _key_id(key), path)
        if path is not None:
            ring.save(create=True)
        return ring

    @classmethod
    def default_path(cls) -> Path:
        return config.keys_dir() / KEY_FILE_NAME

    @classmethod
    def load(cls, path: Path) -> VaultKeyring:
        """Read a key file; any problem is one clear line (``VaultKeyError``)."""
        _check_private(path)
        try:
            data = json.loads(path.read_bytes())
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
            current = str(data["current"])
            fmt = data.get("format")
        except OSError as exc:
            raise VaultKeyError(f"cannot read vault key file {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise VaultKeyError(f"vault key file {path} is malformed") from None
        if fmt != KEYRING_FORMAT:
            raise VaultKeyError(f"vault key file {path} is not a {KEYRING_FORMAT} file")
        for key_id, key in keys.items():
            if len(key) != _KEY_BYTES or _key_id(key) != key_id:
                raise VaultKeyError(f"vault key file {path} is malformed (key {key_id})")
        try:
            return cls(keys, current, path)
        except VaultKeyError as exc:
            raise VaultKeyError(f"vault key file {path}: {exc}") from None

    @classmethod
    def load_or_create(cls, path: Path | None = None) -> VaultKeyring:
        """The key file at ``path`` (default ``<keys_dir>/vault.keys``), created on first use."""
        path = path or cls.default_path()
        return cls.load(path) if path.exists() else cls.generate(path)

    @property
    def current_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def key(self, key_id: str) -> bytes:
        """The key with ``key_id`` (internal to the vault; never log or store it)."""
        try:
            return self._keys[key_id]
        except KeyError:
            where = f" in {self.path}" if self.path else ""
            raise VaultKeyError(f"vault key {key_id} is not available{where}") from None

    def add_new_current(self) -> str:
        """Generate a key, make it current (keeping the others), save; return its id."""
        key = secrets.token_bytes(_KEY_BYTES)
        self._keys[_key_id(key)] = key
        self._current = _key_id(key)
        self.save()
        return self._current

    def retire_all_but_current(self) -> tuple[str, ...]:
        """Drop every key except the current one, save; return the dropped ids."""
        old = tuple(k for k in self.key_ids if k != self._current)
        for key_id in old:
            del self._keys[key_id]
        self.save()
        return old

    def save(self, create: bool = False) -> None:
        """Write the keyring atomically with mode 0600 (no-op for in-memory keyrings)."""
        if self.path is None:
            return
        data = {
            "format": KEYRING_FORMAT,
            "current": self._current,
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self._keys.items()},
        }
        _write_private(self.path, json.dumps(data, indent=2).encode(), create=create)


def _check_private(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise VaultKeyError(f"cannot read vault key file {path}: {exc.strerror}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultKeyError(
            f"vault key file {path} is accessible by other users (mode {mode & 0o777:o}); "
            f"run: chmod 600 {path}"
        )


def _write_private(path: Path, payload: bytes, create: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if create and path.exists():
        raise VaultKeyError(f"vault key file {path} exists already")
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
