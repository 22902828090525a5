"""Keep a long-running writer's log covered: sign a checkpoint every few seconds and at close.

Verification fails on entries no signed checkpoint covers, so a service that logs as it
serves cannot wait for someone to ask for a checkpoint. ``PeriodicSealer`` signs one (only
when the writer appended since its last) every ``interval`` seconds, and once more when closed.

    sealer = PeriodicSealer(audit_log, interval=1.0)
    ...
    sealer.close()           # the last entries are covered before the process ends
"""

from __future__ import annotations

import logging
import threading

from bystander.evidence.audit_log import AuditLog

#: How often a serving process covers what it logged (seconds).
SEAL_SECONDS = 1.0

_LOG = logging.getLogger(__name__)


class PeriodicSealer:
    """A thread that calls ``log.seal()`` every ``interval`` seconds and on ``close()``."""

    def __init__(self, log: AuditLog, interval: float = SEAL_SECONDS) -> None:
        if interval <= 0:
            raise ValueError("the sealing interval must be positive")
        self.log, self.interval = log, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bystander-sealer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, then cover whatever was logged since the last seal."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._seal()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._seal()

    def _seal(self) -> None:
        try:
            self.log.seal()
        except Exception:  # the next round retries; verification reports what stays uncovered
            _LOG.exception("could not sign an audit checkpoint")
