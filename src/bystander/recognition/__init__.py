"""Face recognition for consenting people: embed, enrol (with separate consent), match.

Embeddings of people who did not enrol exist in memory only; templates live in the
encrypted :class:`~bystander.evidence.vault.TemplateVault`.
"""

from __future__ import annotations

from bystander.recognition.embedder import EmbedderError, FaceEmbedder, dlib_box
from bystander.recognition.enrolment import EnrolmentError, EnrolmentResult, enroll
from bystander.recognition.matcher import DEFAULT_THRESHOLD, ConsentedFaces, euclidean_distance

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
