"""Screen one upload: what its provenance proves, who can be identified in it, what to do.

>>> screener = Screener(load_policy(None), trust_roots=[Path("root-ca.pem")])  # doctest: +SKIP
>>> screener.screen(Path("upload.mp4")).decision                             # doctest: +SKIP
<Decision.ACCEPT: 'accept'>

The decision follows the policy (``bystander.screening.policy``) from the upload's *class*:

- compliant: a trusted signer, a capture-guard assertion with the indicator confirmed before
  the first frame and no faults, consent records referenced, and bystander protection
  applied; identifiable faces only as many as the device says it kept visible under consent;
- tampered: a manifest that fails validation;
- unsigned (no manifest, a format that cannot carry one, or a signer outside the trust list)
  and noncompliant (a valid manifest that breaks the capture rules), each with or without
  identifiable faces;
- unreadable: the file cannot be decoded whole.

Each reason cites the rules in the catalog it rests on. ``screen`` never raises for a bad
upload: the outcome carries the error.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bystander.errors import BystanderError
from bystander.screening.faces import FaceCensus, census
from bystander.screening.policy import Decision, ScreeningPolicy
from bystander.screening.provenance_check import ProvenanceFacts, provenance_facts
from bystander.vision.detectors import FaceDetector, create_detector

#: Rules each kind of reason rests on (ids in ``bystander/rules/data/catalog``).
PORTRAIT = ("CN-CIVIL-1019", "CN-PIPL-25-PUBLISH")
COVERT = ("CN-CAICT-GLASSES-INDICATOR", "CN-CAICT-GLASSES-CONSENT")
TAKEDOWN = ("CN-CIVIL-1195",)


@dataclass(frozen=True)
class Reason:
    """One reason for a decision, with the rules it rests on."""

    text: str
    rules: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "rules": list(self.rules)}


@dataclass(frozen=True)
class ScreenOutcome:
    """The screening of one upload (no pixels, no biometric data)."""

    path: str
    sha256: str | None
    size: int | None
    decision: Decision
    upload_class: str
    reasons: tuple[Reason, ...]
    provenance: ProvenanceFacts | None = None
    faces: FaceCensus | None = None
    anonymized_path: str | None = None
    error: str | None = None
    screened_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    policy: str = "default"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "decision": self.decision.value,
            "class": self.upload_class,
            "reasons": [r.to_dict() for r in self.reasons],
            "rules": sorted({rule for r in self.reasons for rule in r.rules}),
            "provenance": self.provenance.to_dict() if self.provenance else None,
            "faces": self.faces.to_dict() if self.faces else None,
            "anonymized_path": self.anonymized_path,
            "error": self.error,
            "screened_at": self.screened_at,
            "policy": self.policy,
            "seconds": round(self.seconds, 3),
        }


class Screener:
    """Screens uploads with one loaded face detector (and protector, for anonymizing)."""

    def __init__(
        self,
        policy: ScreeningPolicy,
        *,
        trust_roots: Sequence[Path] | None = None,
        anonymized_dir: Path | None = None,
        detector: FaceDetector | None = None,
    ) -> None:
        self.policy = policy
        self.trust_roots = list(trust_roots or [])
        self.anonymized_dir = anonymized_dir
        self.detector = detector or create_detector("centerface")

    def screen(self, path: Path) -> ScreenOutcome:
        """Screen ``path``; a file that cannot be read gives an outcome with ``error``."""
        started = time.perf_counter()
        path = Path(path)
        digest, size = _digest(path)
        try:
            facts = provenance_facts(path, self.trust_roots)
            faces = census(path, self.detector, self.policy.faces)
        except BystanderError as exc:
            outcome = self._unreadable(path, digest, size, str(exc))
        else:
            outcome = self._decide(path, digest, size, facts, faces)
        seconds = time.perf_counter() - started
        return replace(outcome, seconds=seconds, policy=self.policy.source)

    # -- decisions --------------------------------------------------------------------------

    def _decide(
        self,
        path: Path,
        digest: str | None,
        size: int | None,
        facts: ProvenanceFacts,
        faces: FaceCensus,
    ) -> ScreenOutcome:
        rules = self.policy.decisions
        seen = faces.identifiable_faces
        people = f"{seen} identifiable face(s), about {faces.distinct_people} distinct people"
        reasons: list[Reason] = []
        if facts.state == "invalid":
            kind, decision = "tampered", rules.tampered
            reasons.append(Reason(f"the provenance manifest fails validation: {facts.problem}"))
        elif facts.state in ("unsigned", "valid"):
            why = (
                "no provenance manifest"
                if facts.state == "unsigned"
                else f"signed by {facts.signer or 'an unknown signer'}, outside the trust list"
            )
            if seen:
                kind, decision = "unsigned_with_faces", rules.unsigned_with_faces
                reasons.append(Reason(f"{why}; {people}: no proof they consented", PORTRAIT))
            else:
                kind, decision = "unsigned_without_faces", rules.unsigned_without_faces
                reasons.append(Reason(f"{why}; nobody identifiable, but nothing proves how it "
                                      "was captured or protected"))  # fmt: skip
        elif facts.compliant:
            allowed = facts.faces_kept_visible > 0
            if seen and not allowed:
                kind, decision = "compliant_with_faces", rules.compliant_with_faces
                reasons.append(Reason(f"signed and protected by {facts.signer}, yet {people} "
                                      "the manifest does not account for", PORTRAIT))  # fmt: skip
            else:
                kind, decision = "compliant", rules.compliant
                kept = (
                    f"; {seen} face(s) kept visible under consent records "
                    f"{', '.join(facts.consent_records) or '(hashed)'}"
                    if seen
                    else ""
                )
                reasons.append(Reason(f"captured by trusted device {facts.signer} with the "
                                      f"indicator on, consent and protection{kept}"))  # fmt: skip
        else:
            broken = "; ".join(facts.violations)
            if seen:
                kind, decision = "noncompliant_with_faces", rules.noncompliant_with_faces
                reasons.append(Reason(f"{broken}; {people}", COVERT + PORTRAIT))
            else:
                kind, decision = "noncompliant_without_faces", rules.noncompliant_without_faces
                reasons.append(Reason(broken, COVERT))
        if decision is Decision.ANONYMIZE and faces.distinct_people > (
            self.policy.max_people_to_anonymize
        ):
            decision = Decision.HOLD
            reasons.append(Reason(f"about {faces.distinct_people} people, more than the "
                                  f"{self.policy.max_people_to_anonymize} the policy "
                                  "anonymizes without review"))  # fmt: skip
        anonymized = None
        if decision is Decision.ANONYMIZE:
            anonymized, failure = self._anonymize(path)
            if failure is not None:
                decision = Decision.HOLD
                reasons.append(Reason(f"anonymizing failed ({failure}); held for review"))
        return ScreenOutcome(
            str(path), digest, size, decision, kind, tuple(reasons), facts, faces,
            str(anonymized) if anonymized else None,
        )  # fmt: skip

    def _unreadable(
        self, path: Path, digest: str | None, size: int | None, error: str
    ) -> ScreenOutcome:
        reason = Reason(f"the upload cannot be screened: {error}")
        return ScreenOutcome(
            str(path), digest, size, self.policy.decisions.unreadable, "unreadable",
            (reason,), error=error,
        )  # fmt: skip

    def _anonymize(self, path: Path) -> tuple[Path | None, str | None]:
        """The protected version of ``path`` (every face redacted), or why it failed."""
        from bystander.jobs.protect import Protector, ProtectSettings

        folder = self.anonymized_dir or path.parent
        target = folder / f"{path.stem}.anonymized{path.suffix.lower()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            Protector(ProtectSettings(overwrite=True), self.detector).protect_file(path, target)
        except (BystanderError, OSError) as exc:
            return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return target, None


def _digest(path: Path) -> tuple[str | None, int | None]:
    """SHA-256 and size of ``path`` (None when it cannot be read)."""
    try:
        sha = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
        return sha.hexdigest(), size
    except OSError:
        return None, None
