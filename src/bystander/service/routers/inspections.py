"""Inspections: upload an evidence bundle (.zip or .tar.gz), get findings, the HTML report
and the impact assessment from a background job."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from bystander.service.archives import ArchiveRefused, Limits, extract
from bystander.service.auth import Principal, Role, require
from bystander.service.job_model import JobInfo, Progress, Work
from bystander.service.routers.common import services, submit_job
from bystander.service.routers.protect import job_folder
from bystander.service.uploads import spool

router = APIRouter(prefix="/api", tags=["inspections"])
_AUDITOR = require(Role.AUDITOR)


@router.post("/inspections", status_code=202, summary="Upload a bundle to inspect (a job)")
async def inspect(
    request: Request,
    file: UploadFile = File(...),
    as_of: str | None = Form(
        None,
        alias="date",
        max_length=40,
        description="Judge as of this day (YYYY-MM-DD; default today).",
    ),
    who: Principal = Depends(_AUDITOR),
) -> dict[str, Any]:
    try:
        date.fromisoformat(as_of) if as_of else None
    except ValueError:
        shown = (as_of or "")[:40]
        raise HTTPException(422, f"date must look like 2026-12-31, got {shown!r}") from None
    found = services(request)
    settings = found.settings
    folder = job_folder("inspect")
    folder.mkdir(mode=0o700, parents=True)
    archive = folder / "bundle.upload"
    try:
        await spool(file, archive, settings.max_upload_bytes)
        limits = Limits(settings.max_bundle_bytes, settings.max_bundle_files,
                        settings.max_bundle_ratio)  # fmt: skip
        bundle = await run_in_threadpool(_unpack, archive, folder / "bundle", limits)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    params = {"bundle": str(bundle.relative_to(folder)), "date": as_of or ""}
    return await submit_job(found, "inspect", who, folder, params, inspect_work)


def inspect_work(job: JobInfo) -> Work:
    """The work of an inspection job (also rebuilt after a restart)."""
    folder = Path(job.folder)
    bundle = folder / str(job.params["bundle"])
    day = date.fromisoformat(job.params["date"]) if job.params.get("date") else None

    def work(progress: Progress) -> dict[str, Any]:
        from bystander.inspect.bundle import load_bundle
        from bystander.inspect.pia import build_pia, render_pia
        from bystander.inspect.report import render
        from bystander.rules import inspect_evidence

        progress(0.1, "loading the bundle")
        inspection = inspect_evidence(load_bundle(bundle), ["all"], today=day)
        progress(0.7, "writing reports")
        (folder / "findings.json").write_text(render(inspection, "json"))
        (folder / "report.html").write_text(render(inspection, "html"))
        (folder / "pia.html").write_text(render_pia(build_pia(inspection), "html"))
        return {"violations": len(inspection.violations), "exit_code": inspection.exit_code,
                "files": {"findings": "findings.json", "report": "report.html",
                          "pia": "pia.html"}}  # fmt: skip

    return work


def _unpack(archive: Path, target: Path, limits: Limits) -> Path:
    """Unpack under ``limits`` (a worker thread); the folder holding manifest.yaml."""
    try:
        extract(archive, target, limits)
    except ArchiveRefused as exc:
        status = 415 if "checked by content" in str(exc) else 400
        raise HTTPException(status, str(exc)) from None
    finally:
        archive.unlink(missing_ok=True)
    manifests = sorted(target.rglob("manifest.yaml"), key=lambda p: len(p.parts))
    if not manifests:
        raise HTTPException(400, "the bundle has no manifest.yaml")
    return manifests[0].parent
