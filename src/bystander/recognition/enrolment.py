"""Enrol a consenting person from photos or a short video; the template is sealed in the vault.

Enrolment needs an active consent of kind ``separate`` for ``face-enrolment`` (for a
subject under 14, a guardian's): the consent store's rules decide, so bundled general
consent and a minor's own consent never count. A refusal is logged as
``template.access_refused`` with the reason and no biometric data::

    result = enroll("ds-7f3a", [photo], consents, vault, embedder, detector, sink=audit_log)
    samples = video_samples(frames, embedder, detector)          # a 5-second selfie video
    result = enroll_samples("ds-7f3a", samples, consents, vault, sink=audit_log)

Several samples (photos, video frames) make one template: their quality-weighted mean
descriptor, linked to the consent record like a single photo's. A video's samples must all
show the same person (one face per frame, consistent with each other), or it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.errors import BystanderError
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.evidence.vault import FACE_TEMPLATE, TemplateVault
from bystander.recognition.embedder import FaceEmbedder
from bystander.recognition.quality import FaceQuality

#: The vault purpose used when none is given: keeping consenting people visible.
DEFAULT_PURPOSE = "consent_recognition"
#: A detector: RGB frame -> (N, 4+) boxes in xyxy pixels.
FaceFinder = Callable[[npt.NDArray[np.uint8]], npt.NDArray[Any]]


class EnrolmentError(BystanderError):
    """Enrolment refused or impossible (no valid consent, not exactly one face, ...)."""


#: A video sample must be at least this good (``FaceQuality.weight``) to be used.
MIN_SAMPLE_WEIGHT = 0.3
#: A video sample farther than this from the samples' median is someone (or something) else.
CONSISTENT_DISTANCE = 0.45
#: At most this many of a video's samples make the template (the best, spread in time).
MAX_VIDEO_SAMPLES = 12


@dataclass(frozen=True)
class EnrolmentResult:
    template_id: str
    subject_id: str
    consent_record_id: str
    purpose: str
    photos: int


@dataclass(frozen=True)
class Samples:
    """Descriptors (N, 128) with their quality weights (N,), in memory only."""

    vectors: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float64]

    def clear(self) -> None:
        self.vectors.fill(0)


def enroll(
    subject_id: str,
    photos: Sequence[npt.NDArray[np.uint8]],
    consents: ConsentStore,
    vault: TemplateVault,
    embedder: FaceEmbedder,
    find_faces: FaceFinder,
    *,
    sink: EventSink | None = None,
    purpose: str = DEFAULT_PURPOSE,
    at: datetime | None = None,
) -> EnrolmentResult:
    """Create ``subject_id``'s face template from RGB ``photos`` after checking consent.

    The consent is checked first, before any face is looked at. Each photo must show
    exactly one face. The template (the mean of the unit-free dlib descriptors) is stored
    in the vault linked to the consent record, so withdrawing it deletes the template.
    """
    _check_consent(consents, subject_id, purpose, at, sink)
    samples = photo_samples(photos, embedder, find_faces)
    try:
        return enroll_samples(
            subject_id, samples, consents, vault, sink=sink, purpose=purpose, at=at
        )
    finally:
        samples.clear()


def photo_samples(
    photos: Sequence[npt.NDArray[np.uint8]], embedder: FaceEmbedder, find_faces: FaceFinder
) -> Samples:
    """One sample per photo, each of which must show exactly one face.

    A photo's weight is its face quality, but never under ``MIN_SAMPLE_WEIGHT``: the person
    chose it, so it always counts.
    """
    if not photos:
        raise EnrolmentError("enrolment needs at least one photo")
    vectors, weights = [], []
    for index, photo in enumerate(photos, start=1):
        boxes = np.asarray(find_faces(photo))
        count = 0 if boxes.size == 0 else len(boxes)
        if count != 1:
            raise EnrolmentError(f"photo {index} shows {count} faces; it must show exactly one")
        found, quality = embedder.embed_samples(photo, boxes[:, :4])
        vectors.append(found[0])
        weights.append(max(MIN_SAMPLE_WEIGHT, FaceQuality.from_row(quality[0]).weight))
    return Samples(np.stack(vectors), np.asarray(weights))


def combined(*parts: Samples) -> Samples:
    """Several sets of samples as one (photos and a video, say)."""
    return Samples(
        np.concatenate([p.vectors for p in parts]), np.concatenate([p.weights for p in parts])
    )


def enroll_samples(
    subject_id: str,
    samples: Samples,
    consents: ConsentStore,
    vault: TemplateVault,
    *,
    sink: EventSink | None = None,
    purpose: str = DEFAULT_PURPOSE,
    at: datetime | None = None,
) -> EnrolmentResult:
    """Seal the quality-weighted mean of ``samples`` as ``subject_id``'s template.

    The consent is checked (again) first; the template is linked to its record, so
    withdrawing the consent deletes it.
    """
    record_id = _check_consent(consents, subject_id, purpose, at, sink)
    if len(samples.vectors) == 0:
        raise EnrolmentError("enrolment needs at least one face sample")
    weights = np.asarray(samples.weights, dtype=np.float64)
    if weights.shape != (len(samples.vectors),) or not (weights > 0).all():
        raise EnrolmentError("every face sample needs a positive weight")
    template = (
        (samples.vectors * weights[:, None]).sum(axis=0) / weights.sum()
    ).astype(np.float32)
    try:
        template_id = vault.store(subject_id, template, record_id, purpose)
    finally:
        template.fill(0)
    try:
        consents.link(record_id, FACE_TEMPLATE, template_id)
    except BaseException:
        vault.delete(template_id, reason="enrolment aborted")  # no template without its link
        raise
    return EnrolmentResult(template_id, subject_id, record_id, purpose, len(samples.vectors))


def video_samples(
    frames: Iterable[npt.NDArray[np.uint8]],
    embedder: FaceEmbedder,
    find_faces: FaceFinder,
    *,
    every: int = 3,
    max_samples: int = MAX_VIDEO_SAMPLES,
) -> Samples:
    """The best face samples of a short video of one person (a selfie clip).

    Every ``every``-th frame is searched; a frame showing more than one face refuses the
    video (someone else must not end up in the template). Samples under
    ``MIN_SAMPLE_WEIGHT`` (small, blurred, turned away) are skipped; a sample far from the
    others' median refuses the video too. Up to ``max_samples`` of the best, spread over
    the clip, are kept.
    """
    vectors: list[npt.NDArray[np.float32]] = []
    weights: list[float] = []
    for index, frame in enumerate(frames):
        if index % max(1, every):
            continue
        boxes = np.asarray(find_faces(frame))
        count = 0 if boxes.size == 0 else len(boxes)
        if count == 0:
            continue
        if count > 1:
            raise EnrolmentError(f"frame {index} shows {count} faces; the video must show one")
        found, quality = embedder.embed_samples(frame, boxes[:, :4])
        weight = FaceQuality.from_row(quality[0]).weight
        if weight >= MIN_SAMPLE_WEIGHT:
            vectors.append(found[0])
            weights.append(weight)
    if len(vectors) < 3:
        raise EnrolmentError(
            f"the video has {len(vectors)} usable face frames; at least 3 are needed "
            "(film the face from close by, facing the camera, in good light)"
        )
    stack = np.stack(vectors)
    median = np.median(stack, axis=0)
    far = np.linalg.norm(stack - median, axis=1) > CONSISTENT_DISTANCE
    if far.any():
        stack.fill(0)
        raise EnrolmentError(
            f"{int(far.sum())} of the video's face samples look like another person"
        )
    keep = _spread_best(np.asarray(weights), max_samples)
    return Samples(np.ascontiguousarray(stack[keep]), np.asarray(weights)[keep])


def _spread_best(weights: npt.NDArray[np.float64], count: int) -> list[int]:
    """The best sample of each of ``count`` equal stretches of the clip."""
    if len(weights) <= count:
        return list(range(len(weights)))
    edges = np.linspace(0, len(weights), count + 1).round().astype(int)
    return [int(a + np.argmax(weights[a:b])) for a, b in pairwise(edges.tolist())]


def _check_consent(
    consents: ConsentStore,
    subject_id: str,
    purpose: str,
    at: datetime | None,
    sink: EventSink | None,
) -> str:
    decision = consents.check(subject_id, Scope.FACE_ENROLMENT, at=at, kind=ConsentKind.SEPARATE)
    if not decision.allowed or decision.record_id is None:
        _refuse(sink, subject_id, purpose, decision.reason)
        raise EnrolmentError(f"enrolment of {subject_id} refused: {decision.reason}")
    return decision.record_id


def _refuse(sink: EventSink | None, subject_id: str, purpose: str, reason: str) -> None:
    if sink is None:
        return
    sink.append(
        AuditEvent(
            type=EventType.TEMPLATE_ACCESS_REFUSED,
            subject_id=subject_id,
            reason="enrolment_refused",
            data={"purpose": purpose, "why": reason},
        )
    )
