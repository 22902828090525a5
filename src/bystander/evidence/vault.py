"""The biometric template vault: face templates encrypted at rest, never handed out in clear.

Each template is sealed with AES-256-GCM under a random 96-bit nonce; the associated data binds
the template id, subject id, consent record id, purpose and key id, so a row edited or swapped
with another fails to decrypt. Keys live in a key file outside the database
(``<keys_dir>/vault.keys``, mode 0600) or are passed in. No method returns clear template bytes:
matching runs an in-process scorer over read-only views that are zeroed right after use::

    vault = TemplateVault(engine, sink=audit_log)
    template_id = vault.store("ds-7f3a", embedding.tobytes(), consent_id, "consent_recognition")
    best = vault.match(probe, cosine_similarity, threshold=0.9, dtype=np.float32)
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from uuid import uuid4

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import Engine, LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from bystander.errors import BystanderError
from bystander.evidence.db import Base, UtcDateTime, session_scope
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.evidence.retention import RetentionManager, StoredItem, utcnow
from bystander.evidence.vault_keys import (
    KEY_FILE_NAME,
    KEYRING_FORMAT,
    TemplateExportRefused,
    VaultError,
    VaultIntegrityError,
    VaultKeyError,
    VaultKeyring,
)

#: The data category templates are registered under with the retention manager.
FACE_TEMPLATE = "user.biometric.face.template"
#: The retention deleter name the vault registers.
VAULT_DELETER = "vault.template"
ALGORITHM = "A256GCM"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_AD_VERSION = "bystander.vault/1"
_BATCH = 256

TemplateInput = bytes | bytearray | memoryview | npt.NDArray[Any]
Probe = npt.NDArray[Any]
#: A scorer compares a probe with one template (a read-only view) and returns a score.
Scorer = Callable[[Probe, npt.NDArray[Any]], float]


# --------------------------------------------------------------------------------------------
# Sealing


def _associated_data(row: TemplateRecord, key_id: str) -> bytes:
    fields = [_AD_VERSION, row.id, row.subject_id, row.consent_record_id, row.purpose, key_id]
    return json.dumps(fields, separators=(",", ":")).encode()


def _seal(key: bytes, plaintext: memoryview, associated: bytes) -> tuple[bytes, bytes]:
    """Encrypt without copying the plaintext into an immutable object: (nonce, ct || tag)."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated)
    out = bytearray(len(plaintext) + 15)
    size = encryptor.update_into(plaintext, out)
    encryptor.finalize()
    return nonce, bytes(out[:size]) + encryptor.tag


@contextlib.contextmanager
def _opened(key: bytes, row: TemplateRecord) -> Iterator[npt.NDArray[np.uint8]]:
    """Decrypt ``row`` into a private buffer, yield a read-only view, then zero the buffer."""
    data = row.ciphertext
    if len(row.nonce) != _NONCE_BYTES or len(data) < _TAG_BYTES:
        raise VaultIntegrityError(f"template {row.id} is truncated")
    body, tag = data[:-_TAG_BYTES], data[-_TAG_BYTES:]
    buffer = np.zeros(len(body) + 15, dtype=np.uint8)
    try:
        decryptor = Cipher(algorithms.AES(key), modes.GCM(row.nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(_associated_data(row, row.key_id))
        size = decryptor.update_into(body, buffer.data)
        try:
            decryptor.finalize()
        except InvalidTag:
            raise VaultIntegrityError(
                f"template {row.id} failed authentication (tampered, swapped or wrong key)"
            ) from None
        view = buffer[:size].view()
        view.flags.writeable = False
        yield view
    finally:
        buffer.fill(0)


def _as_view(template: TemplateInput) -> memoryview:
    if isinstance(template, np.ndarray):
        view = np.ascontiguousarray(template).reshape(-1).view(np.uint8).data
    else:
        view = memoryview(template).cast("B")
    if view.nbytes == 0:
        raise VaultError("refusing to store an empty template")
    return view


# --------------------------------------------------------------------------------------------
# Storage


class TemplateRecord(Base):
    """One encrypted template. Only ids, purpose and ciphertext are stored."""

    __tablename__ = "biometric_templates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(128), index=True)
    consent_record_id: Mapped[str] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


@dataclass(frozen=True)
class MatchResult:
    """The best match: who, under which consent, with what score. Never template bytes."""

    template_id: str
    subject_id: str
    consent_record_id: str
    purpose: str
    score: float


@dataclass(frozen=True)
class TemplateInfo:
    """Metadata of a stored template (for listings and audits)."""

    template_id: str
    subject_id: str
    consent_record_id: str
    purpose: str
    key_id: str
    created_at: datetime


def cosine_similarity(probe: Probe, template: npt.NDArray[Any]) -> float:
    """A ready-made scorer: cosine similarity (higher is closer).

    Works on the template in place (the probe is cast to its dtype), so no clear copy of
    the template outlives the call.
    """
    b = template.reshape(-1)
    a = np.asarray(probe, dtype=b.dtype).reshape(-1)
    if a.shape != b.shape:
        return float("-inf")
    norm = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
    return float(np.dot(a, b)) / norm if norm else float("-inf")


class TemplateVault:
    """Encrypted face templates: store, match in process, delete, rotate keys; never export.

    ``keys`` defaults to the key file ``<keys_dir>/vault.keys`` (or ``key_file``), read only
    when a key is needed, so deleting works without it. With ``retention`` every template is
    registered under :data:`FACE_TEMPLATE` and the vault registers its deleter there.
    """

    def __init__(
        self,
        engine: Engine,
        keys: VaultKeyring | None = None,
        *,
        key_file: Path | None = None,
        sink: EventSink | None = None,
        retention: RetentionManager | None = None,
        max_template_bytes: int = 64 * 1024,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.retention = retention
        self.max_template_bytes = max_template_bytes
        self._keys = keys
        self._key_file = key_file
        if retention is not None:
            retention.register_deleter(VAULT_DELETER, self._retention_delete, replace=True)

    @property
    def keys(self) -> VaultKeyring:
        """The keyring, loaded (or created) on first use."""
        if self._keys is None:
            self._keys = VaultKeyring.load_or_create(self._key_file)
        return self._keys

    # -- writing ----------------------------------------------------------------------------

    def store(
        self,
        subject_id: str,
        template: TemplateInput,
        consent_record_id: str,
        purpose: str,
        *,
        data_category: str = FACE_TEMPLATE,
    ) -> str:
        """Seal and store one template linked to a consent record; return its id.

        The caller checks that the consent is valid; the vault records the link so that
        ``delete_for_consent`` destroys the template on withdrawal.
        """
        _require_ids(subject_id=subject_id, consent_record_id=consent_record_id, purpose=purpose)
        plaintext = _as_view(template)
        if plaintext.nbytes > self.max_template_bytes:
            raise VaultError(
                f"template is {plaintext.nbytes} bytes, over the {self.max_template_bytes}-byte "
                "limit (store templates, never raw images)"
            )
        if self.retention is not None:
            self.retention.policy.rule_for(data_category, purpose)
        key_id = self.keys.current_id
        row = TemplateRecord(
            id=uuid4().hex,
            subject_id=subject_id,
            consent_record_id=consent_record_id,
            purpose=purpose,
            algorithm=ALGORITHM,
            key_id=key_id,
            created_at=utcnow(),
        )
        row.nonce, row.ciphertext = _seal(
            self.keys.key(key_id), plaintext, _associated_data(row, key_id)
        )
        with session_scope(self.engine) as session:
            session.add(row)
            session.flush()
            if self.retention is not None:
                self.retention.register(
                    data_category,
                    purpose,
                    row.id,
                    deleter_key=VAULT_DELETER,
                    consent_record_id=consent_record_id,
                    now=row.created_at,
                    item_id=row.id,
                    session=session,
                )
        try:
            self._emit(EventType.TEMPLATE_CREATED, row, reason="enrolled")
        except BaseException:
            self._discard(row.id)  # no template without its audit event
            raise
        return row.id

    def delete(self, template_id: str, reason: str = "requested") -> bool:
        """Destroy one template; ``False`` if it did not exist."""
        where = TemplateRecord.id == template_id
        return self._delete_where(where, reason) > 0

    def delete_for_consent(self, consent_record_id: str) -> int:
        """Destroy every template linked to a consent record (on withdrawal); return the count."""
        where = TemplateRecord.consent_record_id == consent_record_id
        return self._delete_where(where, "consent_withdrawn")

    def delete_for_subject(self, subject_id: str, reason: str = "erasure_request") -> int:
        """Destroy every template of one data subject; return the count."""
        return self._delete_where(TemplateRecord.subject_id == subject_id, reason)

    def export(self, template_id: str, destination: str | None = None) -> NoReturn:
        """Always refused (and logged): templates never leave the vault in clear."""
        if self.sink is not None:
            self.sink.append(
                AuditEvent(
                    type=EventType.TEMPLATE_ACCESS_REFUSED,
                    reason="export_refused",
                    data={"template_id": template_id, "destination": destination},
                )
            )
        raise TemplateExportRefused(
            f"export of template {template_id} refused: biometric templates never leave the "
            "vault in clear"
        )

    def rotate_key(self) -> str:
        """Re-encrypt every template under a new key, then retire the old keys; return its id.

        The old keys stay in the keyring until no row uses them, so an interrupted rotation
        leaves every template readable; running it again finishes the job.
        """
        keys = self.keys
        new_id = keys.add_new_current()
        count = 0
        while batch := self._reseal_batch(new_id):
            count += batch
        with session_scope(self.engine) as session:
            left = session.scalar(
                select(func.count())
                .select_from(TemplateRecord)
                .where(TemplateRecord.key_id != new_id)
            )
        if left:
            raise VaultError(f"{left} template(s) still use old keys; run the rotation again")
        retired = keys.retire_all_but_current()
        if self.sink is not None:
            data = {"new_key_id": new_id, "retired_key_ids": list(retired), "templates": count}
            self.sink.append(AuditEvent(type=EventType.VAULT_KEY_ROTATED, data=data))
        return new_id

    # -- reading ----------------------------------------------------------------------------

    def match(
        self,
        probe: Probe | bytes,
        scorer: Scorer,
        *,
        threshold: float,
        higher_is_better: bool = True,
        dtype: npt.DTypeLike = np.float32,
        purpose: str | None = None,
        subject_id: str | None = None,
    ) -> MatchResult | None:
        """The best template scoring past ``threshold`` (1:N, or 1:1 with ``subject_id``).

        Each template is decrypted into a private buffer, shown to ``scorer`` as a read-only
        array of ``dtype`` and zeroed at once. A match counts as the subject's last
        interaction for retention.
        """
        query = select(TemplateRecord).order_by(TemplateRecord.created_at, TemplateRecord.id)
        if purpose is not None:
            query = query.where(TemplateRecord.purpose == purpose)
        if subject_id is not None:
            query = query.where(TemplateRecord.subject_id == subject_id)
        with session_scope(self.engine) as session:
            rows = list(session.scalars(query))
        if not rows:
            return None
        vector = np.frombuffer(probe, dtype=dtype) if isinstance(probe, bytes) else probe
        best = self._best(rows, vector, scorer, np.dtype(dtype), threshold, higher_is_better)
        if best is not None and self.retention is not None:
            with contextlib.suppress(BystanderError):
                self.retention.touch(best.template_id)
        return best

    def templates(self, consent_record_id: str | None = None) -> list[TemplateInfo]:
        """Metadata of stored templates (never their content)."""
        query = select(TemplateRecord).order_by(TemplateRecord.created_at, TemplateRecord.id)
        if consent_record_id is not None:
            query = query.where(TemplateRecord.consent_record_id == consent_record_id)
        with session_scope(self.engine) as session:
            return [_info(row) for row in session.scalars(query)]

    def count(self) -> int:
        with session_scope(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(TemplateRecord)) or 0)

    # -- internals --------------------------------------------------------------------------

    def _best(
        self,
        rows: list[TemplateRecord],
        probe: Probe,
        scorer: Scorer,
        dtype: np.dtype[Any],
        threshold: float,
        higher_is_better: bool,
    ) -> MatchResult | None:
        best: MatchResult | None = None
        sign = 1.0 if higher_is_better else -1.0
        for row in rows:
            with _opened(self.keys.key(row.key_id), row) as clear:
                if clear.nbytes % dtype.itemsize:
                    raise VaultError(f"template {row.id} is not a whole number of {dtype}")
                score = float(scorer(probe, clear.view(dtype)))
            passes = sign * score >= sign * threshold
            if passes and (best is None or sign * score > sign * best.score):
                best = MatchResult(
                    row.id, row.subject_id, row.consent_record_id, row.purpose, score
                )
        return best

    def _reseal_batch(self, new_id: str) -> int:
        with session_scope(self.engine) as session:
            query = select(TemplateRecord).where(TemplateRecord.key_id != new_id).limit(_BATCH)
            rows = list(session.scalars(query))
            for row in rows:
                self._reseal(row, new_id)
            return len(rows)

    def _reseal(self, row: TemplateRecord, new_id: str) -> None:
        with _opened(self.keys.key(row.key_id), row) as clear:
            nonce, ciphertext = _seal(
                self.keys.key(new_id), clear.data, _associated_data(row, new_id)
            )
        row.key_id, row.nonce, row.ciphertext = new_id, nonce, ciphertext

    def _delete_where(self, where: Any, reason: str, *, close_retention: bool = True) -> int:
        """Delete matching rows in one transaction, then log each deletion.

        Events are appended after the commit: the audit log takes its own write lock, which
        an open write transaction on the same SQLite file would block.
        """
        with session_scope(self.engine) as session:
            rows = list(session.scalars(select(TemplateRecord).where(where)))
            for row in rows:
                session.execute(delete(TemplateRecord).where(TemplateRecord.id == row.id))
                if close_retention and self.retention is not None:
                    self.retention.mark_deleted(row.id, session=session)
        for row in rows:
            self._emit(EventType.TEMPLATE_DELETED, row, reason=reason)
        return len(rows)

    def _discard(self, template_id: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(delete(TemplateRecord).where(TemplateRecord.id == template_id))
            if self.retention is not None:
                self.retention.mark_deleted(template_id, session=session)

    def _retention_delete(self, item: StoredItem) -> None:
        """The retention deleter: destroy the template an inventory item refers to."""
        self._delete_where(TemplateRecord.id == item.reference, "retention", close_retention=False)

    def _emit(self, kind: EventType, row: TemplateRecord, reason: str) -> None:
        if self.sink is None:
            return
        data = {
            "template_id": row.id,
            "consent_record_id": row.consent_record_id,
            "purpose": row.purpose,
        }
        self.sink.append(AuditEvent(type=kind, subject_id=row.subject_id, reason=reason, data=data))


def _info(row: TemplateRecord) -> TemplateInfo:
    return TemplateInfo(
        row.id, row.subject_id, row.consent_record_id, row.purpose, row.key_id, row.created_at
    )


def _require_ids(**values: str) -> None:
    for name, value in values.items():
        if not value or not value.strip():
            raise VaultError(f"{name} must not be empty")
        if len(value) > 128:
            raise VaultError(f"{name} is longer than 128 characters")


__all__ = [
    "ALGORITHM",
    "FACE_TEMPLATE",
    "KEYRING_FORMAT",
    "KEY_FILE_NAME",
    "VAULT_DELETER",
    "MatchResult",
    "Probe",
    "Scorer",
    "TemplateExportRefused",
    "TemplateInfo",
    "TemplateInput",
    "TemplateRecord",
    "TemplateVault",
    "VaultError",
    "VaultIntegrityError",
    "VaultKeyError",
    "VaultKeyring",
    "cosine_similarity",
]
