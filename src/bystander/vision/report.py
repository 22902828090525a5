"""The protect report: what was redacted where, per frame, plus a summary per file.

The JSON schema is published in ``docs/report-schema.json`` (``bystander protect
--report-schema`` prints it); ``schema`` names its version.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from bystander.vision.pipeline import ProtectedFrame

REPORT_SCHEMA = "bystander.protect-report/1"


class RegionRecord(BaseModel):
    """A redacted face region: the face box (before mask enlargement), in frame pixels."""

    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in pixels")
    track_id: int | None = Field(description="track the region belongs to; null for images")
    score: float | None = Field(description="detector score; null for predicted boxes")
    source: Literal["detected", "predicted", "lookback", "interpolated"]


class VisibleRecord(BaseModel):
    """A detected face left visible because its person consented (``--keep-visible``)."""

    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in pixels")
    track_id: int | None = Field(description="track the face belongs to; null for images")
    reason: str = Field(description="why it stayed visible, e.g. 'enrolled ds-7f3a'")
    consent_id: str | None = Field(description="the consent record that permits it")


class FrameRecord(BaseModel):
    index: int = Field(description="0-based frame number in decode order")
    regions: list[RegionRecord]
    visible: list[VisibleRecord] = Field(
        default_factory=list, description="faces left visible because their person consented"
    )
    whole_frame_redacted: bool = Field(
        default=False, description="true when the detector failed and the frame was hidden whole"
    )
    error: str | None = None
    visibility_error: str | None = Field(
        default=None,
        description="the consent check failed on this frame, so every face was redacted",
    )


class ItemSummary(BaseModel):
    frames: int
    faces_detected: int = Field(description="detections summed over frames")
    regions_redacted: int = Field(description="redacted regions summed over frames")
    tracks: int = Field(description="distinct face tracks (videos)")
    whole_frames_redacted: int
    faces_kept_visible: int = Field(
        default=0, description="faces left visible because their person consented, over frames"
    )
    visibility_errors: int = Field(
        default=0, description="frames where the consent check failed (every face redacted)"
    )
    seconds: float = Field(description="wall-clock processing time")
    fps: float = Field(description="frames processed per second")


class ItemReport(BaseModel):
    input: str
    output: str
    kind: Literal["video", "image"]
    width: int
    height: int
    frame_rate: float | None = Field(description="frames per second of the video; null for images")
    audio: bool = Field(description="whether the output carries the input's audio")
    summary: ItemSummary
    consents: list[str] = Field(
        default_factory=list,
        description="consent records that kept someone visible in this file",
    )
    frames: list[FrameRecord]


class FailureRecord(BaseModel):
    input: str
    error: str


class ProtectReport(BaseModel):
    schema_: str = Field(default=REPORT_SCHEMA, alias="schema")
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    bystander_version: str
    detector: dict[str, object]
    settings: dict[str, object]
    items: list[ItemReport] = Field(default_factory=list)
    failures: list[FailureRecord] = Field(default_factory=list)
    unsigned: list[str] = Field(
        default_factory=list,
        description="outputs published without a C2PA manifest: signing was on but their "
        "format (MKV, AVI, WebM) cannot carry one",
    )

    model_config = {"populate_by_name": True}

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


def frame_record(frame: ProtectedFrame, with_tracks: bool) -> FrameRecord:
    regions = frame.regions
    records = [
        RegionRecord(
            box=(round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)),
            track_id=int(tid) if with_tracks and tid >= 0 else None,
            score=None if math.isnan(score) else round(float(score), 4),
            source=source,  # type: ignore[arg-type]
        )
        for (x1, y1, x2, y2), tid, score, source in zip(
            regions.xyxy.tolist(),
            regions.track_ids.tolist(),
            regions.scores.tolist(),
            regions.sources,
            strict=True,
        )
    ]
    visible = [
        VisibleRecord(
            box=(round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)),
            track_id=int(tid) if with_tracks and tid >= 0 else None,
            reason=kept.reason,
            consent_id=kept.consent_id,
        )
        for (x1, y1, x2, y2), tid, kept in zip(
            frame.visible.xyxy.tolist(), frame.visible.track_ids.tolist(), frame.kept, strict=True
        )
    ]
    return FrameRecord(
        index=frame.index,
        regions=records,
        visible=visible,
        whole_frame_redacted=frame.whole_frame,
        error=frame.error,
        visibility_error=frame.visibility_error,
    )
