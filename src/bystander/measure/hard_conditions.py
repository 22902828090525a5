"""The hard-conditions benchmark: coverage recall per condition, size and split, vs deface.

Every generated frame goes through each contender; a face counts as covered when at least
``min_coverage`` of its polygon's pixels (inside the frame) are hidden. Recall is reported
per split (``dev``: may be tuned on; ``held-out``: never), per condition and per face-height
bucket, with the share of hidden pixels that lie on no face.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from bystander._version import __version__
from bystander.measure.conditions import (
    CONDITIONS,
    DEFAULT_HEIGHTS,
    ConditionFrame,
    generate,
)
from bystander.measure.contenders import BoolMask, Contender
from bystander.measure.evaluation import BUCKETS, DEFAULT_MIN_COVERAGE, height_bucket
from bystander.measure.facelib import SPLITS, FaceLibrary, Split

RESULT_SCHEMA = "bystander.hard-conditions/1"
Progress = Callable[[str], None]


def polygon_mask(polygon: npt.NDArray[np.float32], shape: tuple[int, ...]) -> BoolMask:
    """Pixels whose centre lies inside the convex ``polygon`` (clipped to the frame).

    Pixel (x, y) covers [x, x+1) x [y, y+1); its centre is (x + 0.5, y + 0.5).
    """
    height, width = shape[:2]
    mask = np.zeros((height, width), dtype=bool)
    x1, y1 = np.floor(polygon.min(axis=0)).astype(int)
    x2, y2 = np.ceil(polygon.max(axis=0)).astype(int)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    if x2 <= x1 or y2 <= y1:
        return mask
    xs = np.arange(x1, x2, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y1, y2, dtype=np.float64)[:, None] + 0.5
    corners = polygon.astype(np.float64)
    signs = []
    for (ax, ay), (bx, by) in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        signs.append((bx - ax) * (ys - ay) - (by - ay) * (xs - ax))
    stacked = np.stack(signs)
    inside = (stacked >= 0).all(axis=0) | (stacked <= 0).all(axis=0)
    mask[y1:y2, x1:x2] = inside
    return mask


def polygon_coverage(hidden: BoolMask, polygon: npt.NDArray[np.float32]) -> float | None:
    """Share of the polygon's pixels inside the frame that are hidden; None if none are."""
    inside = polygon_mask(polygon, hidden.shape)
    total = int(np.count_nonzero(inside))
    if total == 0:
        return None
    return float(np.count_nonzero(hidden & inside)) / total


class Tally(BaseModel):
    faces: int = 0
    covered: int = 0

    @property
    def recall(self) -> float | None:
        return round(self.covered / self.faces, 4) if self.faces else None

    def add(self, covered: bool) -> None:
        self.faces += 1
        self.covered += int(covered)


class ContenderScore(BaseModel):
    """One contender's result on one condition of one split."""

    faces: int = 0
    covered: int = 0
    recall: float | None = None
    buckets: dict[str, Tally] = Field(default_factory=dict)
    hidden_pixels: int = 0
    off_face_pixels: int = 0
    off_face_share: float | None = None
    seconds: float = 0.0
    missed: list[str] = Field(default_factory=list, description="source and height of misses")

    def finish(self) -> None:
        self.faces = sum(t.faces for t in self.buckets.values())
        self.covered = sum(t.covered for t in self.buckets.values())
        self.recall = round(self.covered / self.faces, 4) if self.faces else None
        self.off_face_share = (
            round(self.off_face_pixels / self.hidden_pixels, 4) if self.hidden_pixels else None
        )


class ConditionResult(BaseModel):
    split: str
    condition: str
    frames: int
    contenders: dict[str, ContenderScore]


class HardConditionsResult(BaseModel):
    schema_: str = Field(default=RESULT_SCHEMA, alias="schema")
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    bystander_version: str = __version__
    min_coverage: float
    heights: list[int]
    seed: int
    variants: int
    library_missing: list[str]
    contenders: dict[str, dict[str, object]]
    results: list[ConditionResult]

    model_config = {"populate_by_name": True}

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)

    def get(self, split: str, condition: str) -> ConditionResult | None:
        for result in self.results:
            if result.split == split and result.condition == condition:
                return result
        return None

    def overall(self, split: str, contender: str, min_height: float = 24.0) -> Tally:
        """Faces of ``min_height`` px and up over every condition but ``tiny``."""
        total = Tally()
        for result in self.results:
            if result.split != split or result.condition == "tiny":
                continue
            score = result.contenders.get(contender)
            if score is None:
                continue
            for name, tally in score.buckets.items():
                low = next(lo for bucket, lo, _ in BUCKETS if bucket == name)
                if low >= min_height:
                    total.faces += tally.faces
                    total.covered += tally.covered
        return total


@dataclass
class _Accumulator:
    score: ContenderScore = field(default_factory=ContenderScore)

    def add_frame(
        self, frame: ConditionFrame, hidden: BoolMask, seconds: float, min_coverage: float
    ) -> None:
        score = self.score
        score.seconds += seconds
        any_face = np.zeros(hidden.shape, dtype=bool)
        for face in frame.faces:
            inside = polygon_mask(face.polygon, hidden.shape)
            any_face |= inside
            if face.ignore:
                continue
            total = int(np.count_nonzero(inside))
            if total == 0:
                continue
            coverage = float(np.count_nonzero(hidden & inside)) / total
            covered = coverage >= min_coverage - 1e-9
            bucket = height_bucket(face.height)
            score.buckets.setdefault(bucket, Tally()).add(covered)
            if not covered:
                score.missed.append(
                    f"{frame.name} {face.source} {face.pose} h={face.height:.0f} "
                    f"covered {coverage:.2f}"
                )
        score.hidden_pixels += int(np.count_nonzero(hidden))
        score.off_face_pixels += int(np.count_nonzero(hidden & ~any_face))


def run_condition(
    library: FaceLibrary,
    condition: str,
    contenders: Sequence[Contender],
    heights: Sequence[int] = DEFAULT_HEIGHTS,
    seed: int = 0,
    variants: int = 1,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> tuple[int, dict[str, ContenderScore]]:
    """Frames of one condition through every contender; (frames, score per contender)."""
    tallies = {c.name: _Accumulator() for c in contenders}
    frames = 0
    for frame in generate(library, condition, heights, seed, variants):
        frames += 1
        for contender in contenders:
            started = time.perf_counter()
            hidden = contender.mask(frame.image)
            elapsed = time.perf_counter() - started
            tallies[contender.name].add_frame(frame, hidden, elapsed, min_coverage)
    for tally in tallies.values():
        tally.score.finish()
    return frames, {name: t.score for name, t in tallies.items()}


def run_benchmark(
    library: FaceLibrary,
    contenders: Sequence[Contender],
    conditions: Sequence[str] = CONDITIONS,
    splits: Sequence[Split] = SPLITS,
    heights: Sequence[int] = DEFAULT_HEIGHTS,
    seed: int = 0,
    variants: int = 1,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    progress: Progress | None = None,
) -> HardConditionsResult:
    """Every condition of every split through every contender (the same frames for all)."""
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(
            f"unknown condition(s) {', '.join(unknown)} (choose from {', '.join(CONDITIONS)})"
        )
    results: list[ConditionResult] = []
    for split in splits:
        part = library.split(split)
        for condition in conditions:
            if progress is not None:
                progress(f"{split}: {condition}")
            count = variants * (3 if condition == "crowd" else 1)
            frames, scores = run_condition(
                part, condition, contenders, heights, seed, count, min_coverage
            )
            results.append(ConditionResult(
                split=split, condition=condition, frames=frames, contenders=scores
            ))  # fmt: skip
    return HardConditionsResult(
        min_coverage=min_coverage,
        heights=list(heights),
        seed=seed,
        variants=variants,
        library_missing=library.missing,
        contenders={c.name: c.describe() for c in contenders},
        results=results,
    )


def bucket_order(name: str) -> float:
    for bucket, low, _ in BUCKETS:
        if bucket == name:
            return low
    return math.inf

