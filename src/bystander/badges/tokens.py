"""Badge tokens: short-lived, revocable links from a printed marker to one consent record.

A **QR badge** carries ``bystander-badge:1:<token>.<expiry>.<signature>``: the token id, the
expiry (Unix seconds) and an Ed25519 signature over ``(token id, consent record id, expiry)``
made with the device's ``badge`` key. The record id is *not* printed (a badge holds no
personal data and no link a stranger could follow); the verifier looks it up in the registry
and the signature proves the two belong together, so an altered or re-signed badge fails.

An **ArUco badge** carries only a small integer (``DICT_4X4_250``: 0-249), trivially guessed;
the registry maps it to one live token at a time, so it is only as good as its short expiry.

The registry is a JSON file (``$BYSTANDER_HOME/badges.json``), written atomically.

>>> registry = BadgeRegistry(tmp / "badges.json")                         # doctest: +SKIP
>>> token = registry.issue(record.id, key, expires=soon)                   # doctest: +SKIP
>>> verify_payload(token.payload(key), registry, key.public_key()) == token  # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bystander import config
from bystander.consent.models import Scope, iso, utc
from bystander.errors import InputError
from bystander.evidence import keys
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.fsutil import write_text_atomic

PREFIX = "bystander-badge:1:"
#: The key name under ``config.keys_dir()`` badges are signed with.
KEY_NAME = "badge"
#: ArUco ids come from this dictionary (250 ids of 4x4 bits: robust at small sizes).
ARUCO_DICTIONARY = "DICT_4X4_250"
ARUCO_IDS = 250
#: Default badge lifetime: short, because a copied badge works until it expires.
DEFAULT_LIFETIME = timedelta(hours=12)

BadgeKind = Literal["qr", "aruco"]


class BadgeError(InputError):
    """A badge payload is malformed, altered, signed by another key, or unknown."""


@dataclass(frozen=True, slots=True)
class BadgeToken:
    """One issued badge: which consent record it stands for, until when, for what scope."""

    token_id: str
    record_id: str
    scope: str
    kind: BadgeKind
    issued_at: datetime
    expires_at: datetime
    marker_id: int | None = None
    revoked_at: datetime | None = None

    def signing_input(self) -> bytes:
        """What the signature covers: token id, consent record id and expiry."""
        return f"{PREFIX}{self.token_id}|{self.record_id}|{_unix(self.expires_at)}".encode()

    def payload(self, key: Ed25519PrivateKey) -> str:
        """The QR text for this token, signed with ``key``."""
        signature = keys.b64url(key.sign(self.signing_input()))
        return f"{PREFIX}{self.token_id}.{_unix(self.expires_at)}.{signature}"

    def live(self, at: datetime) -> bool:
        """Not revoked and not expired at ``at`` (consent itself is checked elsewhere)."""
        when = utc(at)
        revoked = self.revoked_at is not None and self.revoked_at <= when
        return not revoked and when < self.expires_at

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("issued_at", "expires_at", "revoked_at"):
            data[name] = iso(data[name]) if data[name] is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BadgeToken:
        revoked = data.get("revoked_at")
        marker = data.get("marker_id")
        return cls(
            token_id=str(data["token_id"]),
            record_id=str(data["record_id"]),
            scope=str(Scope(data["scope"])),
            kind="aruco" if data["kind"] == "aruco" else "qr",
            issued_at=_parse(data["issued_at"]),
            expires_at=_parse(data["expires_at"]),
            marker_id=int(marker) if marker is not None else None,
            revoked_at=_parse(revoked) if revoked else None,
        )


def _unix(value: datetime) -> int:
    return int(utc(value).timestamp())


def _parse(text: str) -> datetime:
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def default_registry_path() -> Path:
    return config.home() / "badges.json"


def signing_key() -> Ed25519PrivateKey:
    """The device's badge key (created on first use under ``config.keys_dir()``)."""
    return keys.load_or_create_signing_key(KEY_NAME)


class BadgeRegistry:
    """Issued badge tokens and their revocations, in one JSON file."""

    def __init__(self, path: Path | None = None, sink: EventSink | None = None) -> None:
        self.path = path or default_registry_path()
        self.sink = sink  # issue and revoke are audit events when set
        self._cache: tuple[tuple[int, int, int], list[BadgeToken]] | None = None

    def tokens(self) -> list[BadgeToken]:
        """All tokens ever issued, oldest first (revoked and expired ones included).

        Re-read whenever the file changes, so a revocation by another process applies to the
        next frame.
        """
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BadgeError(f"badge registry {self.path} is unreadable: {exc}") from None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._cache is not None and self._cache[0] == stamp:
            return list(self._cache[1])
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            tokens = [BadgeToken.from_json(item) for item in data["tokens"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadgeError(f"badge registry {self.path} is unreadable: {exc}") from None
        self._cache = (stamp, tokens)
        return list(tokens)

    def get(self, token_id: str) -> BadgeToken | None:
        return next((t for t in self.tokens() if t.token_id == token_id), None)

    def by_marker(self, marker_id: int, at: datetime) -> BadgeToken | None:
        """The live ArUco token showing ``marker_id`` at ``at`` (None if none)."""
        for token in self.tokens():
            if token.kind == "aruco" and token.marker_id == marker_id and token.live(at):
                return token
        return None

    def issue(
        self,
        record_id: str,
        *,
        kind: BadgeKind = "qr",
        scope: Scope | str = Scope.RECORD_VIDEO,
        expires: datetime | None = None,
        at: datetime | None = None,
    ) -> BadgeToken:
        """A new token for ``record_id``; ArUco tokens get a marker id no live token uses."""
        now = utc(at)
        until = utc(expires) if expires else now + DEFAULT_LIFETIME
        if until <= now:
            raise BadgeError("a badge must expire after it is issued")
        tokens = self.tokens()
        marker: int | None = None
        if kind == "aruco":
            used = {t.marker_id for t in tokens if t.kind == "aruco" and t.live(now)}
            free = [i for i in range(ARUCO_IDS) if i not in used]
            if not free:
                raise BadgeError(f"all {ARUCO_IDS} ArUco ids are in use; revoke some first")
            marker = free[secrets.randbelow(len(free))]
        token = BadgeToken(
            token_id=secrets.token_hex(5),
            record_id=record_id,
            scope=str(Scope(scope)),
            kind=kind,
            issued_at=now,
            expires_at=until.replace(microsecond=0),
            marker_id=marker,
        )
        self._save([*tokens, token])
        self._announce(EventType.BADGE_ISSUED, token)
        return token

    def revoke(self, token_id: str, at: datetime | None = None) -> BadgeToken:
        """Revoke ``token_id`` now: it stops working at once (``BadgeError`` if unknown)."""
        tokens = self.tokens()
        for index, token in enumerate(tokens):
            if token.token_id == token_id:
                if token.revoked_at is None:
                    tokens[index] = replace(token, revoked_at=utc(at))
                    self._save(tokens)
                    self._announce(EventType.BADGE_REVOKED, tokens[index])
                return tokens[index]
        raise BadgeError(f"no badge token {token_id!r}")

    def _announce(self, event_type: EventType, token: BadgeToken) -> None:
        if self.sink is None:
            return
        data: dict[str, Any] = {
            "token_id": token.token_id,
            "kind": token.kind,
            "consent_id": token.record_id,
            "scope": token.scope,
            "expires_at": token.expires_at.isoformat(),
        }
        if token.marker_id is not None:
            data["marker_id"] = token.marker_id
        self.sink.append(AuditEvent(type=event_type, data=data))

    def _save(self, tokens: list[BadgeToken]) -> None:
        data = {"version": 1, "tokens": [t.to_json() for t in tokens]}
        write_text_atomic(self.path, json.dumps(data, indent=2) + "\n")


def verify_payload(
    text: str, registry: BadgeRegistry, public_key: Ed25519PublicKey | Ed25519PrivateKey
) -> BadgeToken:
    """The registered token a QR payload names, once its signature checks out.

    Raises ``BadgeError`` for a foreign or malformed payload, an unknown token, an expiry that
    differs from the registered one, or a signature that is not ``public_key``'s.
    """
    if not text.startswith(PREFIX):
        raise BadgeError("not a Bystander badge")
    parts = text[len(PREFIX) :].split(".")
    if len(parts) != 3 or not all(parts) or not parts[1].isdigit():
        raise BadgeError("badge payload is malformed")
    token_id, expiry, signature = parts
    token = registry.get(token_id)
    if token is None:
        raise BadgeError("badge token is not registered on this device")
    if int(expiry) != _unix(token.expires_at):
        raise BadgeError("badge expiry was altered")
    public = public_key.public_key() if isinstance(public_key, Ed25519PrivateKey) else public_key
    try:
        raw = keys.b64url_decode(signature)
        if keys.b64url(raw) != signature:
            raise BadgeError("badge signature is not canonical base64url")
        public.verify(raw, token.signing_input())
    except (InvalidSignature, keys.SigningKeyError):
        raise BadgeError("badge signature is not valid: altered or signed by another key") from None
    return token
