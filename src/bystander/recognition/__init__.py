"""Face recognition for consenting people: embed, enrol (with separate consent), match.

Embeddings of people who did not enrol exist in memory only; templates live in the
encrypted :class:`~bystander.evidence.vault.TemplateVault`.

The names below are imported on first use: ``bystander.recognition.quality`` (needed by
every ``protect``) must not pull in enrolment's consent store and SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bystander._lazy import lazy_exports

if TYPE_CHECKING:
    from bystander.recognition.embedder import EmbedderError, FaceEmbedder, dlib_box
    from bystander.recognition.enrolment import EnrolmentError, EnrolmentResult, enroll
    from bystander.recognition.matcher import (
        DEFAULT_THRESHOLD,
        ConsentedFaces,
        euclidean_distance,
    )

_EMBEDDER, _ENROLMENT, _MATCHER = (
    "bystander.recognition.embedder",
    "bystander.recognition.enrolment",
    "bystander.recognition.matcher",
)
_EXPORTS = {
    "EmbedderError": _EMBEDDER,
    "FaceEmbedder": _EMBEDDER,
    "dlib_box": _EMBEDDER,
    "EnrolmentError": _ENROLMENT,
    "EnrolmentResult": _ENROLMENT,
    "enroll": _ENROLMENT,
    "DEFAULT_THRESHOLD": _MATCHER,
    "ConsentedFaces": _MATCHER,
    "euclidean_distance": _MATCHER,
}

__all__ = [
    "DEFAULT_THRESHOLD",
    "ConsentedFaces",
    "EmbedderError",
    "EnrolmentError",
    "EnrolmentResult",
    "FaceEmbedder",
    "dlib_box",
    "enroll",
    "euclidean_distance",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
