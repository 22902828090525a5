"""API tokens (admin only): create, list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from bystander.service.auth import Principal, Role, require
from bystander.service.routers.common import services

router = APIRouter(prefix="/api/tokens", tags=["tokens"])
_ADMIN = require()


class TokenRequest(BaseModel):
    role: Role
    subject_id: str | None = Field(None, max_length=200)
    label: str = Field("", max_length=200)


@router.post("", status_code=201, summary="Create a token (its secret is shown once)")
def create(body: TokenRequest, request: Request, who: Principal = Depends(_ADMIN)) -> Any:
    principal, secret = services(request).tokens.create(
        body.role, subject_id=body.subject_id, label=body.label
    )
    return principal.to_dict() | {"token": secret}


@router.get("", summary="Every token (never a secret)")
def list_tokens(request: Request, who: Principal = Depends(_ADMIN)) -> list[dict[str, Any]]:
    return [p.to_dict() | {"revoked": revoked} for p, revoked in services(request).tokens.list()]


@router.delete("/{token_id}", status_code=204, summary="Revoke a token at once")
def revoke(token_id: str, request: Request, who: Principal = Depends(_ADMIN)) -> None:
    services(request).tokens.revoke(token_id)


@router.get("/me", summary="Who this token is", tags=["tokens"])
def me(request: Request, who: Principal = Depends(require(*Role))) -> dict[str, Any]:
    return who.to_dict()
