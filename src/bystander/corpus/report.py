"""The corpus report: one JSON document for a whole corpus run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

CORPUS_REPORT_SCHEMA = "bystander.corpus-report/1"


class CorpusItem(BaseModel):
    input: str
    output: str | None = Field(description="the output, relative to the output folder")
    status: Literal["done", "skipped", "failed"] = Field(
        description="done in this run, skipped (finished and verified by an earlier run), or failed"
    )
    reason: str | None = Field(
        default=None, description="why it was done (e.g. 'not started', 'output missing')"
    )
    error: str | None = Field(default=None, description="one-line reason a failed file failed")
    kind: Literal["video", "image"] | None = None
    frames: int | None = None
    regions_redacted: int | None = None
    whole_frames_redacted: int | None = None
    signed: bool | None = None
    node: str | None = Field(default=None, description="the Ray node (or 'local') that did it")
    seconds: float | None = Field(default=None, description="time the worker spent on it")
    cpu_seconds: float | None = Field(
        default=None, description="CPU time its worker process spent on it (all threads)"
    )


class NodeThroughput(BaseModel):
    node: str
    files: int
    busy_seconds: float = Field(description="time its workers spent protecting files")
    files_per_second: float = Field(description="files over the run's wall time")
    files_per_busy_second: float
    cpu_seconds: float = Field(description="CPU time its workers spent on files (all threads)")
    worker_cpu_seconds: float = Field(
        description="all CPU time its worker processes used (start-up and model loading too)"
    )


class CorpusTotals(BaseModel):
    files: int
    done: int
    skipped: int
    failed: int


class CorpusReport(BaseModel):
    schema_: str = Field(default=CORPUS_REPORT_SCHEMA, alias="schema")
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    bystander_version: str
    engine: Literal["local", "ray"]
    address: str | None = Field(default=None, description="the Ray cluster joined (null: local)")
    workers: int
    output: str
    settings: dict[str, object]
    detector: dict[str, object] | None = None
    totals: CorpusTotals
    seconds: float = Field(description="wall time of the run")
    files_per_second: float = Field(description="files done in this run over its wall time")
    nodes: list[NodeThroughput] = Field(default_factory=list)
    stale_partials_removed: int = Field(
        default=0, description="temporary outputs of killed workers removed before redoing"
    )
    items: list[CorpusItem] = Field(default_factory=list)

    model_config = {"populate_by_name": True}

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)

    @property
    def failures(self) -> list[CorpusItem]:
        return [item for item in self.items if item.status == "failed"]
