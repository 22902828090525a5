"""The moderation queue: screened uploads, reviewer decisions, complaints and takedowns.

Every change is an audit event (``moderation.*``), appended after the database commit, with
ids, decisions, rule ids and deadlines only. Statuses: ``accepted``, ``anonymized`` (the
protected version is published), ``held`` (waiting for a reviewer), ``rejected`` and
``taken_down``. A complaint (notice and takedown, Civil Code Art 1195) gets a deadline from
the policy; ``stats`` reports open and overdue complaints and time to takedown.

>>> queue = ModerationQueue(engine, AuditLog(engine))             # doctest: +SKIP
>>> item = queue.submit(screener.screen(Path("upload.mp4")))      # doctest: +SKIP
>>> queue.decide(item.id, "reviewer-3", Decision.REJECT, "stranger filmed in a changing room")
"""

from __future__ import annotations

import builtins
import json
import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from bystander.errors import InputError
from bystander.evidence.db import session_scope
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.screening.policy import Decision
from bystander.screening.screen import TAKEDOWN, ScreenOutcome
from bystander.screening.tables import Complaint, ModerationAction, ModerationItem

#: Status an item gets from a decision.
STATUS = {
    Decision.ACCEPT: "accepted",
    Decision.ANONYMIZE: "anonymized",
    Decision.HOLD: "held",
    Decision.REJECT: "rejected",
}
TAKEN_DOWN = "taken_down"
STATUSES = (*STATUS.values(), TAKEN_DOWN)
MAX_TEXT = 2000


class ModerationError(InputError):
    """A moderation request that cannot be carried out (unknown item, bad state)."""


@dataclass(frozen=True)
class QueueItem:
    id: str
    sha256: str | None
    path: str
    status: str
    screened_decision: str
    upload_class: str
    created_at: datetime
    decided_at: datetime | None
    taken_down_at: datetime | None
    anonymized_path: str | None
    outcome: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "path": self.path,
            "status": self.status,
            "screened_decision": self.screened_decision,
            "class": self.upload_class,
            "created_at": _iso(self.created_at),
            "decided_at": _iso(self.decided_at),
            "taken_down_at": _iso(self.taken_down_at),
            "anonymized_path": self.anonymized_path,
            "reasons": self.outcome.get("reasons", []),
            "rules": self.outcome.get("rules", []),
        }


@dataclass(frozen=True)
class ComplaintInfo:
    id: str
    item_id: str
    complainant: str
    grounds: str
    received_at: datetime
    deadline: datetime
    resolved_at: datetime | None
    outcome: str | None

    def overdue(self, now: datetime) -> bool:
        return (self.resolved_at or now) > self.deadline

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "complainant": self.complainant,
            "grounds": self.grounds,
            "received_at": _iso(self.received_at),
            "deadline": _iso(self.deadline),
            "resolved_at": _iso(self.resolved_at),
            "outcome": self.outcome,
            "overdue": self.overdue(now or datetime.now(UTC)),
        }


@dataclass(frozen=True)
class QueueStats:
    items_by_status: dict[str, int]
    open_complaints: int
    overdue_complaints: int
    takedowns: int
    median_hours_to_takedown: float | None
    p95_hours_to_takedown: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ModerationQueue:
    """The queue over the evidence store (SQLite or PostgreSQL)."""

    def __init__(
        self, engine: Engine, sink: EventSink, *, takedown_deadline: timedelta | None = None
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.takedown_deadline = takedown_deadline or timedelta(hours=24)

    # -- items ------------------------------------------------------------------------------

    def submit(self, outcome: ScreenOutcome, at: datetime | None = None) -> QueueItem:
        """Record a screening outcome as a new item, with the screener's decision."""
        now = _now(at)
        data = outcome.to_dict()
        status = STATUS[outcome.decision]
        row = ModerationItem(
            id=uuid.uuid4().hex,
            sha256=outcome.sha256,
            path=outcome.path[:MAX_TEXT],
            size=outcome.size,
            screened_decision=outcome.decision.value,
            status=status,
            upload_class=outcome.upload_class,
            outcome_json=json.dumps(data, sort_keys=True),
            anonymized_path=outcome.anonymized_path,
            created_at=now,
            decided_at=None if status == "held" else now,
            taken_down_at=None,
        )
        with session_scope(self.engine) as session:
            session.add(row)
            session.flush()  # the item before its first action (foreign key)
            session.add(_action(row.id, "screener", "screened", status, "", now))
            session.flush()
            item = _item(row)
        self._emit(
            EventType.SCREEN_DECIDED,
            item.id,
            decision=outcome.decision.value,
            status=status,
            upload_class=outcome.upload_class,
            sha256=outcome.sha256,
            rules=data["rules"],
            faces=(outcome.faces.identifiable_faces if outcome.faces else None),
            people=(outcome.faces.distinct_people if outcome.faces else None),
        )
        if status == "held":
            self._emit(EventType.MODERATION_QUEUED, item.id, upload_class=outcome.upload_class)
        return item

    def get(self, item_id: str) -> QueueItem:
        with session_scope(self.engine) as session:
            return _item(self._row(session, item_id))

    def list(self, status: str | None = None, limit: int = 100) -> list[QueueItem]:
        """Items, newest first (optionally with one status)."""
        if status is not None and status not in STATUSES:
            raise ModerationError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        query = select(ModerationItem).order_by(ModerationItem.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(ModerationItem.status == status)
        with session_scope(self.engine) as session:
            return [_item(row) for row in session.scalars(query)]

    def actions(self, item_id: str) -> builtins.list[dict[str, Any]]:
        query = select(ModerationAction).where(ModerationAction.item_id == item_id)
        with session_scope(self.engine) as session:
            self._row(session, item_id)
            return [
                {"actor": a.actor, "action": a.action, "status": a.status, "note": a.note,
                 "at": _iso(a.at)}
                for a in session.scalars(query.order_by(ModerationAction.id))
            ]  # fmt: skip

    def decide(
        self, item_id: str, reviewer: str, decision: Decision, note: str = "",
        at: datetime | None = None,
    ) -> QueueItem:  # fmt: skip
        """A reviewer's decision on an item (any item not taken down)."""
        now = _now(at)
        reviewer, note = _text(reviewer, "reviewer", 128), _text(note, "note", MAX_TEXT, True)
        decision = Decision(decision)
        if decision is Decision.ANONYMIZE:
            raise ModerationError("a reviewer accepts, holds or rejects (not anonymize)")
        status = STATUS[decision]
        with session_scope(self.engine) as session:
            row = self._row(session, item_id, lock=True)
            if row.status == TAKEN_DOWN:
                raise ModerationError(f"item {item_id} was taken down; it cannot be decided again")
            row.status, row.decided_at = status, now
            session.add(_action(item_id, reviewer, "decided", status, note, now))
            session.flush()
            item = _item(row)
        self._emit(EventType.MODERATION_DECIDED, item_id, decision=decision.value, status=status,
                   reviewer=reviewer)  # fmt: skip
        return item

    def take_down(
        self, item_id: str, actor: str, reason: str, at: datetime | None = None
    ) -> QueueItem:
        """Remove an item from publication; resolves its open complaints."""
        now = _now(at)
        actor, reason = _text(actor, "actor", 128), _text(reason, "reason", MAX_TEXT)
        with session_scope(self.engine) as session:
            row = self._row(session, item_id, lock=True)
            if row.status == TAKEN_DOWN:
                raise ModerationError(f"item {item_id} is already taken down")
            row.status, row.taken_down_at = TAKEN_DOWN, now
            session.add(_action(item_id, actor, "taken_down", TAKEN_DOWN, reason, now))
            open_ = session.scalars(
                select(Complaint).where(
                    Complaint.item_id == item_id, Complaint.resolved_at.is_(None)
                )
            ).all()
            for complaint in open_:
                complaint.resolved_at, complaint.outcome = now, "taken_down"
            session.flush()
            item = _item(row)
            resolved = [(c.id, (now - _aware(c.received_at)).total_seconds()) for c in open_]
        self._emit(EventType.TAKEDOWN, item_id, actor=actor, rules=list(TAKEDOWN),
                   complaints=[c for c, _ in resolved],
                   seconds_since_complaint=[round(s, 3) for _, s in resolved])  # fmt: skip
        return item

    # -- complaints -------------------------------------------------------------------------

    def complain(
        self, item_or_sha256: str, complainant: str, grounds: str, at: datetime | None = None
    ) -> ComplaintInfo:
        """Record a notice about an item (by id or by the upload's SHA-256)."""
        now = _now(at)
        complainant = _text(complainant, "complainant", 128)
        grounds = _text(grounds, "grounds", MAX_TEXT)
        with session_scope(self.engine) as session:
            row = session.get(ModerationItem, item_or_sha256) or session.scalars(
                select(ModerationItem)
                .where(ModerationItem.sha256 == item_or_sha256.lower())
                .order_by(ModerationItem.created_at.desc())
            ).first()
            if row is None:
                raise ModerationError(f"no moderation item or upload {item_or_sha256!r}")
            complaint = Complaint(
                id=uuid.uuid4().hex,
                item_id=row.id,
                complainant=complainant,
                grounds=grounds,
                received_at=now,
                deadline=now + self.takedown_deadline,
                resolved_at=None,
                outcome=None,
            )
            session.add(complaint)
            session.flush()
            session.add(_action(row.id, complainant, "complaint", row.status, grounds, now))
            session.flush()
            info = _complaint(complaint)
        self._emit(EventType.COMPLAINT_RECEIVED, info.item_id, complaint=info.id,
                   deadline=_iso(info.deadline), rules=list(TAKEDOWN))  # fmt: skip
        return info

    def complaints(self, *, open_only: bool = False) -> builtins.list[ComplaintInfo]:
        query = select(Complaint).order_by(Complaint.deadline)
        if open_only:
            query = query.where(Complaint.resolved_at.is_(None))
        with session_scope(self.engine) as session:
            return [_complaint(c) for c in session.scalars(query)]

    def resolve(
        self, complaint_id: str, actor: str, outcome: str, at: datetime | None = None
    ) -> ComplaintInfo:
        """Close a complaint without a takedown (e.g. ``rejected``: the item stays up)."""
        now = _now(at)
        actor, outcome = _text(actor, "actor", 128), _text(outcome, "outcome", 32)
        with session_scope(self.engine) as session:
            complaint = session.get(Complaint, complaint_id)
            if complaint is None:
                raise ModerationError(f"no complaint {complaint_id!r}")
            if complaint.resolved_at is not None:
                raise ModerationError(f"complaint {complaint_id} is already resolved")
            complaint.resolved_at, complaint.outcome = now, outcome
            item = self._row(session, complaint.item_id)
            session.add(_action(item.id, actor, "complaint_resolved", item.status, outcome, now))
            session.flush()
            info = _complaint(complaint)
        self._emit(EventType.MODERATION_ACTION, info.item_id, action="complaint_resolved",
                   complaint=info.id, outcome=outcome, actor=actor)  # fmt: skip
        return info

    def stats(self, now: datetime | None = None) -> QueueStats:
        """Counts by status, open and overdue complaints, hours from complaint to takedown."""
        when = _now(now)
        with session_scope(self.engine) as session:
            statuses = [row.status for row in session.scalars(select(ModerationItem))]
            complaints = [_complaint(c) for c in session.scalars(select(Complaint))]
        hours = sorted(
            (c.resolved_at - c.received_at).total_seconds() / 3600
            for c in complaints
            if c.resolved_at is not None and c.outcome == "taken_down"
        )
        return QueueStats(
            items_by_status={s: statuses.count(s) for s in STATUSES if s in statuses},
            open_complaints=sum(c.resolved_at is None for c in complaints),
            overdue_complaints=sum(c.overdue(when) for c in complaints),
            takedowns=statuses.count(TAKEN_DOWN),
            median_hours_to_takedown=round(statistics.median(hours), 3) if hours else None,
            p95_hours_to_takedown=(
                round(hours[min(len(hours) - 1, int(0.95 * len(hours)))], 3) if hours else None
            ),
        )

    # -- internals --------------------------------------------------------------------------

    def _row(self, session: Any, item_id: str, lock: bool = False) -> ModerationItem:
        query = select(ModerationItem).where(ModerationItem.id == item_id)
        if lock:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            raise ModerationError(f"no moderation item {item_id!r}")
        return row  # type: ignore[no-any-return]

    def _emit(self, event_type: EventType, item_id: str, **data: Any) -> None:
        payload = {"item_id": item_id, **{k: v for k, v in data.items() if v is not None}}
        self.sink.append(AuditEvent(type=event_type, data=payload))


def _action(
    item_id: str, actor: str, action: str, status: str, note: str, at: datetime
) -> ModerationAction:
    return ModerationAction(item_id=item_id, actor=actor, action=action, status=status,
                            note=note, at=at)  # fmt: skip


def _item(row: ModerationItem) -> QueueItem:
    return QueueItem(
        id=row.id,
        sha256=row.sha256,
        path=row.path,
        status=row.status,
        screened_decision=row.screened_decision,
        upload_class=row.upload_class,
        created_at=_aware(row.created_at),
        decided_at=_aware(row.decided_at) if row.decided_at else None,
        taken_down_at=_aware(row.taken_down_at) if row.taken_down_at else None,
        anonymized_path=row.anonymized_path,
        outcome=json.loads(row.outcome_json),
    )


def _complaint(row: Complaint) -> ComplaintInfo:
    return ComplaintInfo(
        id=row.id,
        item_id=row.item_id,
        complainant=row.complainant,
        grounds=row.grounds,
        received_at=_aware(row.received_at),
        deadline=_aware(row.deadline),
        resolved_at=_aware(row.resolved_at) if row.resolved_at else None,
        outcome=row.outcome,
    )


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _now(at: datetime | None) -> datetime:
    return _aware(at) if at is not None else datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _text(value: str, name: str, limit: int, empty: bool = False) -> str:
    value = (value or "").strip()
    if not value and not empty:
        raise ModerationError(f"{name} must not be empty")
    if len(value) > limit:
        raise ModerationError(f"{name} is longer than {limit} characters")
    return value
