"""Face enrolment: create a template (separate consent first), list, remove; never export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from bystander.evidence.vault import TemplateExportRefused, TemplateVault
from bystander.recognition.enrolment import DEFAULT_PURPOSE
from bystander.service.auth import Principal, Role, require
from bystander.service.originals import discard_original
from bystander.service.routers.common import accessed, services
from bystander.service.routers.protect import job_folder
from bystander.service.uploads import image_pixels, save_upload

router = APIRouter(prefix="/api/enrolment", tags=["enrolment"])
_DEVICE = require(Role.DEVICE)


def _vault(request: Request) -> TemplateVault:
    found = services(request)
    return TemplateVault(found.engine, sink=found.audit)


@router.post("", status_code=201, summary="Enrol a face (needs separate face-enrolment consent)")
async def enrol(
    request: Request,
    subject_id: str = Form(..., min_length=1, max_length=200),
    photo: UploadFile = File(...),
    who: Principal = Depends(_DEVICE),
) -> dict[str, Any]:
    found = services(request)
    folder = job_folder("enrol")
    limit = found.settings.max_image_pixels
    try:
        path = await save_upload(photo, folder, min(found.settings.max_upload_bytes, 64 << 20))
        if path.suffix not in (".jpg", ".png", ".webp"):
            raise HTTPException(415, "the photo must be a JPEG, PNG or WebP image")
        result = await run_in_threadpool(_enrol, request, subject_id, path, limit)
    finally:
        await run_in_threadpool(discard_original, found, folder, "enrolment photo")
    return result


def _enrol(request: Request, subject_id: str, path: Path, max_pixels: int) -> dict[str, Any]:
    """Check the pixel count from the header, then decode and enrol (a worker thread)."""
    from bystander.recognition import FaceEmbedder, enroll
    from bystander.vision.detectors import create_detector
    from bystander.vision.image_io import read_image

    pixels = image_pixels(path)
    if not 0 < pixels <= max_pixels:
        why = f"the photo must be a readable image of at most {max_pixels} pixels"
        raise HTTPException(413 if pixels else 415, why)
    image = read_image(path).rgb
    found = services(request)
    detector = create_detector("centerface")
    result = enroll(
        subject_id, [image], found.consent, _vault(request), FaceEmbedder(),
        lambda frame: np.asarray(detector.detect(frame).xyxy, dtype=np.float32),
        sink=found.audit, purpose=DEFAULT_PURPOSE,
    )  # fmt: skip
    return dict(result.__dict__)


@router.get("", summary="Enrolled templates (ids and consent links, never face data)")
def list_templates(request: Request, who: Principal = Depends(_DEVICE)) -> list[dict[str, Any]]:
    rows = [
        {"template_id": t.template_id, "subject_id": t.subject_id,
         "consent_record_id": t.consent_record_id, "purpose": t.purpose,
         "created_at": t.created_at.isoformat()}
        for t in _vault(request).templates()
    ]  # fmt: skip
    accessed(request, who, "enrolment-templates", None)
    return rows


@router.delete("/{subject_id}", summary="Delete every template of a subject")
def remove(subject_id: str, request: Request, who: Principal = Depends(_DEVICE)) -> dict[str, int]:
    count = _vault(request).delete_for_subject(subject_id, reason="removed through the API")
    return {"deleted": count}


@router.get("/{template_id}/export", summary="Always refused: templates never leave the device")
def export(template_id: str, request: Request, who: Principal = Depends(require(*Role))) -> None:
    try:
        _vault(request).export(template_id, destination=f"api:{who.token_id}")
    except TemplateExportRefused as exc:
        raise HTTPException(403, str(exc)) from None
