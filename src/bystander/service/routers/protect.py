"""Protect jobs: upload a video or photo, get the protected file and its report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from bystander import config
from bystander.service.auth import Principal, Role, require
from bystander.service.job_model import JobInfo, Progress, Task, Work
from bystander.service.originals import register_original
from bystander.service.routers.common import services, submit_job
from bystander.service.uploads import save_upload

if TYPE_CHECKING:
    from bystander.service.services import Services

router = APIRouter(prefix="/api", tags=["protect"])
_DEVICE = require(Role.DEVICE)


def job_folder(kind: str) -> Path:
    """A new folder for one job's upload and results, under the home folder (0700)."""
    import uuid

    root = config.home() / "service"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / kind).mkdir(mode=0o700, exist_ok=True)
    return root / kind / uuid.uuid4().hex


async def receive_original(found: Services, upload: UploadFile, folder: Path) -> dict[str, str]:
    """Store an upload and register it for retention; the job parameters naming it."""
    source = await save_upload(upload, folder, found.settings.max_upload_bytes)
    item = await run_in_threadpool(register_original, found, source)
    return {"input": source.name, "original_id": item}


@router.post("/protect", status_code=202, summary="Upload a file to protect (a background job)")
async def protect(
    request: Request, file: UploadFile = File(...), who: Principal = Depends(_DEVICE)
) -> dict[str, Any]:
    found = services(request)
    folder = job_folder("protect")
    params = await receive_original(found, file, folder)
    return await submit_job(found, "protect", who, folder, params, PROTECT)


def protect_work(job: JobInfo) -> Work:
    """The work of a protect job (also rebuilt after a restart)."""
    folder = Path(job.folder)
    source = folder / str(job.params["input"])
    target = folder / f"protected{source.suffix}"

    def work(progress: Progress) -> dict[str, Any]:
        from bystander.jobs.protect import Protector

        if not source.is_file():
            raise FileNotFoundError("the upload is no longer stored")
        target.unlink(missing_ok=True)  # a resumed job starts over
        listener = _Listener(progress)
        item = Protector().protect_file(source, target, listener)
        (folder / "report.json").write_text(item.model_dump_json(indent=2))
        summary = item.summary
        return {"frames": summary.frames, "regions_redacted": summary.regions_redacted,
                "files": {"output": target.name, "report": "report.json"}}  # fmt: skip

    return work


#: Protect reads the upload and writes its output and report beside it: it may run on Ray.
PROTECT = Task(protect_work, portable=True)


class _Listener:
    """Protect's progress interface, reported to the job as the share of frames done (the
    protector reports the running count of frames encoded)."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.total, self.done = progress, 0, 0

    def start_item(self, path: Path, total_frames: int | None) -> None:
        self.total, self.done = total_frames or 0, 0

    def advance(self, frames_done: int) -> None:
        self.done = max(self.done, frames_done)
        if self.total:
            share = min(0.99, self.done / self.total)
            self.progress(share, f"{min(self.done, self.total)}/{self.total} frames")

    def end_item(self) -> None:
        self.progress(1.0, "written")
