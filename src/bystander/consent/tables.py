"""The consent store's tables, the row written for a record, and its time encoding.

Validity spans and refusal times are stored as microseconds since the epoch (``micros``), so
``decide`` (``bystander.consent.decision``) compares integers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    exists,
    select,
    true,
)

from bystander.consent.models import ConsentRecord, utc
from bystander.evidence.db import Base, UtcDateTime

ID_LENGTH = 200

records = Table(
    "consent_records",
    Base.metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("subject_id", String(ID_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(32), nullable=False),
    Column("under_14", Boolean, nullable=False),
    Column("guardian_id", String(ID_LENGTH)),
    Column("scope_count", Integer, nullable=False),
    # microseconds since the epoch: when a refusal was indicated (refusal records only)
    Column("refused_at", BigInteger),
    # JSON [[start_us, end_us | null, "expired" | "withdrawn" | null], ...]
    Column("validity", Text, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("body", Text, nullable=False),  # the full record (JSON): the source of truth
    Index("ix_consent_records_subject_minor", "subject_id", "under_14"),
    Index("ix_consent_records_state_expires", "state", "expires_at"),
)

record_scopes = Table(
    "consent_scopes",
    Base.metadata,
    Column(
        "record_id",
        String(ID_LENGTH),
        ForeignKey("consent_records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("scope", String(32), primary_key=True),
    Column("subject_id", String(ID_LENGTH), nullable=False),
    Index("ix_consent_scopes_subject_scope", "subject_id", "scope"),
)

links = Table(
    "consent_links",
    Base.metadata,
    Column(
        "record_id",
        String(ID_LENGTH),
        ForeignKey("consent_records.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("data_kind", String(ID_LENGTH), primary_key=True),
    Column("item_id", String(ID_LENGTH), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_consent_links_item", "data_kind", "item_id"),
)

deletions = Table(
    "consent_deletions",
    Base.metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("record_id", String(ID_LENGTH), ForeignKey("consent_records.id"), nullable=False),
    Column("data_kind", String(ID_LENGTH), nullable=False),
    Column("item_id", String(ID_LENGTH), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    Index("ix_consent_deletions_pending", "completed_at"),
)

_minor = records.alias("minor")
CHECK = (
    select(
        records.c.id,
        records.c.kind,
        records.c.scope_count,
        records.c.validity,
        records.c.refused_at,
        exists()
        .where(_minor.c.subject_id == bindparam("subject"), _minor.c.under_14.is_(true()))
        .label("minor"),
    )
    .select_from(record_scopes.join(records, records.c.id == record_scopes.c.record_id))
    .where(record_scopes.c.subject_id == bindparam("subject"))
    .where(record_scopes.c.scope == bindparam("scope"))
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


def record_row(record: ConsentRecord, now: datetime | None = None) -> dict[str, Any]:
    """The indexed columns of ``record`` (everything but ``created_at``)."""
    spans = [
        [micros(s.start), None if s.end is None else micros(s.end), s.ended_by and s.ended_by.value]
        for s in record.validity()
    ]
    refused = record.refused_at
    return {
        "id": record.id,
        "subject_id": record.subject.id,
        "kind": record.kind.value,
        "state": record.state.value,
        "under_14": record.subject.under_14,
        "guardian_id": record.guardian_id,
        "scope_count": len(record.scopes),
        "refused_at": None if refused is None else micros(refused),
        "validity": json.dumps(spans, separators=(",", ":")),
        "expires_at": record.expires_at,
        "updated_at": now or utc(),
        "body": record.model_dump_json(),
    }
