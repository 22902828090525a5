"""API tokens with roles (no web framework here, so the CLI can load it cheaply).

A token is ``bst_<id>_<secret>``; only the SHA-256 of the whole token is stored. Roles:
``admin`` (everything), ``device`` (consent checks, capture), ``auditor`` (audit log,
inspections), ``moderator`` (screening, the queue) and ``subject`` (a data subject: only
their own consent records). Verified tokens are cached for ``CACHE_SECONDS`` so the consent
check stays fast; a revocation in this process applies at once, in others within that time.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select

from bystander.errors import InputError
from bystander.evidence.db import session_scope
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.service.tables import ApiToken

CACHE_SECONDS = 5.0
COOKIE = "bystander_token"


class Role(StrEnum):
    ADMIN = "admin"
    DEVICE = "device"
    AUDITOR = "auditor"
    MODERATOR = "moderator"
    SUBJECT = "subject"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id (never its secret), role and bound subject."""

    token_id: str
    role: Role
    subject_id: str | None
    label: str

    def to_dict(self) -> dict[str, str | None]:
        return {"token_id": self.token_id, "role": self.role.value,
                "subject_id": self.subject_id, "label": self.label}  # fmt: skip


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Creates, verifies and revokes API tokens (in the evidence store)."""

    def __init__(self, engine: Engine, sink: EventSink) -> None:
        self.engine = engine
        self.sink = sink
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def create(
        self, role: Role, *, subject_id: str | None = None, label: str = ""
    ) -> tuple[Principal, str]:
        """A new token; its secret is returned once and never stored."""
        role = Role(role)
        if (role is Role.SUBJECT) != bool(subject_id):
            raise InputError("a subject token needs --subject, and only a subject token takes one")
        token_id = secrets.token_hex(8)
        secret = f"bst_{token_id}_{secrets.token_urlsafe(32)}"
        row = ApiToken(id=token_id, secret_sha256=_hash(secret), role=role.value,
                       subject_id=subject_id, label=label[:200], created_at=datetime.now(UTC),
                       revoked_at=None)  # fmt: skip
        with session_scope(self.engine) as session:
            session.add(row)
        principal = Principal(token_id, role, subject_id, row.label)
        self.sink.append(AuditEvent(type=EventType.API_TOKEN_CREATED, subject_id=subject_id,
                                    data={"token_id": token_id, "role": role.value}))  # fmt: skip
        return principal, secret

    def cached(self, secret: str) -> Principal | None:
        """The principal if ``secret`` was verified within ``CACHE_SECONDS`` (no database)."""
        if not secret.startswith("bst_") or len(secret) > 200:
            return None
        with self._lock:
            hit = self._cache.get(_hash(secret))
        return hit[1] if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS else None

    def verify(self, secret: str) -> Principal | None:
        """The token's principal, or None (unknown, malformed or revoked)."""
        if not secret.startswith("bst_") or len(secret) > 200:
            return None
        digest = _hash(secret)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        with session_scope(self.engine) as session:
            row = session.scalars(select(ApiToken).where(ApiToken.secret_sha256 == digest)).first()
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.secret_sha256, digest):
                return None
            principal = Principal(row.id, Role(row.role), row.subject_id, row.label)
        with self._lock:
            self._cache[digest] = (now, principal)
        return principal

    def revoke(self, token_id: str) -> None:
        with session_scope(self.engine) as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise InputError(f"no API token {token_id!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
            digest = row.secret_sha256
        with self._lock:
            self._cache.pop(digest, None)
        self.sink.append(AuditEvent(type=EventType.API_TOKEN_REVOKED,
                                    data={"token_id": token_id}))  # fmt: skip

    def list(self) -> builtins.list[tuple[Principal, bool]]:
        """Every token's principal and whether it is revoked."""
        with session_scope(self.engine) as session:
            rows = session.scalars(select(ApiToken).order_by(ApiToken.created_at)).all()
            return [(Principal(r.id, Role(r.role), r.subject_id, r.label), r.revoked_at is not None)
                    for r in rows]  # fmt: skip
