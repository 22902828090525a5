"""Who stays visible: gates that leave people who consented unredacted.

Redacting everyone is the default. A ``VisibilityGate`` handed to the pipeline
(``FrameProtector(visibility=...)``) names, frame by frame, the detected faces that may stay
visible; everything else is redacted, and any error redacts every face. Two gates:

- ``EnrolledFaceGate``: faces recognised as an enrolled person whose separate face-enrolment
  consent is valid at that moment (``bystander enroll``). Embeddings of the faces in the
  frame are computed in memory for the comparison and dropped; nothing is stored or logged.
- ``BadgeGate``: faces wearing a valid consent badge (``bystander badge``), no biometrics.

``open_gate`` builds them from the evidence store for ``--keep-visible enrolled,badges``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from bystander.errors import InputError
from bystander.vision.detections import Detections
from bystander.vision.pipeline import Frame, KeptVisible, VisibilityGate

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bystander.badges.policy import BadgeConsent
    from bystander.badges.tokens import BadgeRegistry
    from bystander.evidence.events import EventSink
    from bystander.recognition.matcher import ConsentedFaces

Clock = Callable[[], datetime]

#: Faces smaller than this (height in pixels) are never recognised: their embeddings are too
#: unreliable to risk leaving a stranger visible. They stay redacted.
MIN_RECOGNISABLE_PX = 40


def utc_now() -> datetime:
    return datetime.now(UTC)


class Embedder(Protocol):
    """``FaceEmbedder`` or ``ProcessEmbedder`` (``bystander.recognition``)."""

    def embed(
        self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
    ) -> npt.NDArray[np.float32]: ...


class KeepVisible(StrEnum):
    """The ways a person can stay visible (``--keep-visible``)."""

    ENROLLED = "enrolled"
    BADGES = "badges"


class EnrolledFaceGate:
    """Keeps visible the faces of enrolled people with valid consent at the frame's time.

    Only faces at least ``min_face_px`` tall and wholly inside the frame are compared; the
    matcher answers None (redact) when unsure. The time is read from ``clock`` per frame, so
    a withdrawal applies from the next frame on.
    """

    def __init__(
        self,
        faces: ConsentedFaces,
        embedder: Embedder | None = None,
        *,
        min_face_px: int = MIN_RECOGNISABLE_PX,
        clock: Clock = utc_now,
    ) -> None:
        if embedder is None:
            from bystander.recognition.worker import ProcessEmbedder

            embedder = ProcessEmbedder()
        self.faces = faces
        self.embedder = embedder
        self.min_face_px = min_face_px
        self.clock = clock

    def visible(self, frame: Frame, faces: Detections, index: int) -> dict[int, KeptVisible]:
        height, width = frame.shape[:2]
        box = faces.xyxy
        candidates = np.flatnonzero(
            (faces.heights >= self.min_face_px)
            & (box[:, 0] >= 0)
            & (box[:, 1] >= 0)
            & (box[:, 2] <= width)
            & (box[:, 3] <= height)
        )
        if len(candidates) == 0 or not self._anyone_enrolled():
            return {}
        embeddings = self.embedder.embed(frame, box[candidates])
        matches = self.faces.match(embeddings, at=self.clock())
        del embeddings  # in memory only, never kept
        return {
            int(candidates[row]): KeptVisible(f"enrolled {m.subject_id}", m.consent_id)
            for row, m in enumerate(matches)
            if m is not None
        }

    def _anyone_enrolled(self) -> bool:
        purpose = self.faces.purpose
        return any(t.purpose == purpose for t in self.faces.vault.templates())

    def close(self) -> None:
        """Stop the embedder's child process, if it has one."""
        close = getattr(self.embedder, "close", None)
        if close is not None:
            close()


class BadgeGate:
    """Keeps visible the faces a valid consent badge is attached to (``BadgeConsent``)."""

    def __init__(self, consent: BadgeConsent, *, clock: Clock = utc_now) -> None:
        self.consent = consent
        self.clock = clock

    def visible(self, frame: Frame, faces: Detections, index: int) -> dict[int, KeptVisible]:
        decided = self.consent.visible(frame, faces, self.clock())
        return {
            face: KeptVisible(reason, decided.verdicts[face].record_id)
            for face, reason in decided.reasons.items()
        }


class AnyOf:
    """A face stays visible when any gate keeps it (the first gate's reason is kept).

    If a gate raises, the error propagates and the pipeline redacts every face.
    """

    def __init__(self, gates: Sequence[VisibilityGate]) -> None:
        self.gates = tuple(gates)

    def visible(self, frame: Frame, faces: Detections, index: int) -> dict[int, KeptVisible]:
        merged: dict[int, KeptVisible] = {}
        for gate in self.gates:
            for face, kept in gate.visible(frame, faces, index).items():
                merged.setdefault(face, kept)
        return merged

    def close(self) -> None:
        for gate in self.gates:
            close_gate(gate)


def close_gate(gate: object) -> None:
    """Release what a gate holds (the embedder's child process), if anything."""
    close = getattr(gate, "close", None)
    if close is not None:
        close()


def parse_keep_visible(values: Sequence[str]) -> tuple[KeepVisible, ...]:
    """``["enrolled,badges"]`` or ``["enrolled", "badges"]`` -> the kinds, in order."""
    kinds: list[KeepVisible] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                kind = KeepVisible(name)
            except ValueError:
                choices = ", ".join(k.value for k in KeepVisible)
                raise InputError(f"--keep-visible: unknown {name!r} (choose {choices})") from None
            if kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def open_gate(
    kinds: Sequence[KeepVisible],
    engine: Engine,
    sink: EventSink,
    *,
    purpose: str | None = None,
    badge_registry: BadgeRegistry | None = None,
    clock: Clock = utc_now,
) -> VisibilityGate | None:
    """The gate for ``kinds`` over the evidence store at ``engine`` (None for no kinds)."""
    if not kinds:
        return None
    from bystander.consent.store import ConsentStore

    consents = ConsentStore(engine, sink)
    gates: list[VisibilityGate] = []
    if KeepVisible.ENROLLED in kinds:
        from bystander.evidence.vault import TemplateVault
        from bystander.recognition.enrolment import DEFAULT_PURPOSE
        from bystander.recognition.matcher import ConsentedFaces

        vault = TemplateVault(engine, sink=sink)
        faces = ConsentedFaces(vault, consents, purpose or DEFAULT_PURPOSE)
        gates.append(EnrolledFaceGate(faces, clock=clock))
    if KeepVisible.BADGES in kinds:
        from bystander.badges.policy import BadgeConsent
        from bystander.badges.tokens import BadgeRegistry, signing_key

        registry = badge_registry if badge_registry is not None else BadgeRegistry()
        key = signing_key().public_key()
        gates.append(BadgeGate(BadgeConsent(consents, registry, key), clock=clock))
    return gates[0] if len(gates) == 1 else AnyOf(gates)


def consent_ids(kept: Mapping[int, KeptVisible] | Sequence[KeptVisible]) -> list[str]:
    """The distinct consent record ids behind kept faces, in first-seen order."""
    values = kept.values() if isinstance(kept, Mapping) else kept
    seen: dict[str, None] = {}
    for item in values:
        if item.consent_id:
            seen.setdefault(item.consent_id, None)
    return list(seen)
