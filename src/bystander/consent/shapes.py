"""A checker for exported consent records, derived from DPV's ISO/IEC TS 27560 profile.

The checks are data (``data/dpv-27560-record.json``, with its sources): for every field the
DPV guide's field table marks mandatory, the JSON path where this project's compact JSON-LD
puts it and what must be there; the same for each event; and the DPV terms the export may use
as types and states. ``missing_fields`` lists what a record node lacks; an exported record
claims ``dct:conformsTo dpv-27560:record`` only when nothing is missing.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

_DATA = "dpv-27560-record.json"


@cache
def shape() -> dict[str, Any]:
    """The checks (loaded once from the package data)."""
    text = resources.files("bystander.consent").joinpath("data", _DATA).read_text("utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def profile() -> str:
    """The DPV profile IRI a complete record conforms to."""
    return str(shape()["profile"])


def dpv_terms() -> frozenset[str]:
    """The DPV terms (``dpv:X``) the export may use as types and states."""
    return frozenset(shape()["terms"])


def missing_fields(node: dict[str, Any]) -> list[str]:
    """The 27560 fields a ``dpv:ConsentRecord`` node lacks (empty: it conforms).

    Event fields are named with the event's position, e.g. ``event 2: validity duration``.
    """
    missing = [rule["field"] for rule in shape()["record"] if not _holds(node, rule)]
    events = node.get("dct:hasPart")
    for number, event in enumerate(events if isinstance(events, list) else [], 1):
        for rule in shape()["event"]:
            if not isinstance(event, dict) or not _holds(event, rule):
                missing.append(f"event {number}: {rule['field']}")
    return missing


def _holds(node: dict[str, Any], rule: dict[str, Any]) -> bool:
    value: Any = node
    for key in rule["path"]:
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    check = rule["check"]
    if check == "present":
        return True
    if check == "string":
        return isinstance(value, str) and bool(value.strip())
    if check == "node":
        return isinstance(value, dict | str) and bool(value)
    if check == "nonempty":
        return isinstance(value, list) and bool(value)
    if check == "equals":
        return value == rule["value"] or (isinstance(value, list) and rule["value"] in value)
    if check == "term":
        values = value if isinstance(value, list) else [value]
        return bool(values) and all(v in dpv_terms() for v in values)
    raise ValueError(f"unknown check {check!r} in {_DATA}")
