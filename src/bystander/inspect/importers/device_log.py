"""Device logs: JSON Lines of generic typed records, for devices that do not run Bystander.

One JSON object per line; ``type`` names the record (``capture``, ``indicator``, ``notice``,
``consent``, ``biometric_op``, ``egress``, ``store``, ``zone``, ``permission``, ``request``,
``moderation`` (alias ``upload``), ``billing``, ``count``, ``subject``) and the other keys are
the fields of that record in ``bystander.inspect.records`` (``ref`` is set from the line, so a
``ref`` or ``device_id`` key is ignored). A ``subject`` record states a person's ``age`` (or
``under_14``) and ``role`` (``wearer``, ``owner``, ``bystander``...); a consent may state them
too (``age``, ``under_14``, ``subject_role``); a capture its indicator lead ``t_lead_ms``.
Times (``t``, ``t_start``, ``deadline``...) are ISO 8601 or epoch seconds. Blank lines are
skipped. Example::

    {"type": "consent", "t": "2026-03-01T08:00:00Z", "action": "granted",
     "scopes": ["recording"], "kind": "separate", "subject_id": "wearer-1"}
    {"type": "indicator", "t": 1772352001.0, "state": "on"}
    {"type": "capture", "t_start": 1772352001.5, "t_end": 1772352061.0, "mode": "video"}
"""

from __future__ import annotations

import dataclasses
import gc
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from bystander.inspect import records as R
from bystander.inspect.importers.common import (
    MAX_STREAM_BYTES,
    BundleError,
    open_binary,
    parse_time,
)

Converter = Callable[[Any], Any]

#: Record ``type`` -> (record class, ``Evidence`` list attribute).
RECORD_TYPES: dict[str, tuple[type[Any], str]] = {
    "capture": (R.Capture, "captures"),
    "indicator": (R.Indicator, "indicators"),
    "notice": (R.Notice, "notices"),
    "consent": (R.Consent, "consents"),
    "biometric_op": (R.BiometricOp, "biometric_ops"),
    "egress": (R.Egress, "egress"),
    "store": (R.Store, "stores"),
    "zone": (R.Zone, "zones"),
    "permission": (R.Permission, "permissions"),
    "request": (R.SubjectRequest, "requests"),
    "moderation": (R.Moderation, "moderation"),
    "upload": (R.Moderation, "moderation"),
    "billing": (R.Billing, "billing"),
    "count": (R.Count, "counts"),
    "subject": (R.Subject, "subjects"),
}
_IGNORED = frozenset({"type", "ref", "device_id"})
_TIME_FIELDS = frozenset(
    {"t", "t_start", "t_end", "t_created", "t_deleted", "t_received", "t_completed", "deadline"}
)
_MAX_LINE = 1 << 20


class FieldError(ValueError):
    """A field value of the wrong type."""


def _time(value: Any) -> float | None:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise FieldError(str(exc)) from None


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise FieldError(f"expected a string, got {type(value).__name__}")


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise FieldError(f"expected a number, got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise FieldError(f"expected an integer, got {value!r}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise FieldError(f"expected true or false, got {value!r}")


def _strings(value: Any) -> list[str]:
    if type(value) is list and all(type(v) is str for v in value):
        return value
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [_str(v) for v in value]
    raise FieldError(f"expected a list of strings, got {type(value).__name__}")


def _enum(cls: type[Enum]) -> Converter:
    allowed = ", ".join(str(m.value) for m in cls)
    members = {m.value: m for m in cls}

    def convert(value: Any) -> Enum:
        member = members.get(value) if isinstance(value, str) else None
        if member is None:
            raise FieldError(f"{value!r} is not one of {allowed}")
        return member

    return convert


def _optional(inner: Converter) -> Converter:
    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


def _converter(name: str, hint: Any) -> Converter:
    """The converter for one dataclass field from its type hint."""
    if name in _TIME_FIELDS:
        return _time
    optional = False
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        hint = rest[0]
    origin = typing.get_origin(hint)
    conv: Converter
    if origin is frozenset:
        conv = lambda v: frozenset(_strings(v))  # noqa: E731
    elif origin is tuple:
        conv = lambda v: tuple(_strings(v))  # noqa: E731
    elif isinstance(hint, type) and issubclass(hint, Enum):
        conv = _enum(hint)
    elif hint is bool:
        conv = _bool
    elif hint is int:
        conv = _int
    elif hint is float:
        conv = _float
    elif hint is str:
        conv = _str
    else:  # pragma: no cover - a new record field type
        raise TypeError(f"no converter for {name}: {hint!r}")
    return _optional(conv) if optional else conv


_SLOW, _STR, _TIME = 0, 1, 2


@dataclass(frozen=True)
class _Spec:
    """How to read one record class: a converter and a fast-path code per field."""

    convs: dict[str, Converter]
    codes: dict[str, int]
    required: frozenset[str]


def _spec(cls: type[Any]) -> _Spec:
    hints = typing.get_type_hints(cls)
    convs: dict[str, Converter] = {}
    codes: dict[str, int] = {}
    required: set[str] = set()
    for f in dataclasses.fields(cls):
        if f.name == "ref":
            continue
        hint = hints[f.name]
        convs[f.name] = _converter(f.name, hint)
        if f.name in _TIME_FIELDS:
            codes[f.name] = _TIME
        elif hint is str or hint == (str | None):
            codes[f.name] = _STR
        else:
            codes[f.name] = _SLOW
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.add(f.name)
    return _Spec(convs, codes, frozenset(required))


_SPECS = {cls: _spec(cls) for cls, _ in RECORD_TYPES.values()}


def build_record(obj: dict[str, Any], ref: str) -> tuple[Any, str]:
    """The record ``obj`` describes and its ``Evidence`` list; ``ValueError`` if invalid."""
    kind = obj.get("type")
    found = RECORD_TYPES.get(kind) if isinstance(kind, str) else None
    if found is None:
        known = ", ".join(sorted(RECORD_TYPES))
        raise ValueError(f"unknown record type {kind!r} (known: {known})")
    cls, attr = found
    spec = _SPECS[cls]
    codes = spec.codes
    values: dict[str, Any] = {"ref": ref}
    for key, raw in obj.items():
        code = codes.get(key)
        kind_of = type(raw)
        if code == _STR and kind_of is str:
            values[key] = raw
        elif code == _TIME and (kind_of is float or kind_of is int):
            values[key] = float(raw)
        elif code is None:
            if key in _IGNORED:
                continue
            raise ValueError(f"{kind} record has no field {key!r}")
        else:
            try:
                values[key] = spec.convs[key](raw)
            except FieldError as exc:
                raise ValueError(f"{kind} field {key!r}: {exc}") from None
    if not spec.required <= values.keys():
        missing = sorted(spec.required - values.keys())
        raise ValueError(f"{kind} record lacks {', '.join(missing)}")
    return cls(**values), attr


def load_device_log(path: Path, name: str, evidence: R.Evidence) -> int:
    """Append the records of one device log to ``evidence``; returns how many were read.

    The cyclic garbage collector is paused meanwhile: records hold no cycles, and its full
    passes over millions of new objects would otherwise cost a third of the time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(path, name, evidence)
    finally:
        if enabled:
            gc.enable()


def _load(path: Path, name: str, evidence: R.Evidence) -> int:
    lists = {attr: getattr(evidence, attr) for _, attr in RECORD_TYPES.values()}
    decode = json.JSONDecoder().raw_decode
    count = 0
    with open_binary(path, name, MAX_STREAM_BYTES) as stream:
        line_no = 0
        while True:
            raw = stream.readline(_MAX_LINE + 1)
            if not raw:
                break
            line_no += 1
            if len(raw) > _MAX_LINE:
                raise BundleError(f"{name} line {line_no}: line over {_MAX_LINE} bytes")
            try:
                text = raw.decode("utf-8").strip()
                if not text:
                    continue
                obj, end = decode(text)
                if end != len(text):
                    raise ValueError(f"extra data after the object at column {end + 1}")
            except UnicodeDecodeError:
                raise BundleError(f"{name} line {line_no}: not UTF-8") from None
            except (ValueError, RecursionError) as exc:
                why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                raise BundleError(f"{name} line {line_no}: not valid JSON ({why})") from None
            if not isinstance(obj, dict):
                raise BundleError(f"{name} line {line_no}: expected a JSON object")
            try:
                record, attr = build_record(obj, f"log:{name}:{line_no}")
            except (ValueError, TypeError) as exc:
                raise BundleError(f"{name} line {line_no}: {exc}") from None
            lists[attr].append(record)
            count += 1
    return count
