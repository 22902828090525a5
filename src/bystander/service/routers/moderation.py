"""The moderation queue: items, reviewer decisions, complaints and takedowns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from bystander.screening.policy import Decision
from bystander.screening.queue import ModerationError, ModerationQueue
from bystander.service.auth import Principal, Role, require
from bystander.service.job_model import JobInfo, Progress, Work, job_engine
from bystander.service.openapi import binary
from bystander.service.routers.common import accessed, services, submit_job
from bystander.service.routers.protect import job_folder, receive_original

T = TypeVar("T")
router = APIRouter(prefix="/api/moderation", tags=["moderation"])
_MODERATOR = require(Role.MODERATOR)


def _queue(request: Request) -> ModerationQueue:
    found = services(request)
    return ModerationQueue(found.engine, found.audit)


def _call(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except ModerationError as exc:
        status = 404 if str(exc).startswith("no ") else 409
        raise HTTPException(status, str(exc)) from None


class DecideRequest(BaseModel):
    decision: Decision
    note: str = Field("", max_length=2000)


class TakedownRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class ComplaintRequest(BaseModel):
    target: str = Field(min_length=1, max_length=200, description="item id or upload SHA-256")
    complainant: str = Field(min_length=1, max_length=128)
    grounds: str = Field(min_length=1, max_length=2000)


@router.get("/items", summary="Items, newest first")
def items(
    request: Request,
    status: str | None = Query(None, max_length=40),
    who: Principal = Depends(_MODERATOR),
) -> list[dict[str, Any]]:
    return [i.to_dict() for i in _call(_queue(request).list, status)]


@router.get("/items/{item_id}", summary="One item with its actions")
def item(item_id: str, request: Request, who: Principal = Depends(_MODERATOR)) -> dict[str, Any]:
    queue = _queue(request)
    found = _call(queue.get, item_id)
    return found.to_dict() | {"outcome": found.outcome, "actions": queue.actions(item_id)}


@router.post("/items/{item_id}/decision", summary="A reviewer's decision")
def decide(
    item_id: str, body: DecideRequest, request: Request, who: Principal = Depends(_MODERATOR)
) -> dict[str, Any]:
    reviewer = f"token:{who.token_id}"
    return _call(_queue(request).decide, item_id, reviewer, body.decision, body.note).to_dict()


@router.post("/items/{item_id}/takedown", summary="Take an item down")
def takedown(
    item_id: str, body: TakedownRequest, request: Request, who: Principal = Depends(_MODERATOR)
) -> dict[str, Any]:
    actor = f"token:{who.token_id}"
    return _call(_queue(request).take_down, item_id, actor, body.reason).to_dict()


@router.post("/complaints", status_code=201, summary="Record a notice (Civil Code Art 1195)")
def complain(
    body: ComplaintRequest, request: Request, who: Principal = Depends(_MODERATOR)
) -> dict[str, Any]:
    queue = _queue(request)
    return _call(queue.complain, body.target, body.complainant, body.grounds).to_dict()


@router.get("/stats", summary="Items by status, complaints, time to takedown")
def stats(request: Request, who: Principal = Depends(_MODERATOR)) -> dict[str, Any]:
    return _queue(request).stats().to_dict()


@router.post("/uploads", status_code=202, summary="Screen an upload into the queue (a job)")
async def screen_upload(
    request: Request, file: UploadFile = File(...), who: Principal = Depends(_MODERATOR)
) -> dict[str, Any]:
    found = services(request)
    folder = job_folder("screen")
    params = await receive_original(found, file, folder)
    return await submit_job(found, "screen", who, folder, params, screen_work)


def screen_work(job: JobInfo) -> Work:
    """The work of a screening job (also rebuilt after a restart; it may run in a worker
    process, with its own connection to the database). A held item keeps its original for
    the moderator (under its retention period); otherwise it is destroyed."""
    folder = Path(job.folder)
    source = folder / str(job.params["input"])

    def work(progress: Progress) -> dict[str, Any]:
        from bystander.evidence.audit import AuditLog
        from bystander.screening.policy import load_policy
        from bystander.screening.screen import Screener

        if not source.is_file():
            raise FileNotFoundError("the upload is no longer stored")
        progress(0.1, "screening")
        outcome = Screener(load_policy(None), anonymized_dir=folder).screen(source)
        engine = job_engine()
        item = ModerationQueue(engine, AuditLog(engine, checkpoint_every=1)).submit(outcome)
        return {"item_id": item.id, "decision": outcome.decision.value,
                "original_held": outcome.decision is Decision.HOLD}  # fmt: skip

    return work


@router.get(
    "/items/{item_id}/media/{which}",
    summary="An item's original or anonymized file",
    response_class=FileResponse,
    responses=binary(),
)
def media(
    item_id: str, which: str, request: Request, who: Principal = Depends(_MODERATOR)
) -> FileResponse:
    """The original only for moderators and admins (this route's roles); every read of an
    original is a personal-data access event."""
    found = _call(_queue(request).get, item_id)
    if which == "original":
        path = Path(found.path)
        accessed(request, who, f"moderation-original:{item_id}", None)
    elif which == "anonymized" and found.anonymized_path:
        path = Path(found.anonymized_path)
    else:
        raise HTTPException(404, f"item {item_id} has no {which} file")
    if not path.is_file():
        raise HTTPException(404, f"the {which} file of item {item_id} is no longer stored")
    return FileResponse(path, filename=path.name)
