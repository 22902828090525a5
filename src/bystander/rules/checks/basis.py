"""A legal basis for processing (PIPL Art 13): recording and biometrics before any consent.

Consent is the basis a camera device relies on; the other bases of Art 13 (a contract the
person is party to, a statutory duty, an emergency, news reporting, data already disclosed,
another law) must be declared in the profile (``legal_bases``) and are reported, not verified.
Transfers to the cloud are judged by ``cloud_transfer_without_consent``.
"""

from __future__ import annotations

from bystander.inspect.records import Evidence
from bystander.rules.checks.base import (
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    insufficient,
    iso,
    passed,
)
from bystander.rules.checks.capture import unconsented_captures
from bystander.rules.checks.index import PROCESSING_OPS, ConsentIndex, op_scope


@check(
    "processing_without_legal_basis",
    "Recording or biometric processing with no legal basis",
    ("captures", "biometric_ops", "consents"),
)
def processing_without_legal_basis(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Recording that started before any recording consent, or biometric processing of a
    person who never consented (a stranger has no consent of theirs), with no other basis
    declared."""
    ops = [op for op in ev.biometric_ops if op.op in PROCESSING_OPS]
    if not ev.captures and not ops:
        if ev.has_audit_log:
            return passed("the audit log records no capture or biometric processing")
        return insufficient("no capture or biometric operation records in the bundle")
    declared = ev.device.legal_bases
    if declared:
        return passed(f"declared legal basis: {', '.join(declared)} (not verified)")
    hits = Hits("processing with no legal basis")
    for c, why in unconsented_captures(ev):
        if hits.want():
            hits.add(c.ref, f"{c.sensor} recording from {iso(c.t_start)}: {why} to recording")
    indexes: dict[str, ConsentIndex] = {}
    for op in ops:
        scope = op_scope(op)
        idx = indexes.get(scope)
        if idx is None:
            idx = indexes[scope] = ConsentIndex(ev.consents, scope)
        if (op.subject_id is None or not idx.own(op.subject_id, op.t)) and hits.want():
            who = op.subject_id or "an unidentified person"
            hits.add(
                op.ref, f"{op.modality} {op.op} of {who} at {iso(op.t)} with no consent of theirs"
            )
    return hits.outcome("every recording and biometric operation had consent")
