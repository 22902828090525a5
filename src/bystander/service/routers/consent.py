"""Consent records: grant, withdraw, read, list, check, receipts.

A data subject's token sees and changes only that subject's records (others answer 404, as if
they did not exist); every read of a record is a ``api.personal_data_accessed`` event.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from bystander.consent.models import ConsentKind, ConsentRecord, Scope, SubjectRole
from bystander.consent.receipts import issue_receipt
from bystander.service.auth import Principal, Role, require
from bystander.service.routers.common import accessed, services

router = APIRouter(prefix="/api/consent", tags=["consent"])
_PEOPLE = require(Role.DEVICE, Role.SUBJECT)


class GrantRequest(BaseModel):
    subject_id: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1, max_length=32)
    kind: ConsentKind = ConsentKind.GENERAL
    role: SubjectRole = SubjectRole.WEARER
    purposes: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list,
                                                                  max_length=32)


class CheckAnswer(BaseModel):
    allowed: bool
    record_id: str | None
    reason: str


def _own(who: Principal, record: ConsentRecord) -> ConsentRecord:
    if who.role is Role.SUBJECT and record.subject.id != who.subject_id:
        raise HTTPException(404, f"no consent record {record.id}")
    return record


def _json(record: ConsentRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


@router.post("", status_code=201, summary="Record a consent")
def grant(body: GrantRequest, request: Request, who: Principal = Depends(_PEOPLE)) -> Any:
    if who.role is Role.SUBJECT and body.subject_id != who.subject_id:
        raise HTTPException(403, "a data subject can only consent for themselves")
    record = services(request).consent.grant(
        body.subject_id, body.scopes, kind=body.kind, role=body.role, purposes=body.purposes
    )
    return _json(record)


@router.get("/check", response_model=CheckAnswer, summary="May this subject's data be used now?")
async def check(
    request: Request, subject: str = Query(min_length=1, max_length=200), scope: Scope = Query(),
    kind: ConsentKind = ConsentKind.GENERAL,
    who: Principal = Depends(require(Role.DEVICE)),
) -> CheckAnswer:  # fmt: skip
    # one indexed query (about 0.1 ms): cheaper on the loop than a hop to the thread pool
    decision = services(request).consent.check(subject, scope, kind=kind)
    return CheckAnswer(allowed=decision.allowed, record_id=decision.record_id,
                       reason=decision.reason)  # fmt: skip


@router.get("", summary="List consent records (a subject sees only their own)")
def list_records(
    request: Request, subject: str | None = Query(None, max_length=200),
    who: Principal = Depends(require(Role.DEVICE, Role.AUDITOR, Role.SUBJECT)),
) -> list[dict[str, Any]]:  # fmt: skip
    if who.role is Role.SUBJECT:
        subject = who.subject_id
    records = services(request).consent.list(subject)
    accessed(request, who, f"consent-records:{subject or '*'}", subject)
    return [_json(r) for r in records]


@router.get("/{record_id}", summary="One consent record")
def get_record(
    record_id: str, request: Request,
    who: Principal = Depends(require(Role.DEVICE, Role.AUDITOR, Role.SUBJECT)),
) -> dict[str, Any]:  # fmt: skip
    record = _own(who, services(request).consent.get(record_id))
    accessed(request, who, record.id, record.subject.id)
    return _json(record)


@router.post("/{record_id}/withdraw", summary="Withdraw a consent (effective now)")
def withdraw(record_id: str, request: Request, who: Principal = Depends(_PEOPLE)) -> Any:
    store = services(request).consent
    _own(who, store.get(record_id))
    result = store.withdraw(record_id)
    return {"record": _json(result.record), "deletion_tasks": len(result.tasks)}


@router.get("/{record_id}/receipt", summary="A signed receipt (JWS) of a consent record")
def receipt(
    record_id: str, request: Request,
    who: Principal = Depends(require(Role.DEVICE, Role.SUBJECT)),
) -> dict[str, str]:  # fmt: skip
    record = _own(who, services(request).consent.get(record_id))
    accessed(request, who, record.id, record.subject.id)
    return {"record_id": record.id, "receipt": issue_receipt(record)}
