"""Capture sessions: start one (a device profile and a source clip standing in for the camera,
with the simulated indicator), watch its status and a live protected preview, stop it, and
download the signed recording. The guard's rules apply exactly as in ``bystander capture``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from bystander.guard.consumers import ConsumerKind, ReleasedSample, SampleKind
from bystander.guard.session import CaptureSession
from bystander.guard.zones import LocationType
from bystander.service.auth import Principal, Role, require
from bystander.service.job_model import JobInfo, Progress
from bystander.service.openapi import binary
from bystander.service.profiles import load_api_profile
from bystander.service.routers.common import services
from bystander.service.routers.jobs import owned
from bystander.service.routers.protect import job_folder, receive_original

router = APIRouter(prefix="/api/capture", tags=["capture"])
_DEVICE = require(Role.DEVICE)


class Snapshot:
    """A consumer keeping the latest *released* (protected) frame as JPEG: a live stream,
    so arming needs the wearer's live-stream consent like any other."""

    name = "api-preview"
    kind = ConsumerKind.LIVE_STREAM

    def __init__(self) -> None:
        self.jpeg: bytes | None = None
        self.frames = 0

    def receive(self, sample: ReleasedSample) -> None:
        if sample.kind is not SampleKind.VIDEO:
            return
        frame = np.ascontiguousarray(sample.payload[:, :, ::-1])
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            self.jpeg, self.frames = data.tobytes(), self.frames + 1


@dataclass
class Live:
    session: CaptureSession
    owner: str
    snapshot: Snapshot | None
    summary: dict[str, Any] = field(default_factory=dict)


@router.post("/sessions", status_code=202, summary="Start a capture session (a job)")
async def start(
    request: Request,
    source: UploadFile = File(..., description="A clip standing in for the camera"),
    profile: str = Form(..., max_length=20_000, description="Device profile (YAML)"),
    location: LocationType = Form(LocationType.UNKNOWN),
    preview: bool = Form(False),
    sign: bool = Form(True),
    who: Principal = Depends(_DEVICE),
) -> dict[str, Any]:
    from bystander.guard.clock import SystemClock
    from bystander.guard.indicator import SimulatedIndicator
    from bystander.guard.sources import VideoSource
    from bystander.jobs.capture import LiveProtection, RecordingSigner, record_session
    from bystander.jobs.signing import signing_identity

    found = services(request)
    clock = SystemClock()

    def prepare() -> tuple[CaptureSession, Snapshot | None, RecordingSigner | None]:
        """Profile, zone policy, session and signer: files and models, so off the loop."""
        device, zones = load_api_profile(profile)
        protection = LiveProtection()
        indicator = SimulatedIndicator(clock, lag_ms=30)
        session = CaptureSession(device, indicator, found.consent, found.audit, clock=clock,
                                 location=location, protector=protection, zones=zones)  # fmt: skip
        snapshot = Snapshot() if preview else None
        if snapshot is not None:
            session.add_consumer(snapshot)
        signing = RecordingSigner(signing_identity(), found.audit, protection) if sign else None
        return session, snapshot, signing

    session, snapshot, signing = await run_in_threadpool(prepare)  # refused: nothing stored
    folder = job_folder("capture")
    params = await receive_original(found, source, folder)
    clip = folder / params["input"]
    live = Live(session, who.token_id, snapshot)

    def work(progress: Progress) -> dict[str, Any]:
        camera = VideoSource(str(clip))
        try:
            progress(0.05, "capturing")
            output = folder / "recording.mp4"
            live.summary = record_session(session, camera, output, False, 0, clock, signing)
        finally:
            camera.close()
            if live.snapshot is not None and live.snapshot.jpeg is not None:
                (folder / "preview.jpg").write_bytes(live.snapshot.jpeg)  # the last one
            found.captures.pop(job_id, None)
        return live.summary | {"session": _state(live), "files": {"recording": "recording.mp4"}}

    job = JobInfo(uuid.uuid4().hex, "capture", who.token_id, folder=str(folder), params=params)
    job_id = job.id
    found.captures[job.id] = live
    await run_in_threadpool(found.jobs.submit_job, job, work)
    return job.to_dict()


def _state(live: Live) -> dict[str, Any]:
    s = live.session
    return {
        "session_id": s.session_id,
        "state": str(s.state),
        "released": s.released,
        "withheld": s.withheld,
        "fault": s.fault_rule,
        "preview_frames": live.snapshot.frames if live.snapshot else None,
    }


def _live(request: Request, job_id: str, who: Principal) -> Live | None:
    """The running session, None if it has ended (its record is the job's); else 404."""
    found = services(request)
    live: Live | None = found.captures.get(job_id)
    if live is not None and (who.role is Role.ADMIN or live.owner == who.token_id):
        return live
    job = owned(request, job_id, who) if live is None else None
    if job is None or job.kind != "capture":
        raise HTTPException(404, f"no capture session {job_id}")
    return None


@router.get("/sessions/{job_id}", summary="A session's guard state and counts")
def status(job_id: str, request: Request, who: Principal = Depends(_DEVICE)) -> dict[str, Any]:
    live = _live(request, job_id, who)
    if live is not None:
        return _state(live)
    job = owned(request, job_id, who)
    ended = dict(job.result.get("session") or {})
    return ended or {"session_id": None, "state": f"ended ({job.state})", "released": 0,
                     "withheld": 0, "fault": None, "preview_frames": None}  # fmt: skip


@router.post("/sessions/{job_id}/stop", summary="Stop a session (the recording is finished)")
def stop(job_id: str, request: Request, who: Principal = Depends(_DEVICE)) -> dict[str, Any]:
    live = _live(request, job_id, who)
    if live is not None:
        live.session.stop()
    return status(job_id, request, who)


@router.get(
    "/sessions/{job_id}/preview.jpg",
    summary="The latest protected frame",
    response_class=Response,
    responses=binary("image/jpeg"),
)
def preview(job_id: str, request: Request, who: Principal = Depends(_DEVICE)) -> Response:
    live = _live(request, job_id, who)
    if live is None:
        last = Path(owned(request, job_id, who).folder) / "preview.jpg"
        if not last.is_file():
            raise HTTPException(404, "this session has ended without a preview")
        return Response(last.read_bytes(), media_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})  # fmt: skip
    if live.snapshot is None:
        raise HTTPException(404, "this session has no preview (start it with preview=true)")
    if live.snapshot.jpeg is None:
        raise HTTPException(409, "no frame released yet")
    return Response(
        live.snapshot.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )
