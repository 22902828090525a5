"""The FastAPI dependencies that enforce API tokens and roles (tokens: ``service.tokens``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from bystander.evidence.events import AuditEvent, EventType
from bystander.service.tokens import COOKIE, Principal, Role, TokenStore

__all__ = ["COOKIE", "Principal", "Role", "TokenStore", "principal_from_request", "require"]


def principal_from_request(request: Request) -> Principal:
    """The caller from ``Authorization: Bearer <token>`` or the dashboard cookie; else 401."""
    header = request.headers.get("authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    secret = secret or request.cookies.get(COOKIE, "")
    tokens: TokenStore = request.app.state.services.tokens
    principal = tokens.verify(secret) if secret else None
    if principal is None:
        raise HTTPException(401, "a valid API token is required",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return principal


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting ``roles`` (and admin); others get 403 and an audit event.

    It runs on the event loop (no thread hop): a verified token is a cache hit, and only a
    new or expired one costs one indexed query.
    """
    allowed = {Role.ADMIN, *roles}

    async def dependency(request: Request) -> Principal:
        principal = principal_from_request(request)
        if principal.role not in allowed:
            request.app.state.services.audit.append(
                AuditEvent(
                    type=EventType.API_ACCESS_DENIED,
                    data={
                        "token_id": principal.token_id,
                        "role": principal.role.value,
                        "method": request.method,
                        "path": request.url.path,
                    },
                )
            )
            raise HTTPException(403, f"role {principal.role} may not do this")
        return principal

    return dependency
