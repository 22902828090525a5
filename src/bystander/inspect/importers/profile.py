"""The device profile (YAML or JSON) -> ``InspectedDevice``, strictly: unknown keys are errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bystander import safe_yaml
from bystander.inspect.importers.common import (
    MAX_DOCUMENT_BYTES,
    BundleError,
    decode_text,
    read_bytes,
)
from bystander.inspect.profile import InspectedDevice


def read_structured(path: Path, name: str) -> Any:
    """Parse a YAML or JSON file (by extension; ``.json`` is JSON, anything else YAML)."""
    text = decode_text(read_bytes(path, name, MAX_DOCUMENT_BYTES), name)
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BundleError(f"{name} line {exc.lineno}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise BundleError(f"{name}: JSON nested too deeply") from None
    try:
        return safe_yaml.load(text, MAX_DOCUMENT_BYTES)
    except RecursionError:
        raise BundleError(f"{name}: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise BundleError(f"{name}{where}: not valid YAML ({problem})") from None


def validation_message(exc: ValidationError) -> str:
    """``field.path: what is wrong`` for the first error (and how many more)."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where}: {msg}{more}"


def load_profile(path: Path, name: str) -> InspectedDevice:
    """Read and validate a device profile."""
    data = read_structured(path, name)
    if not isinstance(data, dict):
        raise BundleError(f"{name}: a device profile must be a mapping of fields")
    try:
        return InspectedDevice.model_validate(data)
    except ValidationError as exc:
        raise BundleError(f"{name}: {validation_message(exc)}") from None
