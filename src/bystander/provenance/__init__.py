"""C2PA provenance: sign outputs with the device identity and verify them offline.

>>> from bystander.provenance import init_identity, sign_protected, verify_file
>>> identity = init_identity(tmp / "id", common_name="glasses-0001")  # doctest: +SKIP
>>> sign_protected(out, item, settings.describe(), identity,
...                consent_refs=["rec-7"], checkpoint=cp)  # doctest: +SKIP
>>> verify_file(out, [identity.root_path]).state  # doctest: +SKIP
'trusted'
"""

from __future__ import annotations

from bystander.provenance.assertions import (
    AuditCheckpointAssertion,
    CaptureGuardAssertion,
    ConsentAssertion,
    ConsentReference,
    Fault,
    ProtectionAssertion,
    ProtectionTally,
    anonymized_action,
    capture_assertion,
    created_action,
    input_ingredient,
    opened_action,
    redacted_action,
)
from bystander.provenance.pki import (
    DeviceIdentity,
    IdentityError,
    default_directory,
    init_identity,
    load_identity,
)
from bystander.provenance.sign import (
    ProvenanceError,
    ProvenanceManifest,
    SignResult,
    protection_from_report,
    sign_capture,
    sign_file,
    sign_output,
    sign_protected,
    wall_time_of_monotonic,
)
from bystander.provenance.signer import CallbackSigner, KeyFileSigner, ProvenanceSigner
from bystander.provenance.verify import Failure, Verification, verify_file

__all__ = [
    "AuditCheckpointAssertion",
    "CallbackSigner",
    "CaptureGuardAssertion",
    "ConsentAssertion",
    "ConsentReference",
    "DeviceIdentity",
    "Failure",
    "Fault",
    "IdentityError",
    "KeyFileSigner",
    "ProtectionAssertion",
    "ProtectionTally",
    "ProvenanceError",
    "ProvenanceManifest",
    "ProvenanceSigner",
    "SignResult",
    "Verification",
    "anonymized_action",
    "capture_assertion",
    "created_action",
    "default_directory",
    "init_identity",
    "input_ingredient",
    "load_identity",
    "opened_action",
    "protection_from_report",
    "redacted_action",
    "sign_capture",
    "sign_file",
    "sign_output",
    "sign_protected",
    "verify_file",
    "wall_time_of_monotonic",
]
