"""Tables of the moderation queue: items, reviewer actions and complaints.

Items hold what screening found (decision, reasons, rule ids, counts): never pixels, names or
biometric data. The upload itself is referenced by path and SHA-256.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bystander.evidence.db import Base, UtcDateTime


class ModerationItem(Base):
    """One screened upload and where it stands."""

    __tablename__ = "moderation_items"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(Integer)
    screened_decision: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    upload_class: Mapped[str] = mapped_column(String(40))
    outcome_json: Mapped[str] = mapped_column(Text)
    anonymized_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    taken_down_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ModerationAction(Base):
    """A reviewer's (or the screener's) action on an item."""

    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("moderation_items.id"), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class Complaint(Base):
    """A notice about an item (Civil Code Art 1195): the platform must act by ``deadline``."""

    __tablename__ = "moderation_complaints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("moderation_items.id"), index=True)
    complainant: Mapped[str] = mapped_column(String(128))
    grounds: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deadline: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
