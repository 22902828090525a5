"""Face enrolment: create a template (separate consent first), list, remove; never export."""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile

from bystander.evidence.vault import TemplateExportRefused, TemplateVault
from bystander.recognition.enrolment import DEFAULT_PURPOSE
from bystander.service.auth import Principal, Role, require
from bystander.service.routers.common import accessed, services
from bystander.service.routers.protect import job_folder
from bystander.service.uploads import save_upload

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
    from bystander.recognition import FaceEmbedder, enroll
    from bystander.vision.detectors import create_detector
    from bystander.vision.image_io import read_image

    found = services(request)
    folder = job_folder("enrol")
    try:
        path = await save_upload(photo, folder, found.settings.max_upload_bytes)
        if path.suffix not in (".jpg", ".png", ".webp"):
            raise HTTPException(415, "the photo must be a JPEG, PNG or WebP image")
        image = read_image(path).rgb
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the photo is not kept
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
