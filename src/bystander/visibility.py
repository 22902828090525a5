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
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from bystander.errors import InputError
from bystander.recognition.quality import FaceQuality
from bystander.recognition.tracks import SampleTag, TrackRules, box_area, face_look
from bystander.vision.detections import Detections, FloatArray
from bystander.vision.pipeline import Frame, KeptVisible, VisibilityGate

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bystander.badges.policy import BadgeConsent
    from bystander.badges.tokens import BadgeRegistry
    from bystander.evidence.events import EventSink
    from bystander.recognition.background import SampleQueue
    from bystander.recognition.matcher import ConsentedFaces

Clock = Callable[[], datetime]
T = TypeVar("T")

#: How long a frame waits at most for a late batch of samples (``max_lag``); past that the
#: embedder is restarted and the batch's faces stay redacted.
_WAIT_S = 10.0
#: Protecting a file, a batch of samples may be this many frames late before a frame waits.
FILE_MAX_LAG = 3

#: Faces smaller than this (height in pixels) are never recognised: their embeddings are too
#: unreliable to risk leaving a stranger visible. They stay redacted.
MIN_RECOGNISABLE_PX = 40


def utc_now() -> datetime:
    return datetime.now(UTC)


class Embedder(Protocol):
    """``FaceEmbedder`` or ``ProcessEmbedder`` (``bystander.recognition``)."""

    def embed_samples(
        self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...


class KeepVisible(StrEnum):
    """The ways a person can stay visible (``--keep-visible``)."""

    ENROLLED = "enrolled"
    BADGES = "badges"


@dataclass
class _Known(Generic[T]):
    """A track's last answer (``who``: whom it showed, or None: nobody to keep visible)."""

    who: T | None
    verified_at: int
    seen_at: int
    box: FloatArray
    look: FloatArray


class TrackMemory(Generic[T]):
    """Per-track answers reused across frames while a face stays itself.

    An answer found at frame k is reused at frame k+1... as long as: fewer than
    ``refresh_every`` frames have passed since it was found, the track was detected in the
    previous frame, its box kept its size (within 0.7-1.4x area), no other face came near it
    (where tracks can swap), and it still looks like itself: its 16x16 grey thumbnail
    correlates at least ``min_similarity`` with the previous frame's (a cut or a swap fails
    this). Anything else, and the face is looked at afresh. Untracked faces (track id -1)
    are always looked at afresh.
    """

    def __init__(self, refresh_every: int, min_similarity: float = 0.8) -> None:
        if refresh_every < 1:
            raise ValueError("refresh_every must be >= 1")
        self.refresh_every = refresh_every
        self.min_similarity = min_similarity
        self._known: dict[int, _Known[T]] = {}

    def split(
        self, frame: Frame, faces: Detections, rows: Sequence[int], index: int
    ) -> tuple[dict[int, _Known[T]], list[int], dict[int, FloatArray]]:
        """(answers still valid by row, rows to look at afresh, each row's thumbnail)."""
        looks = {row: _look(frame, faces.xyxy[row]) for row in rows}
        answers: dict[int, _Known[T]] = {}
        fresh: list[int] = []
        for row in rows:
            known = self._reusable(row, faces, looks[row], index)
            if known is None:
                fresh.append(row)
            else:
                answers[row] = known
        return answers, fresh, looks

    def remember(self, faces: Detections, answers: Mapping[int, _Known[T]]) -> None:
        """Keep this frame's answers (by track); tracks not in it are forgotten."""
        self._known = {
            int(faces.track_ids[row]): known
            for row, known in answers.items()
            if int(faces.track_ids[row]) >= 0
        }

    def forget(self) -> None:
        self._known.clear()

    def _reusable(
        self, row: int, faces: Detections, look: FloatArray, index: int
    ) -> _Known[T] | None:
        track = int(faces.track_ids[row])
        known = self._known.get(track) if track >= 0 else None
        if known is None or self.refresh_every == 1:
            return None
        box = faces.xyxy[row]
        same = (
            index - known.verified_at < self.refresh_every
            and known.seen_at == index - 1
            and 0.7 <= _area(box) / max(_area(known.box), 1e-6) <= 1.4
            and float(look @ known.look) >= self.min_similarity
            and not _crowded(row, faces)
        )
        if not same:
            return None
        return _Known(known.who, known.verified_at, index, box.copy(), look)


class EnrolledFaceGate:
    """Keeps visible the faces of enrolled people with valid consent at the frame's time.

    Decides per track (``bystander.recognition.tracks``): a tracked face stays redacted
    until its samples (embedded off the frame path, a batch at a time) add up to consistent
    evidence for one enrolled subject, and again after any doubt (a gap, a cut, a face
    nearby). Only faces at least ``min_face_px`` tall and wholly inside the frame are
    sampled. Consent is checked on every frame at ``clock()``'s time, so a withdrawal
    applies from the next frame on. Faces without a track (a still image) are judged one by
    one on a single embedding at the matcher's threshold; in a video (once any tracked face
    was seen) an untracked face stays redacted.

    With a ``ProcessEmbedder`` (the default) samples are embedded in its child while frames
    go on (``background``); with an in-process ``FaceEmbedder`` they are embedded at once.
    ``max_batch`` caps the faces embedded in one batch. ``max_lag`` (frames) bounds how long
    a batch may stay unanswered before a frame waits for it: None (live capture) never
    waits; protecting a file waits after a few frames, so a slow machine delays decisions
    by at most that many frames instead of leaving people redacted for long.
    """

    def __init__(
        self,
        faces: ConsentedFaces,
        embedder: Embedder | None = None,
        *,
        min_face_px: int = MIN_RECOGNISABLE_PX,
        rules: TrackRules | None = None,
        clock: Clock = utc_now,
        background: bool | None = None,
        max_batch: int = 4,
        max_lag: int | None = None,
    ) -> None:
        from bystander.recognition.background import BackgroundSamples, InlineSamples
        from bystander.recognition.tracks import TrackJudge
        from bystander.recognition.worker import ProcessEmbedder

        if embedder is None:
            embedder = ProcessEmbedder()
        if background is None:
            background = isinstance(embedder, ProcessEmbedder)
        if background and not isinstance(embedder, ProcessEmbedder):
            raise ValueError("background sampling needs a ProcessEmbedder")
        self.faces = faces
        self.embedder = embedder
        self.min_face_px = min_face_px
        self.clock = clock
        self.max_batch = max(1, max_batch)
        self.judge = TrackJudge(faces, rules)
        self.samples: SampleQueue[SampleTag] = (
            BackgroundSamples(embedder)  # type: ignore[arg-type]
            if background
            else InlineSamples(embedder)
        )
        self.max_lag = max_lag
        self.embedded = 0  # faces embedded so far (for benchmarks and tests)
        self._video = False
        self._sent_at = 0

    def warm(self) -> None:
        """Load the face model before frames come (a child process: seconds)."""
        start = getattr(self.embedder, "start", None)
        if callable(start):
            start()

    def visible(self, frame: Frame, faces: Detections, index: int) -> dict[int, KeptVisible]:
        enrolled = self._enrolled()
        if not enrolled:
            self.judge.forget()
            return {}
        height, width = frame.shape[:2]
        box = faces.xyxy
        candidates = set(
            np.flatnonzero(
                (faces.heights >= self.min_face_px)
                & (box[:, 0] >= 0)
                & (box[:, 1] >= 0)
                & (box[:, 2] <= width)
                & (box[:, 3] <= height)
            ).tolist()
        )
        tracked = [row for row in range(len(faces)) if int(faces.track_ids[row]) >= 0]
        self._video = self._video or bool(tracked)
        self.judge.observe(frame, faces, tracked, index)
        late = self.max_lag is not None and index - self._sent_at >= self.max_lag
        self._collect(index, wait=late)
        sample = [row for row in tracked if row in candidates]
        due = self.judge.due(sample, faces, index)[: self.max_batch]
        if due and not self.samples.busy:
            tags = self.judge.tags(due, faces, index)
            self.samples.submit(frame, box[due], tags)
            self.embedded += len(due)
            self._sent_at = index
            self._collect(index)  # answered at once when embedding in this thread
        who: dict[int, tuple[str, str]] = {
            row: (v.subject_id, v.consent_id)
            for row, v in self.judge.verdicts(sample, faces).items()
        }
        if not self._video:
            untracked = sorted(r for r in candidates if int(faces.track_ids[r]) < 0)
            who.update(self._still(frame, box, untracked))
        at = self.clock()
        kept: dict[int, KeptVisible] = {}
        for row, (subject_id, consent_id) in who.items():
            if (subject_id, consent_id) not in enrolled:
                continue  # the template was removed
            if not self.faces.consent_valid(subject_id, consent_id, at):
                continue
            kept[row] = KeptVisible(f"enrolled {subject_id}", consent_id)
        return kept

    def _collect(self, index: int, wait: bool = False) -> None:
        wait_s = _WAIT_S if wait and self.samples.busy else 0.0
        for answer in self.samples.collect(wait_s):
            self.judge.add(answer.tags, answer.vectors, answer.quality, index)

    def _still(
        self, frame: Frame, box: FloatArray, rows: list[int]
    ) -> dict[int, tuple[str, str]]:
        """Faces of a still image, each on one embedding (no track to gather evidence)."""
        if not rows or self.samples.busy:
            return {}
        vectors, quality = self.embedder.embed_samples(frame, box[rows])
        self.embedded += len(rows)
        matches = self.faces.match(vectors, at=self.clock())
        del vectors  # in memory only, never kept
        min_weight = self.judge.rules.min_weight
        return {
            row: (match.subject_id, match.consent_id)
            for row, match, q in zip(rows, matches, quality, strict=True)
            if match is not None and FaceQuality.from_row(q).weight >= min_weight
        }

    def _enrolled(self) -> set[tuple[str, str]]:
        """(subject, consent record) of every template for this purpose, right now."""
        purpose = self.faces.purpose
        return {
            (t.subject_id, t.consent_record_id)
            for t in self.faces.vault.templates()
            if t.purpose == purpose
        }

    def close(self) -> None:
        """Stop the embedder's child process, if it has one."""
        close = getattr(self.embedder, "close", None)
        if close is not None:
            close()


_area = box_area
_look = face_look


def _crowded(row: int, faces: Detections) -> bool:
    """Another face overlaps this one's box grown 1.5x (where tracks can swap)."""
    x1, y1, x2, y2 = (float(v) for v in faces.xyxy[row])
    mx, my = (x2 - x1) * 0.25, (y2 - y1) * 0.25
    others = np.delete(faces.xyxy, row, axis=0)
    if len(others) == 0:
        return False
    return bool(
        (
            (others[:, 0] < x2 + mx)
            & (others[:, 2] > x1 - mx)
            & (others[:, 1] < y2 + my)
            & (others[:, 3] > y1 - my)
        ).any()
    )


class BadgeGate:
    """Keeps visible the faces a valid consent badge is attached to (``BadgeConsent``).

    Looking for badges costs about 50 ms a 720p frame, so the frame is searched only when a
    face is new or changed, or its answer is ``redetect_every`` frames old
    (``TrackMemory``); in between, a tracked face keeps the badge it was seen with, whose
    token and consent are checked again on every frame (revocation applies at once). A face
    that shows a badge later waits until the next search: it stays redacted until then.
    """

    def __init__(
        self, consent: BadgeConsent, *, redetect_every: int = 5, clock: Clock = utc_now
    ) -> None:
        self.consent = consent
        self.clock = clock
        self.memory: TrackMemory[str] = TrackMemory(redetect_every)  # answers: token ids
        self.searches = 0  # frames searched for badges (for benchmarks and tests)

    def visible(self, frame: Frame, faces: Detections, index: int) -> dict[int, KeptVisible]:
        at = self.clock()
        rows = list(range(len(faces)))
        answers, fresh, looks = self.memory.split(frame, faces, rows, index)
        kept: dict[int, KeptVisible] = {}
        if fresh:
            decided = self.consent.visible(frame, faces, at)
            self.searches += 1
            for row in rows:  # one search answers every face of the frame
                verdict = decided.verdicts.get(row)
                token = verdict.token_id if verdict is not None else None
                answers[row] = _Known(token, index, index, faces.xyxy[row].copy(), looks[row])
            kept = {
                row: KeptVisible(reason, decided.verdicts[row].record_id)
                for row, reason in decided.reasons.items()
            }
        else:
            for row, known in answers.items():
                still = self._recheck(known.who, at)
                if still is not None:
                    kept[row] = still
        self.memory.remember(faces, answers)
        return kept

    def _recheck(self, token_id: str | None, at: datetime) -> KeptVisible | None:
        """Is the badge a face was seen with still valid now?"""
        if token_id is None:
            return None
        from bystander.badges.tokens import BadgeError
        from bystander.consent.models import ConsentError

        try:
            token = self.consent.registry.get(token_id)
            if token is None:
                return None
            verdict = self.consent.check_token(token, at)
        except (BadgeError, ConsentError):
            return None
        return KeptVisible(verdict.reason, verdict.record_id) if verdict.valid else None


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

    def warm(self) -> None:
        for gate in self.gates:
            warm_gate(gate)


def warm_gate(gate: object) -> None:
    """Load what a gate needs before frames come (the embedder's child process), if
    anything: a live stream drops the frames that arrive while a model loads."""
    warm = getattr(gate, "warm", None)
    if callable(warm):
        warm()


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
    max_lag: int | None = None,
) -> VisibilityGate | None:
    """The gate for ``kinds`` over the evidence store at ``engine`` (None for no kinds).

    ``max_lag``: see ``EnrolledFaceGate`` (None for live capture, ``FILE_MAX_LAG`` for files).
    """
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
        gates.append(EnrolledFaceGate(faces, clock=clock, max_lag=max_lag))
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
