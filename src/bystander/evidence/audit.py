"""The tamper-evident audit log, its offline verification and its export bundles.

One import for the three modules it is made of:

- ``audit_log``: the log itself (tables, ``AuditLog``, appends, proofs, checkpoints);
- ``audit_verify``: offline verification (``verify_records``, ``verify_database``,
  ``VerifyPolicy`` for coverage, rollback pins and witness cosignatures);
- ``audit_bundle``: export bundles (``export_bundle``, ``verify_bundle``, ``BundleReader``).
"""

from __future__ import annotations

from bystander.evidence.audit_bundle import (
    BundleHeader,
    BundleReader,
    export_bundle,
    verify_bundle,
)
from bystander.evidence.audit_log import (
    AUDIT_TABLES,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    FORBIDDEN_DATA_KEYS,
    MAX_EVENT_BYTES,
    AuditCheckpointRow,
    AuditEntryRow,
    AuditError,
    AuditIntegrityError,
    AuditLog,
    AuditNodeRow,
    BundleError,
    LoggedEvent,
    default_origin,
    event_type_of,
    node_id,
    node_key,
    require_audit_tables,
    serialize_event,
    sqlite_url_if_database,
)
from bystander.evidence.audit_verify import (
    CheckpointRecord,
    EntryRecord,
    Problem,
    VerifyPolicy,
    VerifyReport,
    local_verifier,
    verify_database,
    verify_records,
)

__all__ = [
    "AUDIT_TABLES",
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "FORBIDDEN_DATA_KEYS",
    "MAX_EVENT_BYTES",
    "AuditCheckpointRow",
    "AuditEntryRow",
    "AuditError",
    "AuditIntegrityError",
    "AuditLog",
    "AuditNodeRow",
    "BundleError",
    "BundleHeader",
    "BundleReader",
    "CheckpointRecord",
    "EntryRecord",
    "LoggedEvent",
    "Problem",
    "VerifyPolicy",
    "VerifyReport",
    "default_origin",
    "event_type_of",
    "export_bundle",
    "local_verifier",
    "node_id",
    "node_key",
    "require_audit_tables",
    "serialize_event",
    "sqlite_url_if_database",
    "verify_bundle",
    "verify_database",
    "verify_records",
]
