"""Protect jobs: upload a video or photo, get the protected file and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile

from bystander import config
from bystander.service.auth import Principal, Role, require
from bystander.service.jobs import Progress
from bystander.service.routers.common import services
from bystander.service.uploads import save_upload

router = APIRouter(prefix="/api", tags=["protect"])
_DEVICE = require(Role.DEVICE)


def job_folder(kind: str) -> Path:
    """A new folder for one job's upload and results, under the home folder."""
    import uuid

    return config.home() / "service" / kind / uuid.uuid4().hex


@router.post("/protect", status_code=202, summary="Upload a file to protect (a background job)")
async def protect(
    request: Request, file: UploadFile = File(...), who: Principal = Depends(_DEVICE)
) -> dict[str, Any]:
    found = services(request)
    folder = job_folder("protect")
    source = await save_upload(file, folder, found.settings.max_upload_bytes)
    target = folder / f"protected{source.suffix}"

    def work(progress: Progress) -> dict[str, Any]:
        from bystander.vision.protect import Protector

        listener = _Listener(progress)
        item = Protector().protect_file(source, target, listener)
        (folder / "report.json").write_text(item.model_dump_json(indent=2))
        summary = item.summary
        return {"frames": summary.frames, "regions_redacted": summary.regions_redacted,
                "files": {"output": target.name, "report": "report.json"}}  # fmt: skip

    job = found.jobs.submit("protect", who.token_id, work)
    found.job_folders[job.id] = folder
    return job.to_dict()


class _Listener:
    """Protect's progress interface, reported to the job (share of frames done)."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.total, self.done = progress, 0, 0

    def start_item(self, path: Path, total_frames: int | None) -> None:
        self.total = total_frames or 0

    def advance(self, frames_done: int) -> None:
        self.done += frames_done
        if self.total:
            self.progress(min(0.99, self.done / self.total), f"{self.done}/{self.total} frames")

    def end_item(self) -> None:
        self.progress(1.0, "written")
