"""Uploaded originals are personal data: registered on arrival, destroyed when their job ends.

An upload is registered in the retention inventory (``user.media.recording.original`` for
``anonymisation``: at most 72 hours) the moment it is stored (mode 0600 in a 0700 folder).
When its job ends, done or failed, it is destroyed and the destruction is an audit event
(``retention.deleted``), unless a moderator must still see it (a held screening item): then
it stays under its retention period and ``retention run`` (which the service also runs every
hour) destroys it when that ends. Every call here does file and database work: call it from
a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bystander.evidence.events import AuditEvent, EventType
from bystander.evidence.retention import RetentionManager

if TYPE_CHECKING:
    from bystander.service.services import Services

CATEGORY = "user.media.recording.original"
PURPOSE = "anonymisation"
SWEEP_SECONDS = 3600.0


def register_original(found: Services, path: Path) -> str:
    """Put ``path`` in the retention inventory (and make it 0600); the item id."""
    os.chmod(path, 0o600)
    return RetentionManager(found.engine, found.audit).register(CATEGORY, PURPOSE, str(path)).id


def release_original(found: Services, item_id: str, path: Path) -> None:
    """The job is over: destroy the original now and log it (idempotent)."""
    path.unlink(missing_ok=True)
    manager = RetentionManager(found.engine, found.audit)
    found.audit.append(AuditEvent(
        type=EventType.RETENTION_DELETED, reason="purpose_satisfied",
        data={"item_id": item_id, "data_category": CATEGORY, "purpose": PURPOSE,
              "file": path.name},
    ))  # fmt: skip
    manager.mark_deleted(item_id)


def discard_original(found: Services, folder: Path, what: str) -> None:
    """Destroy a folder of never-kept uploads (an enrolment photo) and log each file."""
    if not folder.exists():
        return
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        path.unlink(missing_ok=True)
        found.audit.append(AuditEvent(type=EventType.RETENTION_DELETED,
                                      reason="purpose_satisfied",
                                      data={"what": what, "file": path.name}))  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


class RetentionSweeper:
    """Runs the retention schedule at start-up and every ``SWEEP_SECONDS`` (a thread)."""

    def __init__(self, found: Services, interval: float = SWEEP_SECONDS) -> None:
        self.found, self.interval = found, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bystander-retention",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # the next sweep retries
                RetentionManager(self.found.engine, self.found.audit).run()
            self._stop.wait(self.interval)
