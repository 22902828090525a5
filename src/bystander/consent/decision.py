"""Whether a subject's consent records allow one scope now: the satisfaction rules.

``decide`` gets the candidate rows the store's one indexed query returns (``tables.CHECK``)
and applies the rules of ``bystander.consent.models``: guardians for under-14s, the kind
required, no bundling, validity spans and the latest refusal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row

from bystander.consent.models import (
    ConsentDecision,
    ConsentKind,
    Scope,
    is_bundled,
    iso,
    satisfies,
)
from bystander.consent.tables import from_micros, micros


def decide(
    rows: Sequence[Row[Any]], scope: Scope, required: ConsentKind, at: datetime
) -> ConsentDecision:
    """Apply the satisfaction rules (see ``bystander.consent.models``) to candidate rows."""
    if not rows:
        return ConsentDecision(False, None, f"no consent for {scope}")
    at_us = micros(at)
    minor = bool(rows[0].minor)
    refusals = [r for r in rows if r.refused_at is not None and r.refused_at <= at_us]
    last_refusal = max(refusals, key=lambda r: r.refused_at, default=None)
    allowed: list[tuple[int, str, str]] = []
    temporal: list[tuple[int, str, str]] = []
    problems: list[tuple[str, str]] = []
    for row in rows:
        if row.refused_at is not None:
            continue
        kind = ConsentKind(row.kind)
        if minor and kind is not ConsentKind.GUARDIAN:
            problems.append((row.id, "subject is under 14: only a guardian's consent counts"))
        elif not satisfies(kind, required):
            problems.append((row.id, f"{kind} consent does not satisfy {required}"))
        elif is_bundled(kind, row.scope_count, scope):
            bundled = f"{scope} is bundled with other scopes in a general consent"
            problems.append((row.id, f"{bundled}; it needs a consent of its own"))
        else:
            _judge(row, kind, scope, at_us, last_refusal, allowed, temporal)
    if allowed:
        _, record_id, reason = max(allowed)
        return ConsentDecision(True, record_id, reason)
    if temporal:
        _, record_id, reason = max(temporal)
        return ConsentDecision(False, record_id, reason)
    if last_refusal is not None:
        return ConsentDecision(
            False, last_refusal.id, f"consent refused {iso(from_micros(last_refusal.refused_at))}"
        )
    if any(r.refused_at is not None for r in rows):
        return ConsentDecision(False, None, f"no consent for {scope} at {iso(at)}")
    record_id, reason = problems[0]
    return ConsentDecision(False, record_id, reason)


def _judge(
    row: Row[Any],
    kind: ConsentKind,
    scope: Scope,
    at_us: int,
    last_refusal: Row[Any] | None,
    allowed: list[tuple[int, str, str]],
    temporal: list[tuple[int, str, str]],
) -> None:
    """Place one eligible record into ``allowed`` or ``temporal`` (why not now)."""
    spans: list[list[Any]] = json.loads(row.validity)
    for start, end, cause in reversed(spans):
        if start <= at_us and (end is None or at_us < end):
            if last_refusal is not None and last_refusal.refused_at > start:
                refused = last_refusal.refused_at
                temporal.append((refused, row.id, f"consent refused {iso(from_micros(refused))}"))
            else:
                until = "" if end is None else f", valid until {iso(from_micros(end))}"
                reason = f"{kind} consent for {scope} given {iso(from_micros(start))}{until}"
                allowed.append((start, row.id, reason))
            return
        if end is not None and end <= at_us:
            temporal.append((end, row.id, f"consent {cause} {iso(from_micros(end))}"))
            return
    first = from_micros(spans[0][0]) if spans else None
    later = f" (given later, {iso(first)})" if first else ""
    temporal.append((-1, row.id, f"no consent for {scope} at {iso(from_micros(at_us))}{later}"))
