"""Protect jobs: upload a video or photo, get the protected file and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse

from bystander import config
from bystander.service.auth import Principal, Role, require
from bystander.service.jobs import JobInfo, Progress
from bystander.service.routers.common import services
from bystander.service.uploads import save_upload

router = APIRouter(prefix="/api", tags=["protect"])
_DEVICE = require(Role.DEVICE)


def _job_folder(job_key: str) -> Path:
    return config.home() / "service" / "protect" / job_key


@router.post("/protect", status_code=202, summary="Upload a file to protect (a background job)")
async def protect(
    request: Request, file: UploadFile = File(...), who: Principal = Depends(_DEVICE)
) -> dict[str, Any]:
    import uuid

    found = services(request)
    folder = _job_folder(uuid.uuid4().hex)
    source = await save_upload(file, folder, found.settings.max_upload_bytes)
    target = folder / f"protected{source.suffix}"

    def work(progress: Progress) -> dict[str, Any]:
        from bystander.vision.protect import Protector

        listener = _Listener(progress)
        item = Protector().protect_file(source, target, listener)
        (folder / "report.json").write_text(item.model_dump_json(indent=2))
        summary = item.summary
        return {"frames": summary.frames, "regions_redacted": summary.regions_redacted,
                "output": target.name, "report": "report.json"}  # fmt: skip

    job = found.jobs.submit("protect", who.token_id, work)
    found.job_folders[job.id] = folder
    return job.to_dict()


@router.get("/jobs/{job_id}", summary="A job's state and progress")
def job(job_id: str, request: Request, who: Principal = Depends(_DEVICE)) -> dict[str, Any]:
    return _owned(request, job_id, who).to_dict()


@router.get("/jobs/{job_id}/output", summary="The protected file of a finished job")
def output(job_id: str, request: Request, who: Principal = Depends(_DEVICE)) -> FileResponse:
    return _file(request, job_id, who, "output")


@router.get("/jobs/{job_id}/report", summary="The protect report of a finished job")
def report(job_id: str, request: Request, who: Principal = Depends(_DEVICE)) -> FileResponse:
    return _file(request, job_id, who, "report")


def _owned(request: Request, job_id: str, who: Principal) -> JobInfo:
    found = services(request).jobs.get(job_id)
    if found is None or (who.role is not Role.ADMIN and found.owner != who.token_id):
        raise HTTPException(404, f"no job {job_id}")
    return found


def _file(request: Request, job_id: str, who: Principal, key: str) -> FileResponse:
    found = _owned(request, job_id, who)
    if found.state != "done":
        raise HTTPException(409, f"job {job_id} is {found.state}")
    path = services(request).job_folders[job_id] / str(found.result[key])
    return FileResponse(path, filename=path.name)


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
