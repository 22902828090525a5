"""Who among the faces in a frame is an enrolled person with valid consent, right now?

``ConsentedFaces`` compares each probe embedding (held in memory only, never stored or
logged) with the vault's templates for one purpose, then asks the consent store whether
that subject's face-enrolment consent is valid at the frame's time. When unsure it answers
None (redact): too far from every template, or two subjects about as close as each other::

    faces = ConsentedFaces(vault, consents, purpose="consent_recognition")
    subjects = faces.identify(embeddings, at=frame_time)   # [subject_id or None, ...]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from bystander.consent.models import ConsentError, ConsentKind, Scope, utc
from bystander.consent.store import ConsentStore
from bystander.evidence.vault import TemplateVault

#: Default Euclidean distance threshold for one dlib descriptor against a template (still
#: images; tracks use ``recognition.tracks.TrackRules``). From
#: ``benchmarks/keep_visible_study.py`` (BENCHMARKS.md, issue 22): 62 identities, 5,620 tune
#: impostor pairs, none closer than 0.456; 4,901 held-out impostor pairs (other photos and
#: real video of other people), none closer than 0.482. At 0.45 no impostor pair of either
#: split is accepted, and 65% of cross-photo genuine pairs (different photos of one person),
#: 94% of held-out photo-to-video pairs are. dlib's usual 0.6 accepts 1.1% of impostor pairs.
DEFAULT_THRESHOLD = 0.45
#: The runner-up subject must be at least this much farther than the best, or we redact.
DEFAULT_MARGIN = 0.05


def _row_distances(
    seen: list[npt.NDArray[np.float64]],
) -> Callable[[npt.NDArray[Any], npt.NDArray[Any]], float]:
    """A vault scorer for a matrix of probes: it records each row's distance from every
    template it is shown (in ``seen``) and scores the template by row 0."""

    def score(probe: npt.NDArray[Any], template: npt.NDArray[Any]) -> float:
        flat = template.reshape(-1)
        if probe.shape[1] != flat.shape[0]:
            seen.append(np.full(len(probe), np.inf))
            return float("inf")
        found = np.linalg.norm(probe.astype(np.float64) - flat, axis=1)
        seen.append(found)
        return float(found[0])

    return score


def euclidean_distance(probe: npt.NDArray[Any], template: npt.NDArray[Any]) -> float:
    """A vault scorer: Euclidean distance (smaller is closer); ``inf`` on a shape mismatch."""
    b = template.reshape(-1)
    a = np.asarray(probe, dtype=b.dtype).reshape(-1)
    if a.shape != b.shape:
        return float("inf")
    return float(np.linalg.norm(a - b))


@dataclass(frozen=True, slots=True)
class Identified:
    """An enrolled subject recognised with valid consent, and the consent record behind it."""

    subject_id: str
    consent_id: str
    distance: float


@dataclass(frozen=True, slots=True)
class SubjectDistances:
    """One subject's distance from each probe row, and the consent record behind it."""

    distances: npt.NDArray[np.float64]
    consent_record_id: str


class ConsentedFaces:
    """Decide, face by face, who may stay visible: a consenting enrolled subject, or None."""

    def __init__(
        self,
        vault: TemplateVault,
        consents: ConsentStore,
        purpose: str,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if not 0.0 < threshold < 2.0:
            raise ValueError(f"threshold must be in (0, 2), got {threshold}")
        if margin < 0.0:
            raise ValueError("margin must not be negative")
        self.vault = vault
        self.consents = consents
        self.purpose = purpose
        self.threshold = threshold
        self.margin = margin

    def identify(
        self, embeddings: npt.NDArray[np.float32], at: datetime | None = None
    ) -> list[str | None]:
        """For each row of ``embeddings`` the consenting subject's id, or None (redact).

        ``at`` is the frame's time (default now). Vault or consent-store errors propagate:
        the caller must then redact every face of the frame (fail closed).
        """
        return [None if m is None else m.subject_id for m in self.match(embeddings, at)]

    def match(
        self, embeddings: npt.NDArray[np.float32], at: datetime | None = None
    ) -> list[Identified | None]:
        """``identify`` with the consent record and distance of each recognised face."""
        probes = np.asarray(embeddings, dtype=np.float32)
        if probes.ndim != 2:
            raise ValueError(f"embeddings must be (N, D), got shape {probes.shape}")
        if len(probes) == 0:
            return []
        when = utc(at)
        subjects = sorted(
            {t.subject_id for t in self.vault.templates() if t.purpose == self.purpose}
        )
        return [self._one(probe, subjects, when) for probe in probes]

    def subjects(self) -> list[str]:
        """The subjects with a template for this purpose, sorted."""
        return sorted({t.subject_id for t in self.vault.templates() if t.purpose == self.purpose})

    def distances(self, probes: npt.NDArray[np.float32]) -> dict[str, SubjectDistances]:
        """Every enrolled subject's distance from each row of ``probes`` (its closest
        template per row), and the consent record of its template closest to row 0.

        One pass over each subject's templates; the rows stay in memory only. Vault errors
        propagate (the caller then redacts).
        """
        rows = np.asarray(probes, dtype=np.float32)
        if rows.ndim != 2 or len(rows) == 0:
            raise ValueError(f"probes must be (N, D) with N >= 1, got shape {rows.shape}")
        out: dict[str, SubjectDistances] = {}
        for subject_id in self.subjects():
            seen: list[npt.NDArray[np.float64]] = []
            best = self.vault.match(
                rows,
                _row_distances(seen),
                threshold=float("inf"),
                higher_is_better=False,
                purpose=self.purpose,
                subject_id=subject_id,
            )
            if best is not None and seen:
                out[subject_id] = SubjectDistances(
                    np.min(np.stack(seen), axis=0), best.consent_record_id
                )
        return out

    def _one(
        self, probe: npt.NDArray[np.float32], subjects: list[str], at: datetime
    ) -> Identified | None:
        if not np.isfinite(probe).all():
            return None
        scores = self._best_per_subject(probe, subjects)
        if not scores:
            return None
        ranked = sorted(scores.items(), key=lambda item: item[1][0])
        subject_id, (distance, record_id) = ranked[0]
        if distance > self.threshold:
            return None
        if len(ranked) > 1 and ranked[1][1][0] - distance < self.margin:
            return None  # two enrolled people look alike here: when unsure, redact
        consent_id = self.consent_valid(subject_id, record_id, at)
        return None if consent_id is None else Identified(subject_id, consent_id, distance)

    def _best_per_subject(
        self, probe: npt.NDArray[np.float32], subjects: list[str]
    ) -> dict[str, tuple[float, str]]:
        """Each subject's closest template within ``threshold + margin``: (distance, record)."""
        found: dict[str, tuple[float, str]] = {}
        for subject_id in subjects:
            best = self.vault.match(
                probe,
                euclidean_distance,
                threshold=self.threshold + self.margin,
                higher_is_better=False,
                purpose=self.purpose,
                subject_id=subject_id,
            )
            if best is not None:
                found[subject_id] = (best.score, best.consent_record_id)
        return found

    def consent_valid(self, subject_id: str, record_id: str, at: datetime) -> str | None:
        """The template's consent record when separate face consent is valid at ``at``, for
        the subject and for that record itself; otherwise None."""
        decision = self.consents.check(
            subject_id, Scope.FACE_ENROLMENT, at=at, kind=ConsentKind.SEPARATE
        )
        if not decision.allowed:
            return None
        if decision.record_id == record_id:
            return record_id
        try:
            record = self.consents.get(record_id)
        except ConsentError:
            return None
        return record_id if any(span.covers(at) for span in record.validity()) else None
