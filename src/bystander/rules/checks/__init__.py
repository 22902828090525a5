"""Checks: small functions with metadata, registered in :data:`CHECKS` by id.

Each takes the evidence and a :class:`CheckContext` and returns a :class:`CheckOutcome`:
failed (with hits naming record refs), passed, not applicable, or insufficient evidence.
"""

from __future__ import annotations

from bystander.rules.checks import (  # noqa: F401  (importing registers the checks)
    basis,
    biometrics,
    capture,
    commerce,
    documents,
    inference,
    lifecycle,
    permissions,
    places,
    security,
    transfer,
    xborder,
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
