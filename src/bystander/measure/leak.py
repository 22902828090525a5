"""Leaks on real video: the share of annotated face-frames less than 90% hidden.

Annotations (``measure/data/video-*.json``) give every face's box in every frame of a real
clip, drawn as ``benchmarks/annotate_faces.py`` describes. The clip runs through the video
pipeline exactly as ``bystander protect`` runs it (tracking, keyframes, look-back), and
deface runs on the same decoded frames; each face-frame's coverage is measured on the
output. A face-frame is a *leak* when less than ``min_coverage`` of its box is hidden.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from bystander.errors import InputError
from bystander.jobs.protect import Protector, ProtectSettings
from bystander.measure.contenders import DefaceContender
from bystander.measure.evaluation import DEFAULT_MIN_COVERAGE, box_coverage, redaction_mask
from bystander.vision.redact import Redactor

Frame = npt.NDArray[np.uint8]
VIDEO_SCHEMA = "bystander.video-faces/1"


@dataclass(frozen=True)
class AnnotatedClip:
    """A real clip and its faces: ``frames[index]`` lists (box, ignore) per face."""

    name: str
    split: str
    path: Path
    frames: dict[int, list[tuple[tuple[float, float, float, float], bool]]]

    @property
    def face_frames(self) -> int:
        return sum(1 for faces in self.frames.values() for _, ignore in faces if not ignore)


def annotation_files() -> list[str]:
    """The video annotations shipped with Bystander."""
    folder = resources.files("bystander.measure").joinpath("data")
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("video-"))


def load_clip(name: str, packages: Path | None, shared: Path | None) -> AnnotatedClip | None:
    """The shipped annotation ``name`` with its clip, or None when the clip is not here."""
    folder = resources.files("bystander.measure").joinpath("data")
    document: dict[str, Any] = json.loads(folder.joinpath(name).read_text("utf-8"))
    if document.get("schema") != VIDEO_SCHEMA:
        raise InputError(f"{name}: schema {document.get('schema')!r}, expected {VIDEO_SCHEMA}")
    source, relative = document["source"], document["path"]
    base = shared if source == "shared-egoblur" else (packages / source if packages else None)
    if base is None or not (base / relative).is_file():
        return None
    path = base / relative
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != document["sha256"]:
        raise InputError(f"{path} is not the annotated clip (sha256 {digest[:12]}...)")
    frames = {
        int(index): [
            (tuple(float(v) for v in face["box"]), bool(face.get("ignore", False)))
            for face in faces
        ]
        for index, faces in document["frames"].items()
    }
    return AnnotatedClip(document["name"], document["split"], path, frames)  # type: ignore[arg-type]


def decoded(path: Path) -> Iterator[Frame]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield np.ascontiguousarray(frame.to_ndarray(format="rgb24"))


class LeakScore(BaseModel):
    face_frames: int = 0
    leaks: int = 0
    leak_rate: float | None = None
    worst: list[str] = Field(default_factory=list, description="frame: coverage, lowest first")

    def add(self, index: int, coverage: float, min_coverage: float) -> None:
        self.face_frames += 1
        if coverage < min_coverage - 1e-9:
            self.leaks += 1
            self.worst.append(f"{index}: {coverage:.2f}")

    def finish(self) -> None:
        self.leak_rate = round(self.leaks / self.face_frames, 4) if self.face_frames else None
        self.worst.sort(key=lambda item: float(item.split(": ")[1]))
        del self.worst[20:]


class ClipLeaks(BaseModel):
    clip: str
    split: str
    frames: int
    contenders: dict[str, LeakScore]


def _score(
    clip: AnnotatedClip, index: int, hidden: npt.NDArray[np.bool_], score: LeakScore, min_cov: float
) -> None:
    for box, ignore in clip.frames.get(index, []):
        if ignore:
            continue
        coverage = box_coverage(hidden, box)
        if coverage is not None:
            score.add(index, coverage, min_cov)


def measure_clip(
    clip: AnnotatedClip,
    settings: ProtectSettings | None = None,
    with_deface: bool = True,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> ClipLeaks:
    """Run the clip through ``protect``'s video pipeline (and deface) and count leaks."""
    protector = Protector(settings)
    frames = protector.frame_protector(video=True)
    redactor = Redactor(protector.settings.redaction)
    ours = LeakScore()
    theirs = LeakScore()
    deface = DefaceContender() if with_deface else None
    count = 0
    for image in decoded(clip.path):
        count += 1
        if deface is not None:
            _score(clip, count - 1, deface.mask(image), theirs, min_coverage)
        for done in frames.push_frames(image.copy()):
            hidden = redaction_mask(done, redactor, done.image.shape)
            _score(clip, done.index, hidden, ours, min_coverage)
    for done in frames.flush_frames():
        hidden = redaction_mask(done, redactor, done.image.shape)
        _score(clip, done.index, hidden, ours, min_coverage)
    scores = {"bystander": ours}
    if deface is not None:
        scores["deface"] = theirs
    for score in scores.values():
        score.finish()
    return ClipLeaks(clip=clip.name, split=clip.split, frames=count, contenders=scores)
