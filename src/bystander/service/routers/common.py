"""Helpers shared by the routers: the services, and the personal-data access record."""

from __future__ import annotations

from fastapi import Request

from bystander.evidence.events import AuditEvent, EventType
from bystander.service.app import Services
from bystander.service.auth import Principal


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


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
