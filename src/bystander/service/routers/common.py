"""Helpers shared by the routers: the services, job submission, and the personal-data access
record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from bystander.evidence.events import AuditEvent, EventType
from bystander.service.auth import Principal
from bystander.service.job_model import JobInfo, Task, Work
from bystander.service.services import Services


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def submit_job(
    found: Services,
    kind: str,
    who: Principal,
    folder: Path,
    params: dict[str, Any],
    work_for: Callable[[JobInfo], Work] | Task,
) -> dict[str, Any]:
    """Queue a ``kind`` job owned by ``who`` whose work ``work_for`` (a module-level function:
    it may run in a worker process) builds from the job, there and again after a restart;
    the queued job as JSON."""
    task = work_for if isinstance(work_for, Task) else Task(work_for)
    submitted = await run_in_threadpool(
        found.jobs.submit, kind, who.token_id, task, folder=str(folder), params=params
    )
    return submitted.to_dict()


def accessed(request: Request, who: Principal, resource: str, subject: str | None) -> None:
    """Record that ``who`` read personal data (``resource``: an id, never the content)."""
    services(request).audit.append(
        AuditEvent(
            type=EventType.PERSONAL_DATA_ACCESSED,
            subject_id=subject,
            data={
                "token_id": who.token_id,
                "role": who.role.value,
                "method": request.method,
                "path": request.url.path,
                "resource": resource,
            },
        )
    )
