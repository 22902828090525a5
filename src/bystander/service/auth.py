"""The FastAPI dependencies that enforce API tokens and roles (tokens: ``service.tokens``).

``/api`` takes only ``Authorization: Bearer`` (checked by ``service.gate`` before the body is
read); the dashboard's pages and its ``/ui/api`` routes take the session cookie as well.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bystander.evidence.events import AuditEvent, EventType
from bystander.service.tokens import COOKIE, Principal, Role, TokenStore

__all__ = ["COOKIE", "Principal", "Role", "TokenStore", "principal_from_request", "require"]

#: Declares the Bearer scheme in the OpenAPI document (the gate does the checking).
BEARER = HTTPBearer(auto_error=False, scheme_name="bearerAuth",
                    description="An API token from `bystander token create`.")  # fmt: skip


def principal_from_request(request: Request) -> Principal:
    """The caller: the gate's verified Bearer token on ``/api``; elsewhere the Bearer token
    or the dashboard cookie. Else 401."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    header = request.headers.get("authorization", "")
    secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not request.url.path.startswith("/api"):
        secret = secret or request.cookies.get(COOKIE, "")
    tokens: TokenStore = request.app.state.services.tokens
    principal = tokens.verify(secret) if secret else None
    if principal is None:
        raise HTTPException(401, "a valid API token is required",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting ``roles`` (and admin); others get 403 and an audit event.

    It runs on the event loop (no thread hop): a verified token is a cache hit, and only a
    new or expired one costs one indexed query.
    """
    allowed = {Role.ADMIN, *roles}

    async def dependency(
        request: Request, _: HTTPAuthorizationCredentials | None = Security(BEARER)
    ) -> Principal:
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
