"""Billing events: a JSON list, ``{"events": [...]}``, or CSV with the columns
``subscription_id,event,t,amount,currency,auto_renew`` (only the first three are required).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bystander.inspect.importers.common import (
    MAX_STREAM_BYTES,
    MAX_WHOLE_BYTES,
    BundleError,
    decode_text,
    parse_time,
    read_bytes,
)
from bystander.inspect.records import Billing

COLUMNS = ("subscription_id", "event", "t", "amount", "currency", "auto_renew")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


def load_billing(path: Path, name: str) -> list[Billing]:
    """The billing events of one file (``.csv`` is CSV, anything else JSON)."""
    if path.suffix.lower() == ".csv":
        return list(_csv_rows(path, name))
    text = decode_text(read_bytes(path, name, MAX_WHOLE_BYTES), name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise BundleError(f"{name}: JSON nested too deeply") from None
    if isinstance(data, dict) and set(data) == {"events"}:
        data = data["events"]
    if not isinstance(data, list):
        raise BundleError(f'{name}: expected a list of events or {{"events": [...]}}')
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise BundleError(f"{name} event #{i}: expected a JSON object")
        out.append(_event(item, f"billing:{name}:{i}", f"{name} event #{i}"))
    return out


def _csv_rows(path: Path, name: str) -> Iterator[Billing]:
    text = decode_text(read_bytes(path, name, MAX_STREAM_BYTES), name)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in COLUMNS]
    missing = [c for c in COLUMNS[:3] if c not in header]
    if unknown or missing:
        what = f"unknown column {unknown[0]!r}" if unknown else f"missing column {missing[0]!r}"
        raise BundleError(f"{name} line 1: {what} (columns: {', '.join(COLUMNS)})")
    try:
        for row in reader:
            line = reader.line_num
            if len(row) > len(header) or None in row:
                raise BundleError(f"{name} line {line}: more values than columns")
            yield _event(row, f"billing:{name}:{line}", f"{name} line {line}")
    except csv.Error as exc:
        raise BundleError(f"{name} line {reader.line_num}: not valid CSV ({exc})") from None


def _event(item: Mapping[str, Any], ref: str, where: str) -> Billing:
    extra = set(item) - set(COLUMNS)
    if extra:
        raise BundleError(f"{where}: unknown field {sorted(extra)[0]!r}")
    sub, event = item.get("subscription_id"), item.get("event")
    if not isinstance(sub, str | int) or isinstance(sub, bool) or sub == "":
        raise BundleError(f"{where}: subscription_id is missing")
    if not isinstance(event, str) or not event:
        raise BundleError(f"{where}: event is missing")
    try:
        t = parse_time(item.get("t"))
    except ValueError as exc:
        raise BundleError(f"{where}: t: {exc}") from None
    return Billing(
        ref=ref,
        t=t,
        subscription_id=str(sub),
        event=event,
        amount=_amount(item.get("amount"), where),
        currency=(str(item["currency"]) or None) if item.get("currency") else None,
        auto_renew=_flag(item.get("auto_renew"), where),
    )


def _amount(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BundleError(f"{where}: amount: expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BundleError(f"{where}: amount: {value!r} is not a number") from None


def _flag(value: Any, where: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BundleError(f"{where}: auto_renew: {value!r} is not true or false")
