"""Enrol a consenting person: one face per photo, mean descriptor sealed in the vault.

Enrolment needs an active consent of kind ``separate`` for ``face-enrolment`` (for a
subject under 14, a guardian's): the consent store's rules decide, so bundled general
consent and a minor's own consent never count. A refusal is logged as
``template.access_refused`` with the reason and no biometric data::

    result = enroll("ds-7f3a", [photo], consents, vault, embedder, detector, sink=audit_log)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.errors import BystanderError
from bystander.evidence.events import AuditEvent, EventSink, EventType
from bystander.evidence.vault import FACE_TEMPLATE, TemplateVault
from bystander.recognition.embedder import FaceEmbedder

#: The vault purpose used when none is given: keeping consenting people visible.
DEFAULT_PURPOSE = "consent_recognition"
#: A detector: RGB frame -> (N, 4+) boxes in xyxy pixels.
FaceFinder = Callable[[npt.NDArray[np.uint8]], npt.NDArray[Any]]


class EnrolmentError(BystanderError):
    """Enrolment refused or impossible (no valid consent, not exactly one face, ...)."""


@dataclass(frozen=True)
class EnrolmentResult:
    template_id: str
    subject_id: str
    consent_record_id: str
    purpose: str
    photos: int


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
    decision = consents.check(subject_id, Scope.FACE_ENROLMENT, at=at, kind=ConsentKind.SEPARATE)
    if not decision.allowed or decision.record_id is None:
        _refuse(sink, subject_id, purpose, decision.reason)
        raise EnrolmentError(f"enrolment of {subject_id} refused: {decision.reason}")
    if not photos:
        raise EnrolmentError("enrolment needs at least one photo")
    vectors = []
    for index, photo in enumerate(photos, start=1):
        boxes = np.asarray(find_faces(photo))
        count = 0 if boxes.size == 0 else len(boxes)
        if count != 1:
            raise EnrolmentError(f"photo {index} shows {count} faces; it must show exactly one")
        vectors.append(embedder.embed(photo, boxes[:, :4])[0])
    template = np.mean(np.stack(vectors), axis=0).astype(np.float32)
    try:
        template_id = vault.store(subject_id, template, decision.record_id, purpose)
    finally:
        template.fill(0)
        for vector in vectors:
            vector.fill(0)
    try:
        consents.link(decision.record_id, FACE_TEMPLATE, template_id)
    except BaseException:
        vault.delete(template_id, reason="enrolment aborted")  # no template without its link
        raise
    return EnrolmentResult(template_id, subject_id, decision.record_id, purpose, len(photos))


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
