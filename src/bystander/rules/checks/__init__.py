"""Checks: small functions with metadata, registered in :data:`CHECKS` by id.

Each takes the evidence and a :class:`CheckContext` and returns a :class:`CheckOutcome`:
failed (with hits naming record refs), passed, not applicable, or insufficient evidence.
"""

from __future__ import annotations

from bystander.rules.checks import (  # noqa: F401  (importing registers the checks)
    biometrics,
    capture,
    commerce,
    documents,
    lifecycle,
    permissions,
    security,
    transfer,
)
from bystander.rules.checks.base import (
    CHECKS,
    MAX_HITS,
    Check,
    CheckContext,
    CheckOutcome,
    Hit,
    Status,
    check,
)

__all__ = [
    "CHECKS",
    "MAX_HITS",
    "Check",
    "CheckContext",
    "CheckOutcome",
    "Hit",
    "Status",
    "check",
]
