"""Carry out the deletion work that follows a consent withdrawal.

Withdrawing consent (``ConsentStore.withdraw``) takes effect at once and queues deletion
tasks for data linked to the record. This module does the deleting: face templates made
under that consent leave the vault, stored items that depended on it are made due and
destroyed by the retention manager, and each task is marked complete only once its data is
gone. Every deletion is logged by the component that performs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bystander.consent.models import DeletionTask
from bystander.consent.store import ConsentStore
from bystander.evidence.retention import RetentionError, RetentionManager
from bystander.evidence.vault import FACE_TEMPLATE, TemplateVault

#: Link kinds (``ConsentStore.link(record, data_kind, item_id)``) that name a vault template.
TEMPLATE_KINDS = frozenset({"face-template", FACE_TEMPLATE})


@dataclass
class DeletionReport:
    templates_deleted: int = 0
    items_deleted: int = 0
    tasks_completed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def withdraw_and_delete(
    consents: ConsentStore,
    record_id: str,
    vault: TemplateVault | None = None,
    retention: RetentionManager | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> DeletionReport:
    """Withdraw ``record_id`` and delete everything that depended on it, now."""
    consents.withdraw(record_id, at=now, reason=reason)
    return carry_out_deletions(consents, vault, retention, now=now, records={record_id})


def carry_out_deletions(
    consents: ConsentStore,
    vault: TemplateVault | None = None,
    retention: RetentionManager | None = None,
    now: datetime | None = None,
    records: set[str] | None = None,
) -> DeletionReport:
    """Delete the data of every withdrawn record with pending tasks (plus ``records``).

    Safe to run again after a crash: deleting what is already gone is a no-op, and tasks
    stay pending until their data is confirmed deleted.
    """
    report = prepare_deletions(consents, vault, retention, now=now, records=records)
    if retention is not None:
        run = retention.run(now=now)
        report.items_deleted = len(run.deleted)
        report.failures.extend(f"{f.item_id}: {f.error}" for f in run.failed)
    finish_deletions(consents, vault, retention, report, now=now)
    return report


def prepare_deletions(
    consents: ConsentStore,
    vault: TemplateVault | None = None,
    retention: RetentionManager | None = None,
    now: datetime | None = None,
    records: set[str] | None = None,
) -> DeletionReport:
    """Step 1: delete vault templates and make stored items due for withdrawn records.

    The caller then runs retention (``RetentionManager.run``) and ``finish_deletions``.
    """
    report = DeletionReport()
    record_ids = {task.record_id for task in consents.pending_deletions()} | (records or set())
    for record_id in sorted(record_ids):
        if vault is not None:
            report.templates_deleted += vault.delete_for_consent(record_id)
        if retention is not None:
            retention.end_purpose_for_consent(record_id, now=now)
    return report


def finish_deletions(
    consents: ConsentStore,
    vault: TemplateVault | None,
    retention: RetentionManager | None,
    report: DeletionReport,
    now: datetime | None = None,
) -> None:
    """Step 3: mark each pending task complete once its data is confirmed gone."""
    failed_items = {f.split(":", 1)[0] for f in report.failures}
    for task in consents.pending_deletions():
        if _finish(task, consents, vault, retention, failed_items, report, now):
            report.tasks_completed += 1


def _finish(
    task: DeletionTask,
    consents: ConsentStore,
    vault: TemplateVault | None,
    retention: RetentionManager | None,
    failed_items: set[str],
    report: DeletionReport,
    now: datetime | None,
) -> bool:
    """Delete one task's item if it is still there; mark the task complete if it is gone."""
    try:
        if task.data_kind in TEMPLATE_KINDS:
            if vault is None:
                return False
            vault.delete(task.item_id, reason="consent withdrawn")
        elif retention is None or task.item_id in failed_items:
            return False  # cannot confirm the data is gone: the task stays pending
        else:
            try:
                item = retention.get(task.item_id)
            except RetentionError:
                item = None  # not a stored item (or already purged): nothing left to delete
            if item is not None and item.deleted_at is None:
                return False
        consents.complete_deletion(task.id, at=now)
        return True
    except Exception as exc:
        report.failures.append(f"{task.item_id}: {type(exc).__name__}: {exc}")
        return False
