"""Derived state checked against the audit log: rows nobody can change unseen.

The consent store, the template vault and the retention inventory keep state in ordinary
tables that anyone with write access to the database could edit (undo a withdrawal, bring a
deleted template back). Every change to that state is also an event in the signed audit log,
so the state can be rebuilt from the log and compared with the rows:

- ``consent_records``: the latest ``consent.*`` event of each record carries the record's
  state and the SHA-256 of its exact stored body (``record_sha256``); the row's body must
  hash to it, the indexed columns ``check`` reads (state, kind, validity, refusal, minor
  flag, scope count) must be what the body implies, and ``consent_scopes`` must list the
  body's scopes. A row the log never mentions, or a logged record whose row is gone, fails.
- ``consent_deletions``: every ``deletion.queued`` task must be a row, and every row a task.
- ``biometric_templates``: a stored template must have a ``template.created`` event and no
  ``template.deleted`` event; a created, never deleted template must still be stored.
- ``stored_items``: an item the log says ``retention.deleted`` must be marked deleted.

Why rebuild instead of a MAC on each row: a MAC key would have to sit on the same device as
the database it protects, so whoever can edit the rows can usually read the key too; the log
is anchored outside the device (pinned checkpoint keys, witnesses), so it is the stronger
root. Deletion-task completion and capture sessions are not logged as state, so they are
not checked here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, inspect, select

from bystander.consent.models import ConsentRecord, record_digest
from bystander.consent.store import deletions, record_row, record_scopes, records
from bystander.evidence.audit_log import ENTRIES, snapshot
from bystander.evidence.events import EventType
from bystander.evidence.retention import StoredItemRecord
from bystander.evidence.vault import TemplateRecord

#: Event types that describe derived state (the ``type`` column is verified by the log check).
STATE_EVENTS = (
    EventType.CONSENT_GIVEN,
    EventType.CONSENT_REFUSED,
    EventType.CONSENT_WITHDRAWN,
    EventType.CONSENT_EXPIRED,
    EventType.CONSENT_RENEWED,
    EventType.DELETION_QUEUED,
    EventType.TEMPLATE_CREATED,
    EventType.TEMPLATE_DELETED,
    EventType.RETENTION_DELETED,
)
_PREFIXES = tuple(f'{{"type":"{kind.value}",'.encode() for kind in STATE_EVENTS)
_COLUMNS = (
    "subject_id", "kind", "state", "under_14", "guardian_id", "scope_count", "refused_at",
    "validity", "expires_at",
)  # fmt: skip
_MAX_PROBLEMS = 100
_KEYS = {kind.value: "record_id" for kind in STATE_EVENTS[:5]} | {
    EventType.DELETION_QUEUED.value: "task_id",
    EventType.TEMPLATE_CREATED.value: "template_id",
    EventType.TEMPLATE_DELETED.value: "template_id",
    EventType.RETENTION_DELETED.value: "item_id",
}


@dataclass
class _Logged:
    index: int
    event: str
    state: str | None
    digest: str | None


@dataclass
class LoggedState:
    """What the log says the derived tables hold (the latest event wins)."""

    consents: dict[str, _Logged] = field(default_factory=dict)
    tasks: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    templates: dict[str, tuple[int, bool]] = field(default_factory=dict)  # id -> (index, alive)
    items_deleted: dict[str, int] = field(default_factory=dict)
    events: int = 0
    unhashed: int = 0
    malformed: list[str] = field(default_factory=list)

    def add(self, index: int, raw: bytes | str) -> None:
        """Apply one event (its exact JSON); events of other types are ignored."""
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        if not data.startswith(_PREFIXES):
            return
        event = json.loads(data)
        kind, body = str(event["type"]), event.get("data") or {}
        self.events += 1
        key = _KEYS[kind]
        if not isinstance(body.get(key), str):
            self.malformed.append(f"entry {index} ({kind}) names no {key}")
            return
        if kind.startswith("consent."):
            digest = body.get("record_sha256")
            self.unhashed += digest is None
            self.consents[str(body.get("record_id"))] = _Logged(
                index, kind, body.get("state"), digest
            )
        elif kind == EventType.DELETION_QUEUED:
            what = (
                str(body.get("record_id")),
                str(body.get("data_kind")),
                str(body.get("item_id")),
            )
            self.tasks[str(body.get("task_id"))] = (index, what)
        elif kind == EventType.TEMPLATE_CREATED:
            self.templates[str(body.get("template_id"))] = (index, True)
        elif kind == EventType.TEMPLATE_DELETED:
            self.templates[str(body.get("template_id"))] = (index, False)
        elif kind == EventType.RETENTION_DELETED:
            self.items_deleted[str(body.get("item_id"))] = index


def rebuild(events: Iterable[tuple[int, bytes | str]]) -> LoggedState:
    """The state the log describes, from ``(index, event JSON)`` pairs in log order."""
    state = LoggedState()
    for index, raw in events:
        state.add(index, raw)
    return state


def database_events(engine: Engine, stop: int) -> Iterator[tuple[int, str]]:
    """The state events among the first ``stop`` entries of the log in ``engine``."""
    query = (
        select(ENTRIES.c.idx, ENTRIES.c.event_json)
        .where(ENTRIES.c.type.in_([k.value for k in STATE_EVENTS]), ENTRIES.c.idx < stop)
        .order_by(ENTRIES.c.idx)
    )
    with snapshot(engine) as conn:
        yield from conn.execution_options(yield_per=5000).execute(query).tuples()


@dataclass
class StateReport:
    """What ``check_state`` found: one line per row that disagrees with the log."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    omitted: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.omitted += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": self.problems,
            "problems_omitted": self.omitted,
            "warnings": self.warnings,
        }


def check_state(engine: Engine, state: LoggedState) -> StateReport:
    """Compare the derived tables in ``engine`` with ``state`` (rebuilt from a verified log)."""
    report = StateReport()
    for line in state.malformed:
        report.add(line)
    tables = set(inspect(engine).get_table_names())
    with snapshot(engine) as conn:
        if records.name in tables:
            _check_consents(conn, state, report)
            _check_tasks(conn, state, report)
        if TemplateRecord.__tablename__ in tables:
            _check_templates(conn, state, report)
        if StoredItemRecord.__tablename__ in tables:
            _check_items(conn, state, report)
    if state.unhashed:
        report.warnings.append(
            f"{state.unhashed} consent event(s) carry no record hash (logged by an older "
            "version): only their state was compared"
        )
    return report


def _check_consents(conn: Connection, state: LoggedState, report: StateReport) -> None:
    scopes: dict[str, set[tuple[str, str]]] = {}
    for record_id, scope, subject in conn.execute(
        select(record_scopes.c.record_id, record_scopes.c.scope, record_scopes.c.subject_id)
    ):
        scopes.setdefault(record_id, set()).add((scope, subject))
    seen: set[str] = set()
    count = 0
    for row in conn.execute(select(records)).mappings():
        count += 1
        record_id = str(row["id"])
        seen.add(record_id)
        where = f"consent_records row {record_id}"
        logged = state.consents.get(record_id)
        if logged is None:
            report.add(f"{where} is not in the audit log (inserted outside the consent store)")
            continue
        what = f"entry {logged.index} ({logged.event})"
        if logged.digest is not None and logged.digest != record_digest(row["body"]):
            report.add(f"{where}: its body differs from the record logged at {what}")
            continue
        record = _parse(row["body"])
        if record is None or record.id != record_id:
            report.add(f"{where}: its body is not a valid consent record with this id")
            continue
        if logged.state is not None and record.state.value != logged.state:
            report.add(f"{where} is {record.state.value} but {what} says {logged.state}")
            continue
        expected = record_row(record)
        changed = [c for c in _COLUMNS if row[c] != expected[c]]
        if row["created_at"] != record.created_at:
            changed.append("created_at")
        if changed:
            report.add(
                f"{where}: column(s) {', '.join(changed)} differ from its record "
                f"(logged at {what}), so `consent check` would answer wrongly"
            )
        wanted = {(s.value, record.subject.id) for s in record.scopes}
        if scopes.get(record_id, set()) != wanted:
            report.add(f"consent_scopes rows of {record_id} differ from its logged scopes")
    for record_id in scopes.keys() - seen:
        report.add(f"consent_scopes rows of {record_id} have no consent record")
    for record_id, logged in state.consents.items():
        if record_id not in seen:
            report.add(
                f"consent record {record_id} logged at entry {logged.index} ({logged.event}) "
                "is missing from consent_records"
            )
    report.checked["consent_records"] = count


def _check_tasks(conn: Connection, state: LoggedState, report: StateReport) -> None:
    query = select(
        deletions.c.id, deletions.c.record_id, deletions.c.data_kind, deletions.c.item_id
    )
    seen: set[str] = set()
    for task_id, record_id, data_kind, item_id in conn.execute(query):
        seen.add(task_id)
        logged = state.tasks.get(task_id)
        if logged is None:
            report.add(f"consent_deletions row {task_id} is not in the audit log")
        elif logged[1] != (record_id, data_kind, item_id):
            report.add(
                f"consent_deletions row {task_id} differs from the task logged at entry {logged[0]}"
            )
    for task_id, (index, _) in state.tasks.items():
        if task_id not in seen:
            report.add(
                f"deletion task {task_id} logged at entry {index} is missing from consent_deletions"
            )
    report.checked["consent_deletions"] = len(seen)


def _check_templates(conn: Connection, state: LoggedState, report: StateReport) -> None:
    stored = set(conn.scalars(select(TemplateRecord.id)))
    for template_id in sorted(stored):
        logged = state.templates.get(template_id)
        if logged is None:
            report.add(f"biometric_templates row {template_id} is not in the audit log")
        elif not logged[1]:
            report.add(
                f"biometric_templates row {template_id} is still stored although entry "
                f"{logged[0]} logged its deletion"
            )
    for template_id, (index, alive) in state.templates.items():
        if alive and template_id not in stored:
            report.add(
                f"template {template_id} logged at entry {index} is gone from "
                "biometric_templates without a template.deleted event"
            )
    report.checked["biometric_templates"] = len(stored)


def _check_items(conn: Connection, state: LoggedState, report: StateReport) -> None:
    rows = dict(
        conn.execute(select(StoredItemRecord.id, StoredItemRecord.deleted_at)).tuples().all()
    )
    for item_id, index in state.items_deleted.items():
        if item_id in rows and rows[item_id] is None:
            report.add(
                f"stored_items row {item_id} is not marked deleted although entry {index} "
                "logged its deletion"
            )
    report.checked["stored_items"] = len(rows)


def _parse(body: str) -> ConsentRecord | None:
    try:
        return ConsentRecord.model_validate_json(body)
    except ValidationError:
        return None
