"""Privacy quality of the protect pipeline: coverage recall by face size, off-face redaction.

A ground-truth face counts as *covered* when at least ``min_coverage`` of its box area lies
inside the pixels the pipeline redacts. The redacted pixels are exactly those the
``Redactor`` hides for the regions ``FrameProtector.protect`` returns (the whole frame when
the detector failed), so the figures measure what a user of ``bystander protect`` gets.

>>> mask = np.zeros((10, 10), bool); mask[:, :5] = True
>>> box_coverage(mask, (0, 0, 10, 10))
0.5
>>> height_bucket(16.0), height_bucket(70.0)
('16-24', '64+')
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from bystander._version import __version__
from bystander.jobs.protect import Protector, ProtectSettings
from bystander.measure.datasets import AnnotatedImage, FaceBox, FaceDataset
from bystander.measure.motion import MotionSpec, moving_clip
from bystander.vision.detectors import FaceDetector
from bystander.vision.pipeline import ProtectedFrame
from bystander.vision.redact import Redactor

BoolMask = npt.NDArray[np.bool_]
Box = tuple[float, float, float, float]
EVAL_SCHEMA = "bystander.eval-result/1"

#: Face-height buckets (px, half-open ``[low, high)``) recall is reported by.
BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<16", 0.0, 16.0),
    ("16-24", 16.0, 24.0),
    ("24-32", 24.0, 32.0),
    ("32-64", 32.0, 64.0),
    ("64+", 64.0, math.inf),
)
DEFAULT_MIN_COVERAGE = 0.9

ProgressCallback = Callable[[int, int], None]


# --------------------------------------------------------------------------- metrics


def height_bucket(height: float) -> str:
    """The name of the bucket a face of ``height`` px falls in."""
    for name, low, high in BUCKETS:
        if low <= height < high:
            return name
    return BUCKETS[0][0]  # negative or NaN heights: smallest bucket


def _axis_weights(low: float, high: float, size: int) -> tuple[int, npt.NDArray[np.float64]]:
    """First pixel index and the fraction of each pixel in ``[low, high)`` clipped to ``size``."""
    low, high = max(low, 0.0), min(high, float(size))
    if high <= low:
        return 0, np.zeros(0)
    start, stop = math.floor(low), math.ceil(high)
    index = np.arange(start, stop, dtype=np.float64)
    return start, np.minimum(index + 1, high) - np.maximum(index, low)


def box_coverage(mask: BoolMask, box: Sequence[float]) -> float | None:
    """Share of ``box``'s area (x1, y1, x2, y2, clipped to the frame) inside ``mask``.

    Fractional box edges weigh border pixels by the part of them inside the box. Returns
    None for a box with no area inside the frame.
    """
    height, width = mask.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    x0, wx = _axis_weights(x1, x2, width)
    y0, wy = _axis_weights(y1, y2, height)
    total = float(wx.sum() * wy.sum())
    if total <= 0:
        return None
    window = mask[y0 : y0 + len(wy), x0 : x0 + len(wx)].astype(np.float64)
    return float(wy @ window @ wx) / total


def face_mask(boxes: Iterable[FaceBox | Sequence[float]], shape: tuple[int, ...]) -> BoolMask:
    """Pixels whose centre lies inside any of ``boxes`` (ignored boxes included)."""
    height, width = shape[:2]
    mask = np.zeros((height, width), dtype=bool)
    for box in boxes:
        x1, y1, x2, y2 = box.xyxy if isinstance(box, FaceBox) else box[:4]
        c1, c2 = max(0, math.ceil(x1 - 0.5)), min(width, math.ceil(x2 - 0.5))
        r1, r2 = max(0, math.ceil(y1 - 0.5)), min(height, math.ceil(y2 - 0.5))
        if c2 > c1 and r2 > r1:
            mask[r1:r2, c1:c2] = True
    return mask


def redaction_mask(frame: ProtectedFrame, redactor: Redactor, shape: tuple[int, ...]) -> BoolMask:
    """The pixels the pipeline hid in ``frame`` (all of them when it redacted the whole frame)."""
    if frame.whole_frame:
        return np.ones(shape[:2], dtype=bool)
    return redactor.mask(frame.regions, shape)


@dataclass(frozen=True)
class FaceScore:
    """How well one ground-truth face was hidden."""

    box: FaceBox
    coverage: float
    covered: bool

    @property
    def height(self) -> float:
        return self.box.height


def score_faces(
    boxes: Iterable[FaceBox], mask: BoolMask, min_coverage: float = DEFAULT_MIN_COVERAGE
) -> list[FaceScore]:
    """Coverage of every non-ignored face with some area inside the frame."""
    scores: list[FaceScore] = []
    for box in boxes:
        if box.ignore:
            continue
        coverage = box_coverage(mask, box.xyxy)
        if coverage is not None:
            scores.append(FaceScore(box, coverage, coverage >= min_coverage - 1e-9))
    return scores


def off_face_pixels(redacted: BoolMask, boxes: Iterable[FaceBox]) -> int:
    """Redacted pixels that lie on no ground-truth face box (ignored boxes count as faces)."""
    return int(np.count_nonzero(redacted & ~face_mask(boxes, redacted.shape)))


# --------------------------------------------------------------------------- result model


class BucketRecall(BaseModel):
    """Coverage recall for faces whose box height falls in ``[min_height, max_height)``."""

    bucket: str
    min_height: float
    max_height: float | None = Field(description="null: no upper bound")
    faces: int
    covered: int
    recall: float | None = Field(description="covered / faces; null when there are no faces")


class MissedFace(BaseModel):
    """A ground-truth face that was not covered enough."""

    image: str
    box: Box = Field(description="x1, y1, x2, y2 in the evaluated frame")
    height: float
    coverage: float


class ImageResult(BaseModel):
    image: str
    width: int
    height: int
    faces: int
    covered: int
    ignored: int
    detections: int
    whole_frame: bool
    redacted_pixels: int
    off_face_pixels: int
    protect_seconds: float


class Throughput(BaseModel):
    protect_seconds: float = Field(description="time in FrameProtector.protect (detect + redact)")
    total_seconds: float = Field(description="wall time including loading and scoring")
    protect_images_per_s: float
    total_images_per_s: float
    warm_images_per_s: float | None = Field(
        description="protect rate without the first image of each frame size (model setup); "
        "null when every image has its own size"
    )


class MotionInfo(BaseModel):
    """How stills were turned into clips (``bystander.measure.motion``); null for stills."""

    frames_per_clip: int
    speed: float = Field(description="peak pan speed, px per frame (0: the picture is still)")
    zoom: float = Field(description="peak zoom amplitude (relative)")


class SyntheticSpec(BaseModel):
    """How the synthetic small-face frames were built (null for native images)."""

    frame_size: tuple[int, int]
    face_heights: list[float]
    background: str
    motion: MotionInfo | None = None


class EvalResult(BaseModel):
    """Everything ``bystander eval`` measured."""

    schema_: str = Field(default=EVAL_SCHEMA, alias="schema")
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    bystander_version: str = __version__
    dataset: str
    annotations: str
    format: str
    synthetic: SyntheticSpec | None = None
    detector: dict[str, object]
    settings: dict[str, object]
    min_coverage: float
    images: int
    faces: int
    ignored_faces: int
    covered: int
    recall: float | None
    buckets: list[BucketRecall]
    off_face_share: float | None = Field(
        description="share of redacted pixels on no ground-truth face box"
    )
    redacted_pixels: int
    off_face_pixels: int
    detections: int
    whole_frames: int
    throughput: Throughput
    missed: list[MissedFace]
    per_image: list[ImageResult]

    model_config = {"populate_by_name": True}

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)

    def bucket(self, name: str) -> BucketRecall:
        """The recall record of bucket ``name`` (e.g. ``"16-24"``)."""
        for record in self.buckets:
            if record.bucket == name:
                return record
        raise KeyError(name)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def bucket_recalls(scores: Iterable[FaceScore]) -> list[BucketRecall]:
    """Recall per face-height bucket."""
    faces = dict.fromkeys((name for name, _, _ in BUCKETS), 0)
    covered = dict.fromkeys(faces, 0)
    for score in scores:
        name = height_bucket(score.height)
        faces[name] += 1
        covered[name] += int(score.covered)
    return [
        BucketRecall(
            bucket=name,
            min_height=low,
            max_height=None if math.isinf(high) else high,
            faces=faces[name],
            covered=covered[name],
            recall=_ratio(covered[name], faces[name]),
        )
        for name, low, high in BUCKETS
    ]


# --------------------------------------------------------------------------- runner


@dataclass
class _ImageOutcome:
    record: ImageResult
    scores: list[FaceScore]
    size: tuple[int, int]


def _evaluate_image(
    image: AnnotatedImage,
    protect: Callable[[npt.NDArray[np.uint8]], ProtectedFrame],
    redactor: Redactor,
    min_coverage: float,
) -> _ImageOutcome:
    rgb = image.load()
    shape = rgb.shape
    started = time.perf_counter()
    frame = protect(rgb)
    seconds = time.perf_counter() - started
    redacted = redaction_mask(frame, redactor, shape)
    scores = score_faces(image.boxes, redacted, min_coverage)
    record = ImageResult(
        image=image.name,
        width=shape[1],
        height=shape[0],
        faces=len(scores),
        covered=sum(s.covered for s in scores),
        ignored=sum(b.ignore for b in image.boxes),
        detections=frame.detected,
        whole_frame=frame.whole_frame,
        redacted_pixels=int(np.count_nonzero(redacted)),
        off_face_pixels=off_face_pixels(redacted, image.boxes),
        protect_seconds=round(seconds, 4),
    )
    return _ImageOutcome(record, scores, (shape[1], shape[0]))


def _throughput(outcomes: list[_ImageOutcome], total: float) -> Throughput:
    protect = sum(o.record.protect_seconds for o in outcomes)
    seen: set[tuple[int, int]] = set()
    warm: list[float] = []
    for outcome in outcomes:
        if outcome.size in seen:
            warm.append(outcome.record.protect_seconds)
        seen.add(outcome.size)
    count = len(outcomes)
    return Throughput(
        protect_seconds=round(protect, 3),
        total_seconds=round(total, 3),
        protect_images_per_s=round(count / protect, 2) if protect > 0 else 0.0,
        total_images_per_s=round(count / total, 2) if total > 0 else 0.0,
        warm_images_per_s=round(len(warm) / sum(warm), 2) if warm and sum(warm) > 0 else None,
    )


def _rounded(box: Box, digits: int = 1) -> Box:
    x1, y1, x2, y2 = box
    return (round(x1, digits), round(y1, digits), round(x2, digits), round(y2, digits))


def _missed(outcomes: list[_ImageOutcome]) -> list[MissedFace]:
    return [
        MissedFace(
            image=o.record.image,
            box=_rounded(s.box.xyxy),
            height=round(s.height, 1),
            coverage=round(s.coverage, 3),
        )
        for o in outcomes
        for s in o.scores
        if not s.covered
    ]


def evaluate(
    dataset: FaceDataset,
    settings: ProtectSettings | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    detector: FaceDetector | None = None,
    synthetic: SyntheticSpec | None = None,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Run the image pipeline on every image of ``dataset`` and measure what it hid.

    ``progress`` is called with (images done, images in all) after each image.
    """
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError("min_coverage must be in (0, 1]")
    started = time.perf_counter()
    protector = Protector(settings, detector)
    frames = protector.frame_protector(video=False)
    redactor = Redactor(protector.settings.redaction)
    outcomes: list[_ImageOutcome] = []
    for done, image in enumerate(dataset.images, start=1):
        outcomes.append(_evaluate_image(image, frames.protect, redactor, min_coverage))
        if progress is not None:
            progress(done, len(dataset.images))
    total = time.perf_counter() - started
    return _result(dataset, frames.detector, protector, min_coverage, synthetic, outcomes, total)


def evaluate_video(
    dataset: FaceDataset,
    settings: ProtectSettings | None = None,
    motion: MotionSpec | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    detector: FaceDetector | None = None,
    synthetic: SyntheticSpec | None = None,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Run the *video* pipeline on clips made from ``dataset`` and measure what it hid.

    Each image becomes a clip (``moving_clip``); the clips play back to back through one
    ``FrameProtector`` (tracking, keyframes and look-back as in ``protect``), so each clip
    starts with a scene cut at an arbitrary point of the keyframe cycle. Every face in
    every frame is scored; ``images`` counts clips and ``faces`` face-frames.
    """
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError("min_coverage must be in (0, 1]")
    motion = motion or MotionSpec()
    started = time.perf_counter()
    protector = Protector(settings, detector)
    frames = protector.frame_protector(video=True)
    redactor = Redactor(protector.settings.redaction)
    truth: dict[int, tuple[int, list[FaceBox]]] = {}
    clips: list[_ClipTally] = []
    protect_seconds = 0.0

    def score(done: list[ProtectedFrame]) -> None:
        for frame in done:
            clip_index, boxes = truth.pop(frame.index)
            redacted = redaction_mask(frame, redactor, frame.image.shape)
            clips[clip_index].add(frame, redacted, boxes, min_coverage)

    index = 0
    for clip_index, image in enumerate(dataset.images):
        clips.append(_ClipTally(f"{image.name}#clip{clip_index}"))
        for rgb, boxes in moving_clip(image, motion, clip_index):
            truth[index] = (clip_index, boxes)
            index += 1
            tick = time.perf_counter()
            done = frames.push_frames(rgb)
            protect_seconds += time.perf_counter() - tick
            score(done)
        if progress is not None:
            progress(clip_index + 1, len(dataset.images))
    tick = time.perf_counter()
    done = frames.flush_frames()
    protect_seconds += time.perf_counter() - tick
    score(done)
    total = time.perf_counter() - started
    outcomes = [clip.outcome(protect_seconds * clip.frames / max(index, 1)) for clip in clips]
    if synthetic is not None:
        synthetic = synthetic.model_copy(
            update={
                "motion": MotionInfo(
                    frames_per_clip=motion.frames, speed=motion.speed, zoom=motion.zoom
                )
            }
        )
    return _result(dataset, frames.detector, protector, min_coverage, synthetic, outcomes, total)


@dataclass
class _ClipTally:
    """Scores of one clip's frames, summed into an ``ImageResult``."""

    name: str
    frames: int = 0
    size: tuple[int, int] = (0, 0)
    detections: int = 0
    whole_frames: int = 0
    redacted: int = 0
    off_face: int = 0
    ignored: int = 0

    def __post_init__(self) -> None:
        self.scores: list[FaceScore] = []

    def add(
        self, frame: ProtectedFrame, redacted: BoolMask, boxes: list[FaceBox], min_coverage: float
    ) -> None:
        scores = score_faces(boxes, redacted, min_coverage)
        self.frames += 1
        self.ignored += sum(b.ignore for b in boxes)
        self.size = (frame.image.shape[1], frame.image.shape[0])
        self.detections += frame.detected
        self.whole_frames += int(frame.whole_frame)
        self.redacted += int(np.count_nonzero(redacted))
        self.off_face += off_face_pixels(redacted, boxes)
        self.scores.extend(scores)

    def outcome(self, seconds: float) -> _ImageOutcome:
        record = ImageResult(
            image=self.name,
            width=self.size[0],
            height=self.size[1],
            faces=len(self.scores),
            covered=sum(s.covered for s in self.scores),
            ignored=self.ignored,
            detections=self.detections,
            whole_frame=self.whole_frames > 0,
            redacted_pixels=self.redacted,
            off_face_pixels=self.off_face,
            protect_seconds=round(seconds, 4),
        )
        return _ImageOutcome(record, self.scores, self.size)


def _result(
    dataset: FaceDataset,
    detector: FaceDetector,
    protector: Protector,
    min_coverage: float,
    synthetic: SyntheticSpec | None,
    outcomes: list[_ImageOutcome],
    total: float,
) -> EvalResult:
    scores = [s for o in outcomes for s in o.scores]
    records = [o.record for o in outcomes]
    redacted = sum(r.redacted_pixels for r in records)
    off_face = sum(r.off_face_pixels for r in records)
    covered = sum(s.covered for s in scores)
    redaction = protector.settings.redaction
    return EvalResult(
        dataset=dataset.name,
        annotations=str(dataset.source),
        format=dataset.format,
        synthetic=synthetic,
        detector=detector.describe(),  # the one that searched (video: its plan, precision)
        settings={
            "threshold": protector.settings.threshold,
            "mask_scale": redaction.mask_scale,
            "shape": redaction.shape,
            "min_coverage": min_coverage,
        },
        min_coverage=min_coverage,
        images=len(records),
        faces=len(scores),
        ignored_faces=sum(r.ignored for r in records),
        covered=covered,
        recall=_ratio(covered, len(scores)),
        buckets=bucket_recalls(scores),
        off_face_share=_ratio(off_face, redacted),
        redacted_pixels=redacted,
        off_face_pixels=off_face,
        detections=sum(r.detections for r in records),
        whole_frames=sum(r.whole_frame for r in records),
        throughput=_throughput(outcomes, total),
        missed=_missed(outcomes),
        per_image=records,
    )
