"""What an upload's C2PA manifest proves about how it was captured and protected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bystander.provenance.assertions import CAPTURE_GUARD, CONSENT, PROTECTION
from bystander.provenance.verify import MIME_TYPES, verify_file


@dataclass(frozen=True)
class ProvenanceFacts:
    """The manifest's state (trusted, valid, invalid, unsigned) and the capture facts.

    ``compliant`` holds when a trusted signer vouches for: the indicator confirmed before
    the first frame with no faults, at least one consent record, and bystander protection;
    ``violations`` says which of these are missing otherwise.
    """

    state: str
    signer: str | None = None
    problem: str | None = None
    indicator_on: bool = False
    consent_records: tuple[str, ...] = ()
    consent_count: int = 0
    protected: bool = False
    faces_kept_visible: int = 0
    violations: tuple[str, ...] = field(default_factory=tuple)

    @property
    def compliant(self) -> bool:
        return self.state == "trusted" and not self.violations

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["consent_records"] = list(self.consent_records)
        data["violations"] = list(self.violations)
        data["compliant"] = self.compliant
        return data


def provenance_facts(path: Path, trust_roots: Sequence[Path]) -> ProvenanceFacts:
    """Verify ``path`` offline against ``trust_roots``; formats without C2PA are unsigned."""
    if path.suffix.lower() not in MIME_TYPES:
        return ProvenanceFacts("unsigned", problem=f"{path.suffix or 'this'} cannot carry C2PA")
    found = verify_file(path, trust_roots or None, require=())
    if found.state in ("unsigned", "invalid"):
        problem = "; ".join(f.explanation for f in found.failures) or None
        return ProvenanceFacts(found.state, found.signer, problem)
    guard = found.assertions.get(CAPTURE_GUARD) or {}
    consent = found.assertions.get(CONSENT) or {}
    protection = found.assertions.get(PROTECTION) or {}
    records = [r for r in consent.get("records") or [] if isinstance(r, dict)]
    confirmed, first = guard.get("indicator_confirmed_ns"), guard.get("first_frame_ns")
    indicator_on = (
        isinstance(confirmed, int)
        and isinstance(first, int)
        and confirmed < first
        and not guard.get("faults")
    )
    violations = []
    if not guard:
        violations.append("no capture-guard record: the indicator and consent are unproven")
    elif not indicator_on:
        violations.append("the indicator was not confirmed on before the first frame")
    if not records:
        violations.append("no consent record referenced")
    if not protection:
        violations.append("no bystander protection applied")
    return ProvenanceFacts(
        state=found.state,
        signer=found.signer,
        indicator_on=indicator_on,
        consent_records=tuple(str(r["record_id"]) for r in records if r.get("record_id")),
        consent_count=len(records),
        protected=bool(protection),
        faces_kept_visible=int(protection.get("faces_kept_visible") or 0),
        violations=tuple(violations),
    )
