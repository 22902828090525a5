"""Retention: every stored item has a purpose and a retain-until date; what is due is destroyed.

The :class:`RetentionPolicy` is data (defaults below, overridable from a JSON or TOML file) and
doubles as the public retention schedule and destruction guidelines that Illinois BIPA 15(a)
asks for: destroy when the purpose is satisfied or within 3 years of the last interaction,
whichever comes first. The :class:`RetentionManager` keeps the ``stored_items`` inventory and
deletes due items through deleters that other components register by name::

    manager = RetentionManager(engine, sink=audit_log)
    item = manager.register("user.media.recording.original", "anonymisation", "/data/clip.mp4")
    report = manager.run()          # unlinks the file once 72 hours have passed
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
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

from bystander.errors import BystanderError, InputError
from bystander.evidence.db import Base, UtcDateTime, session_scope
from bystander.evidence.events import AuditEvent, EventSink, EventType

#: The deleter used when ``register`` is not told otherwise: ``reference`` is a file path.
FILE_DELETER = "file"
_ERROR_CHARS = 300


class RetentionError(BystanderError):
    """A retention operation cannot be done (unknown item, deleted item)."""


class RetentionPolicyError(RetentionError, InputError):
    """The retention policy is invalid, or has no rule for a data category and purpose."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware (UTC) time")
    return value.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# Policy


class RetentionRule(BaseModel):
    """How long one data category is kept for one purpose, and why.

    ``period`` runs from collection, ``idle_limit`` from the last use (the last interaction);
    the item is destroyed when the first of them ends, or earlier when its purpose ends.
    Durations are ISO 8601 in files (``PT72H``, ``P30D``, ``P1Y`` = 365 days).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_category: str = Field(min_length=1, max_length=128)
    purpose: str = Field(min_length=1, max_length=128)
    description: str = ""
    period: timedelta | None = None
    idle_limit: timedelta | None = None
    purpose_ends: str = ""
    basis: str = ""

    @model_validator(mode="after")
    def _bounded(self) -> RetentionRule:
        if self.period is None and self.idle_limit is None:
            raise ValueError(
                f"rule {self.data_category}/{self.purpose} needs a period or an idle_limit"
            )
        for value in (self.period, self.idle_limit):
            if value is not None and value < timedelta(0):
                raise ValueError(f"rule {self.data_category}/{self.purpose}: negative duration")
        return self

    def retain_until(self, created_at: datetime, last_used_at: datetime) -> datetime:
        """The first moment the item must be destroyed."""
        bounds = []
        if self.period is not None:
            bounds.append(created_at + self.period)
        if self.idle_limit is not None:
            bounds.append(last_used_at + self.idle_limit)
        return min(bounds)

    def kept_for(self) -> str:
        """Plain words for the schedule: ``at most 72 hours after collection``."""
        parts = []
        if self.period is not None:
            parts.append(f"at most {describe_duration(self.period)} after collection")
        if self.idle_limit is not None:
            parts.append(f"at most {describe_duration(self.idle_limit)} after last use")
        return ", or ".join(parts) + (", whichever comes first" if len(parts) > 1 else "")


def describe_duration(value: timedelta) -> str:
    """``timedelta(days=365)`` -> ``1 year``; ``timedelta(hours=72)`` -> ``72 hours``."""
    seconds = int(value.total_seconds())
    units = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))
    for name, size in units:
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {name}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def iso_duration(value: timedelta) -> str:
    """An ISO 8601 duration for JSON output (``P365D``, ``PT1H``, ``P1DT30M``)."""
    days, rest = divmod(int(value.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = f"P{days}D" if days or not time else "P"
    return text + (f"T{time}" if time else "")


_CONSENT_BASIS = (
    "Explicit, separate consent (GDPR Art 9(2)(a); PIPL Art 29; CAC/MPS Facial Recognition "
    "Measures Art 6; BIPA 15(b) written release). BIPA 15(a) allows at most 3 years after the "
    "last interaction; this schedule keeps 1 year (PIPL Art 19, minimum necessary)."
)

#: The shipped schedule. Override or extend it with a JSON/TOML file (``RetentionPolicy.load``).
DEFAULT_RULES: tuple[dict[str, str], ...] = (
    {
        "data_category": "user.biometric.face.template",
        "purpose": "consent_recognition",
        "description": "Encrypted face template of a person who enrolled so that the guard "
        "leaves them unblurred.",
        "idle_limit": "P365D",
        "purpose_ends": "the person withdraws consent or is removed by the device owner",
        "basis": _CONSENT_BASIS,
    },
    {
        "data_category": "user.biometric.face.template",
        "purpose": "identity_verification",
        "description": "Encrypted face template used to unlock or sign in (kept on the device).",
        "idle_limit": "P365D",
        "purpose_ends": "the person withdraws consent, is un-enrolled, or the device is reset",
        "basis": _CONSENT_BASIS,
    },
    {
        "data_category": "user.biometric.face.image",
        "purpose": "enrolment",
        "description": "Face photo taken to create a template.",
        "period": "PT1H",
        "purpose_ends": "the template has been created",
        "basis": "GB/T 35273-2020 6.3: do not keep raw biometric images after the template is "
        "made; PIPL Art 19; GDPR Art 5(1)(c),(e).",
    },
    {
        "data_category": "user.media.recording.original",
        "purpose": "anonymisation",
        "description": "Original recording before bystanders are anonymised (device only).",
        "period": "PT72H",
        "purpose_ends": "the anonymised copy has been written",
        "basis": "GDPR Art 5(1)(e) storage limitation; EDPB Guidelines 3/2019 (erase after a "
        "few days; beyond 72 hours needs justification); PIPL Art 19.",
    },
    {
        "data_category": "user.consent.record",
        "purpose": "proof_of_consent",
        "description": "Consent record (who agreed to what, when, and any withdrawal).",
        "idle_limit": "P3Y",
        "purpose_ends": "3 years after the consent was last given, renewed or withdrawn",
        "basis": "GDPR Art 7(1) (demonstrate consent); BIPA 15(b) written release.",
    },
    {
        "data_category": "system.evidence.impact_assessment",
        "purpose": "accountability",
        "description": "Personal information / data protection impact assessment report.",
        "period": "P3Y",
        "purpose_ends": "3 years after the assessment",
        "basis": "PIPL Art 56 and CAC/MPS Facial Recognition Measures Art 9 (keep at least "
        "3 years); GDPR Art 35.",
    },
)

DEFAULT_GUIDELINES: tuple[str, ...] = (
    "Every stored item is registered with its data category, purpose and a retain-until date "
    "computed from this schedule.",
    "An item is destroyed when its purpose is satisfied (for example when consent is "
    "withdrawn) or when the period in this schedule ends, whichever comes first.",
    "`bystander retention run` destroys what is due; run it at least daily.",
    "Biometric templates are encrypted at rest (AES-256-GCM) with a key kept outside the "
    "database; destroying a template deletes its encrypted record. Files are unlinked.",
    "No biometric template is kept more than 3 years after the person's last interaction "
    "(Illinois BIPA 15(a)); this schedule sets 1 year.",
    "Each destruction is recorded in the tamper-evident audit log with the item id, category, "
    "purpose and reason, never the data itself.",
    "A destruction that fails is reported and retried on the next run until it succeeds.",
)


class RetentionPolicy(BaseModel):
    """The retention schedule: rules keyed by (data category, purpose), plus guidelines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = "Retention schedule and destruction guidelines"
    guidelines: tuple[str, ...] = DEFAULT_GUIDELINES
    rules: tuple[RetentionRule, ...]

    @model_validator(mode="after")
    def _unique(self) -> RetentionPolicy:
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            key = (rule.data_category, rule.purpose)
            if key in seen:
                raise ValueError(f"two rules for {key[0]}/{key[1]}")
            seen.add(key)
        return self

    @classmethod
    def default(cls) -> RetentionPolicy:
        """The shipped schedule."""
        return cls.model_validate({"rules": DEFAULT_RULES})

    @classmethod
    def load(cls, path: Path) -> RetentionPolicy:
        """Read a JSON or TOML policy file (keys ``title``, ``guidelines``, ``rules``,
        ``replace_defaults``). Its rules replace default rules with the same category and
        purpose and add new ones; ``replace_defaults = true`` drops the defaults."""
        data = _read_policy_file(path)
        replace = bool(data.pop("replace_defaults", False))
        rules: dict[tuple[str, str], Any] = {}
        if not replace:
            rules = {(r["data_category"], r["purpose"]): r for r in DEFAULT_RULES}
        for raw in data.pop("rules", []):
            if not isinstance(raw, Mapping):
                raise RetentionPolicyError(f"{path}: each rule must be a table/object")
            rules[(str(raw.get("data_category")), str(raw.get("purpose")))] = raw
        try:
            return cls.model_validate({**data, "rules": list(rules.values())})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RetentionPolicyError(f"{path}: {where}: {first['msg']}") from None

    def rule_for(self, data_category: str, purpose: str) -> RetentionRule:
        """The rule for a category and purpose; refuses data nobody declared a schedule for."""
        for rule in self.rules:
            if rule.data_category == data_category and rule.purpose == purpose:
                return rule
        raise RetentionPolicyError(
            f"no retention rule for data category {data_category!r} with purpose {purpose!r}; "
            "declare one in the retention policy before storing such data"
        )

    def find(self, data_category: str, purpose: str) -> RetentionRule | None:
        try:
            return self.rule_for(data_category, purpose)
        except RetentionPolicyError:
            return None

    def to_markdown(self) -> str:
        """The public schedule as a Markdown document."""
        lines = [f"# {self.title}", "", "## Schedule", ""]
        lines += [
            "| Data category | Purpose | What it is | Kept for | Destroyed earlier when | Basis |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rules:
            cells = (r.data_category, r.purpose, r.description, r.kept_for(), r.purpose_ends)
            row = [*cells, r.basis]
            lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
        lines += ["", "## Destruction guidelines", ""]
        lines += [f"- {g}" for g in self.guidelines]
        return "\n".join(lines) + "\n"

    def render(self, fmt: Literal["markdown", "json"] = "markdown") -> str:
        """The public schedule as Markdown or as JSON text."""
        if fmt == "json":
            return json.dumps(self.to_json_data(), indent=2) + "\n"
        return self.to_markdown()

    def to_json_data(self) -> dict[str, Any]:
        """The public schedule as JSON-ready data (durations in ISO 8601)."""
        return {
            "title": self.title,
            "guidelines": list(self.guidelines),
            "rules": [_rule_json(r) for r in self.rules],
        }


def _rule_json(rule: RetentionRule) -> dict[str, Any]:
    data = rule.model_dump(mode="json")
    for key in ("period", "idle_limit"):
        value = getattr(rule, key)
        data[key] = iso_duration(value) if value is not None else None
    data["kept_for"] = rule.kept_for()
    return data


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _read_policy_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RetentionPolicyError(f"cannot read policy {path}: {exc.strerror or exc}") from None
    try:
        data: Any = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RetentionPolicyError(f"{path} is not valid {kind}: {message}") from None
    if not isinstance(data, dict):
        raise RetentionPolicyError(f"{path}: the policy must be an object/table")
    return data


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
        now = _aware(now or utcnow())
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
        now = _aware(now or utcnow())
        with session_scope(self.engine) as session:
            row = self._live_row(session, item_id)
            row.last_used_at = now
            rule = self.policy.find(row.data_category, row.purpose)
            if rule is not None and row.purpose_ended_at is None:
                row.retain_until = rule.retain_until(row.created_at, now)
            return StoredItem.model_validate(row)

    def end_purpose(self, item_id: str, now: datetime | None = None) -> StoredItem:
        """The item's purpose is satisfied: it is due from ``now`` (destroyed by the next run)."""
        now = _aware(now or utcnow())
        with session_scope(self.engine) as session:
            row = self._live_row(session, item_id)
            row.purpose_ended_at = now
            row.retain_until = min(row.retain_until, now)
            return StoredItem.model_validate(row)

    def end_purpose_for_consent(self, consent_record_id: str, now: datetime | None = None) -> int:
        """Consent was withdrawn: every live item linked to it becomes due. Returns the count."""
        now = _aware(now or utcnow())
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
        now = _aware(now or utcnow())
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
        now = _aware(now or utcnow())
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
        now = _aware(now or utcnow())
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
]
