"""Background jobs: state and progress, and the files a finished job produced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse

from bystander.service.auth import Principal, Role, require
from bystander.service.job_model import JobInfo
from bystander.service.openapi import binary
from bystander.service.routers.common import services

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
_WORKERS = require(Role.DEVICE, Role.AUDITOR, Role.MODERATOR)
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'none'; sandbox")  # fmt: skip


@router.get("/{job_id}", summary="A job's state and progress (its owner's, or any for admin)")
def job(job_id: str, request: Request, who: Principal = Depends(_WORKERS)) -> dict[str, Any]:
    return owned(request, job_id, who).to_dict()


@router.get(
    "/{job_id}/files/{name}",
    summary="A file a finished job produced",
    response_class=FileResponse,
    responses=binary(),
)
def job_file(
    job_id: str, name: str, request: Request, who: Principal = Depends(_WORKERS)
) -> FileResponse:
    found = owned(request, job_id, who)
    if found.state != "done":
        raise HTTPException(409, f"job {job_id} is {found.state}")
    files = found.result.get("files") or {}
    if name not in files:
        raise HTTPException(404, f"job {job_id} has no file {name!r} (it has {sorted(files)})")
    path = Path(found.folder) / str(files[name])
    if not path.is_file():
        raise HTTPException(404, f"job {job_id}'s file {name!r} is no longer stored")
    if path.suffix in (".html", ".json"):  # reports open in the browser, scripts never run
        media = "text/html" if path.suffix == ".html" else "application/json"
        return FileResponse(path, media_type=media, content_disposition_type="inline",
                            headers={"Content-Security-Policy": REPORT_CSP})  # fmt: skip
    return FileResponse(path, filename=path.name)


def owned(request: Request, job_id: str, who: Principal) -> JobInfo:
    """The job if ``who`` started it (or is admin); 404 otherwise."""
    found = services(request).jobs.get(job_id[:64])
    if found is None or (who.role is not Role.ADMIN and found.owner != who.token_id):
        raise HTTPException(404, f"no job {job_id}")
    return found
