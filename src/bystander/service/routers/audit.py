"""The audit log: events (paged), signed checkpoints, inclusion and consistency proofs."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from bystander.service.auth import Principal, Role, require
from bystander.service.routers.common import accessed, services

router = APIRouter(prefix="/api/audit", tags=["audit"])
_AUDITOR = require(Role.AUDITOR)
_BIG = 2**53  # larger sizes and indexes are refused (422), never passed to the database


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@router.get("/events", summary="Events, oldest first")
def events(
    request: Request, start: int = Query(0, ge=0, le=_BIG),
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = Depends(_AUDITOR),
) -> dict[str, Any]:  # fmt: skip
    log = services(request).audit
    size = log.size()
    items = [
        {"index": e.index, **e.event.model_dump(mode="json")}
        for e in log.entries(start, min(size, start + limit))
    ]
    accessed(request, who, f"audit:{start}-{start + len(items)}", None)
    return {"size": size, "start": start, "events": items}


@router.post("/checkpoints", status_code=201, summary="Sign a checkpoint of the log now")
def checkpoint(request: Request, who: Principal = Depends(_AUDITOR)) -> dict[str, Any]:
    cp = services(request).audit.checkpoint()
    return {"origin": cp.origin, "size": cp.size, "root_hash": _b64(cp.root_hash), "note": cp.note}


@router.get("/checkpoints", summary="Checkpoints signed so far")
def checkpoints(request: Request, who: Principal = Depends(_AUDITOR)) -> list[dict[str, Any]]:
    return [
        {"origin": c.origin, "size": c.size, "root_hash": _b64(c.root_hash), "note": c.note}
        for c in services(request).audit.checkpoints()
    ]


@router.get("/proofs/inclusion", summary="RFC 9162 inclusion proof of an entry")
def inclusion(
    request: Request, index: int = Query(ge=0, le=_BIG),
    tree_size: int | None = Query(None, ge=1, le=_BIG),
    who: Principal = Depends(_AUDITOR),
) -> dict[str, Any]:  # fmt: skip
    log = services(request).audit
    size = tree_size or log.size()
    if index >= size or size > log.size():
        raise HTTPException(400, f"entry {index} is not in a tree of {size} (log: {log.size()})")
    return {"index": index, "tree_size": size, "leaf_hash": _b64(log.leaf_hash(index)),
            "root_hash": _b64(log.root(size)),
            "proof": [_b64(h) for h in log.inclusion_proof(index, size)]}  # fmt: skip


@router.get("/proofs/consistency", summary="RFC 9162 consistency proof between two sizes")
def consistency(
    request: Request, old_size: int = Query(ge=1, le=_BIG),
    new_size: int | None = Query(None, ge=1, le=_BIG),
    who: Principal = Depends(_AUDITOR),
) -> dict[str, Any]:  # fmt: skip
    log = services(request).audit
    size = new_size or log.size()
    if not old_size <= size <= log.size():
        raise HTTPException(400, f"need 1 <= old_size <= new_size <= {log.size()}")
    return {"old_size": old_size, "new_size": size, "old_root": _b64(log.root(old_size)),
            "new_root": _b64(log.root(size)),
            "proof": [_b64(h) for h in log.consistency_proof(old_size, size)]}  # fmt: skip
