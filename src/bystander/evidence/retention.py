"""Retention: every stored item has a purpose and a retain-until date; what is due is destroyed.

The :class:`RetentionPolicy` (``bystander.evidence.retention_policy``, re-exported here) is
data and doubles as the public retention schedule and destruction guidelines that Illinois
BIPA 15(a) asks for: destroy when the purpose is satisfied or within 3 years of the last
interaction, whichever comes first. The :class:`RetentionManager` keeps the ``stored_items``
inventory and deletes due items through deleters that other components register by name::

    manager = RetentionManager(engine, sink=audit_log)
    item = manager.register("user.media.recording.original", "anonymisation", "/data/clip.mp4")
    report = manager.run()          # unlinks the file once 72 hours have passed
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Engine,
    Integer,
    String,
    Text,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from bystander.evidence.db import Base, UtcDateTime, session_scope
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.evidence.retention_policy import (
    DEFAULT_GUIDELINES,
    DEFAULT_RULES,
    RetentionError,
    RetentionPolicy,
    RetentionPolicyError,
    RetentionRule,
    as_utc,
    describe_duration,
    iso_duration,
    utcnow,
)

#: The deleter used when ``register`` is not told otherwise: ``reference`` is a file path.
FILE_DELETER = "file"
_ERROR_CHARS = 300


# --------------------------------------------------------------------------------------------
# Inventory


class StoredItemRecord(Base):
    """One row per stored item (file, template, record) under retention."""

    __tablename__ = "stored_items"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data_category: Mapped[str] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(Text)
    deleter: Mapped[str] = mapped_column(String(64))
    consent_record_id: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retain_until: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    purpose_ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(_ERROR_CHARS))


class StoredItem(BaseModel):
    """A read-only snapshot of one inventory row."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    data_category: str
    purpose: str
    reference: str
    deleter: str
    consent_record_id: str | None
    created_at: datetime
    last_used_at: datetime
    retain_until: datetime
    purpose_ended_at: datetime | None
    deleted_at: datetime | None
    failures: int
    last_error: str | None


DeletionReason = Literal[
    "purpose_satisfied", "retention_period_ended", "idle_limit_reached", "retain_until_reached"
]


class RetentionOutcome(BaseModel):
    """What happened (or would happen) to one due item. No personal data."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    data_category: str
    purpose: str
    reason: DeletionReason
    error: str | None = None


class RetentionRunReport(BaseModel):
    """The result of one ``RetentionManager.run``."""

    model_config = ConfigDict(frozen=True)

    ran_at: datetime
    dry_run: bool
    deleted: tuple[RetentionOutcome, ...] = ()
    failed: tuple[RetentionOutcome, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed


#: A deleter destroys the data an item refers to; it must treat "already gone" as success.
Deleter = Callable[[StoredItem], None]


def delete_file(item: StoredItem) -> None:
    """The ``file`` deleter: unlink the absolute path in ``reference`` (missing is fine)."""
    path = Path(item.reference)
    if not path.is_absolute():
        raise RetentionError(f"file reference is not an absolute path: {item.reference}")
    path.unlink(missing_ok=True)


class RetentionManager:
    """The ``stored_items`` inventory: register, touch, find what is due, destroy it."""

    def __init__(
        self,
        engine: Engine,
        sink: EventSink | None = None,
        policy: RetentionPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.policy = policy or RetentionPolicy.default()
        self._deleters: dict[str, Deleter] = {FILE_DELETER: delete_file}

    # -- deleters ---------------------------------------------------------------------------

    def register_deleter(self, name: str, deleter: Deleter, *, replace: bool = False) -> None:
        """Plug in the function that destroys items registered with ``deleter_key=name``."""
        if name in self._deleters and not replace:
            raise RetentionError(f"a deleter named {name!r} is already registered")
        self._deleters[name] = deleter

    @property
    def deleter_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._deleters))

    # -- inventory --------------------------------------------------------------------------

    def register(
        self,
        data_category: str,
        purpose: str,
        reference: str,
        deleter_key: str = FILE_DELETER,
        consent_record_id: str | None = None,
        now: datetime | None = None,
        *,
        item_id: str | None = None,
        session: Session | None = None,
    ) -> StoredItem:
        """Record a newly stored item; its retain-until date comes from the policy.

        Refuses a category/purpose the policy has no rule for. With ``session`` the row is
        added to the caller's transaction (committed by the caller).
        """
        rule = self.policy.rule_for(data_category, purpose)
        if not reference:
            raise RetentionError("a stored item needs a reference (a path, id or location)")
        now = as_utc(now or utcnow())
        row = StoredItemRecord(
            id=item_id or uuid4().hex,
            data_category=data_category,
            purpose=purpose,
            reference=reference,
            deleter=deleter_key,
            consent_record_id=consent_record_id,
            created_at=now,
            last_used_at=now,
            retain_until=rule.retain_until(now, now),
            failures=0,
        )
        if session is not None:
            session.add(row)
            session.flush()
            return StoredItem.model_validate(row)
        with session_scope(self.engine) as own:
            own.add(row)
            own.flush()
            return StoredItem.model_validate(row)

    def get(self, item_id: str) -> StoredItem:
        with session_scope(self.engine) as session:
            return StoredItem.model_validate(self._row(session, item_id))

    def items(self, include_deleted: bool = False) -> list[StoredItem]:
        query = select(StoredItemRecord).order_by(StoredItemRecord.created_at)
        if not include_deleted:
            query = query.where(StoredItemRecord.deleted_at.is_(None))
        with session_scope(self.engine) as session:
            return [StoredItem.model_validate(r) for r in session.scalars(query)]

    def touch(self, item_id: str, now: datetime | None = None) -> StoredItem:
        """Record a use (an interaction): the idle limit restarts, the period does not."""
        now = as_utc(now or utcnow())
        with session_scope(self.engine) as session:
            row = self._live_row(session, item_id)
            row.last_used_at = now
            rule = self.policy.find(row.data_category, row.purpose)
            if rule is not None and row.purpose_ended_at is None:
                row.retain_until = rule.retain_until(row.created_at, now)
            return StoredItem.model_validate(row)

    def end_purpose(self, item_id: str, now: datetime | None = None) -> StoredItem:
        """The item's purpose is satisfied: it is due from ``now`` (destroyed by the next run)."""
        now = as_utc(now or utcnow())
        with session_scope(self.engine) as session:
            row = self._live_row(session, item_id)
            row.purpose_ended_at = now
            row.retain_until = min(row.retain_until, now)
            return StoredItem.model_validate(row)

    def end_purpose_for_consent(self, consent_record_id: str, now: datetime | None = None) -> int:
        """Consent was withdrawn: every live item linked to it becomes due. Returns the count."""
        now = as_utc(now or utcnow())
        linked = and_(
            StoredItemRecord.consent_record_id == consent_record_id,
            StoredItemRecord.deleted_at.is_(None),
        )
        with session_scope(self.engine) as session:
            rows = list(session.scalars(select(StoredItemRecord).where(linked)))
            for row in rows:
                row.purpose_ended_at = row.purpose_ended_at or now
                row.retain_until = min(row.retain_until, now)
            return len(rows)

    def mark_deleted(
        self, item_id: str, now: datetime | None = None, *, session: Session | None = None
    ) -> bool:
        """The owner destroyed the item itself (and logged it): close its inventory row."""
        now = as_utc(now or utcnow())
        stmt = (
            update(StoredItemRecord)
            .where(StoredItemRecord.id == item_id, StoredItemRecord.deleted_at.is_(None))
            .values(deleted_at=now)
        )
        if session is not None:
            return _rowcount(session.execute(stmt)) > 0
        with session_scope(self.engine) as own:
            return _rowcount(own.execute(stmt)) > 0

    # -- destruction ------------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[StoredItem]:
        """Live items whose retain-until date, purpose or current policy says: destroy now.

        A rule shortened since an item was registered applies at once; a lengthened one
        does not extend what was already scheduled.
        """
        now = as_utc(now or utcnow())
        query = (
            select(StoredItemRecord)
            .where(StoredItemRecord.deleted_at.is_(None), self._due_clause(now))
            .order_by(StoredItemRecord.retain_until, StoredItemRecord.id)
        )
        with session_scope(self.engine) as session:
            return [StoredItem.model_validate(r) for r in session.scalars(query)]

    def run(self, now: datetime | None = None, dry_run: bool = False) -> RetentionRunReport:
        """Destroy every due item through its deleter and log each destruction.

        An item is marked deleted only after its deleter succeeded and the event was
        appended; a failure is recorded on the item, reported, and retried next run.
        Deleters must be idempotent: a crash between deletion and marking repeats both
        (and the event) on the next run.
        """
        now = as_utc(now or utcnow())
        deleted: list[RetentionOutcome] = []
        failed: list[RetentionOutcome] = []
        for item in self.due(now):
            outcome = self._outcome(item, now)
            if dry_run:
                deleted.append(outcome)
                continue
            error = self._destroy(item)
            if error is None:
                self._finish(item, outcome, now)
                deleted.append(outcome)
            else:
                self._record_failure(item.id, error)
                failed.append(outcome.model_copy(update={"error": error}))
        return RetentionRunReport(
            ran_at=now, dry_run=dry_run, deleted=tuple(deleted), failed=tuple(failed)
        )

    def schedule(self, fmt: Literal["markdown", "json"] = "markdown") -> str:
        """The public retention schedule and destruction guidelines."""
        return self.policy.render(fmt)

    # -- internals --------------------------------------------------------------------------

    def _due_clause(self, now: datetime) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = [
            StoredItemRecord.retain_until <= now,
        ]
        for rule in self.policy.rules:
            same = and_(
                StoredItemRecord.data_category == rule.data_category,
                StoredItemRecord.purpose == rule.purpose,
            )
            if rule.period is not None:
                clauses.append(and_(same, StoredItemRecord.created_at <= now - rule.period))
            if rule.idle_limit is not None:
                clauses.append(and_(same, StoredItemRecord.last_used_at <= now - rule.idle_limit))
        return or_(*clauses)

    def _outcome(self, item: StoredItem, now: datetime) -> RetentionOutcome:
        return RetentionOutcome(
            item_id=item.id,
            data_category=item.data_category,
            purpose=item.purpose,
            reason=self._reason(item, now),
        )

    def _reason(self, item: StoredItem, now: datetime) -> DeletionReason:
        if item.purpose_ended_at is not None:
            return "purpose_satisfied"
        rule = self.policy.find(item.data_category, item.purpose)
        if rule is not None and rule.period is not None and item.created_at + rule.period <= now:
            return "retention_period_ended"
        limit = rule.idle_limit if rule is not None else None
        if limit is not None and item.last_used_at + limit <= now:
            return "idle_limit_reached"
        return "retain_until_reached"

    def _destroy(self, item: StoredItem) -> str | None:
        deleter = self._deleters.get(item.deleter)
        if deleter is None:
            return f"no deleter registered under {item.deleter!r}"
        try:
            deleter(item)
        except Exception as exc:
            return _error_line(exc)
        return None

    def _finish(self, item: StoredItem, outcome: RetentionOutcome, now: datetime) -> None:
        """Log the destruction, then close the inventory row (events are never written
        inside an open write transaction: the audit log takes its own write lock)."""
        if self.sink is not None:
            data = {
                "item_id": item.id,
                "data_category": item.data_category,
                "purpose": item.purpose,
            }
            self.sink.append(
                AuditEvent(type=EventType.RETENTION_DELETED, reason=outcome.reason, data=data)
            )
        self.mark_deleted(item.id, now)

    def _record_failure(self, item_id: str, error: str) -> None:
        with session_scope(self.engine) as session:
            row = self._row(session, item_id)
            row.failures = (row.failures or 0) + 1
            row.last_error = error

    @staticmethod
    def _row(session: Session, item_id: str) -> StoredItemRecord:
        row = session.get(StoredItemRecord, item_id)
        if row is None:
            raise RetentionError(f"no stored item with id {item_id!r}")
        return row

    def _live_row(self, session: Session, item_id: str) -> StoredItemRecord:
        row = self._row(session, item_id)
        if row.deleted_at is not None:
            raise RetentionError(f"stored item {item_id!r} was already deleted")
        return row


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _error_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text[:_ERROR_CHARS]


__all__ = [
    "DEFAULT_GUIDELINES",
    "DEFAULT_RULES",
    "FILE_DELETER",
    "Deleter",
    "RetentionError",
    "RetentionManager",
    "RetentionOutcome",
    "RetentionPolicy",
    "RetentionPolicyError",
    "RetentionRule",
    "RetentionRunReport",
    "StoredItem",
    "StoredItemRecord",
    "delete_file",
    "describe_duration",
    "iso_duration",
    "utcnow",
]
