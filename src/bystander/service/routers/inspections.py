"""Inspections: upload an evidence bundle (.zip or .tar.gz), get findings, the HTML report
and the impact assessment from a background job."""

from __future__ import annotations

import tarfile
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile

from bystander.service.auth import Principal, Role, require
from bystander.service.jobs import Progress
from bystander.service.routers.common import services
from bystander.service.routers.protect import job_folder

router = APIRouter(prefix="/api", tags=["inspections"])
_AUDITOR = require(Role.AUDITOR)
MAX_MEMBERS = 10_000


@router.post("/inspections", status_code=202, summary="Upload a bundle to inspect (a job)")
async def inspect(
    request: Request,
    file: UploadFile = File(...),
    as_of: str | None = Form(
        None, alias="date", description="Judge as of this day (YYYY-MM-DD; default today)."
    ),
    who: Principal = Depends(_AUDITOR),
) -> dict[str, Any]:
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        shown = (as_of or "")[:40]
        raise HTTPException(422, f"date must look like 2026-12-31, got {shown!r}") from None
    found = services(request)
    folder = job_folder("inspect")
    folder.mkdir(parents=True)
    archive = folder / "bundle.upload"
    size, limit = 0, found.settings.max_upload_bytes
    with archive.open("wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                archive.unlink()
                raise HTTPException(413, f"upload larger than {limit} bytes")
            out.write(chunk)
    bundle = _extract(archive, folder / "bundle")

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

    job = found.jobs.submit("inspect", who.token_id, work)
    found.job_folders[job.id] = folder
    return job.to_dict()


def _extract(archive: Path, target: Path) -> Path:
    """Unpack a .zip or .tar.gz (by content) safely; the folder holding manifest.yaml."""
    head = archive.read_bytes()[:4]
    target.mkdir()
    try:
        if head.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(archive) as bundle:
                _check_names([m.filename for m in bundle.infolist()], target)
                bundle.extractall(target)
        elif head.startswith(b"\x1f\x8b"):
            with tarfile.open(archive, "r:gz") as bundle:
                members = bundle.getmembers()
                _check_names([m.name for m in members], target)
                if any(not (m.isfile() or m.isdir()) for m in members):
                    raise HTTPException(400, "bundle archives may hold only files and folders")
                bundle.extractall(target, filter="data")
        else:
            raise HTTPException(415, "a bundle must be a .zip or .tar.gz (checked by content)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise HTTPException(400, f"damaged bundle archive: {exc}") from None
    finally:
        archive.unlink(missing_ok=True)
    manifests = sorted(target.rglob("manifest.yaml"), key=lambda p: len(p.parts))
    if not manifests:
        raise HTTPException(400, "the bundle has no manifest.yaml")
    return manifests[0].parent


def _check_names(names: list[str], target: Path) -> None:
    if len(names) > MAX_MEMBERS:
        raise HTTPException(400, f"bundle archive has more than {MAX_MEMBERS} entries")
    root = target.resolve()
    for name in names:
        if not (target / name).resolve().is_relative_to(root):
            raise HTTPException(400, f"bundle archive entry escapes the bundle: {name}")
