"""Consent: ISO/IEC TS 27560 records with W3C DPV states, a fast check, JSON-LD and receipts.

>>> from bystander.consent import ConsentStore, ConsentKind, Scope   # doctest: +SKIP
>>> store = ConsentStore(engine, sink)                                # doctest: +SKIP
>>> store.check("ds-7f3a", Scope.FACE_ENROLMENT, kind=ConsentKind.SEPARATE)  # doctest: +SKIP
ConsentDecision(allowed=False, record_id=None, reason='no consent for face-enrolment')
"""

from __future__ import annotations

from bystander.consent.models import (
    SATISFIES,
    SEPARATE_SCOPES,
    ConsentDecision,
    ConsentError,
    ConsentEvent,
    ConsentFormatError,
    ConsentKind,
    ConsentLink,
    ConsentNotFoundError,
    ConsentRecord,
    ConsentState,
    Controller,
    DataSubject,
    DeletionTask,
    EventType,
    ImportResult,
    Processing,
    Recipient,
    Scope,
    SubjectRole,
    WithdrawalResult,
    satisfies,
)
from bystander.consent.store import ConsentStore

__all__ = [
    "SATISFIES",
    "SEPARATE_SCOPES",
    "ConsentDecision",
    "ConsentError",
    "ConsentEvent",
    "ConsentFormatError",
    "ConsentKind",
    "ConsentLink",
    "ConsentNotFoundError",
    "ConsentRecord",
    "ConsentState",
    "ConsentStore",
    "Controller",
    "DataSubject",
    "DeletionTask",
    "EventType",
    "ImportResult",
    "Processing",
    "Recipient",
    "Scope",
    "SubjectRole",
    "WithdrawalResult",
    "satisfies",
]
