"""The screening policy: what counts as an identifiable face, and what to do with each upload.

A YAML file (``bystander screen --policy FILE``); keys left out take the packaged default
(``screening/data/default-policy.yaml``). Errors name the file and the key, in one line.
"""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bystander.errors import InputError

MAX_POLICY_BYTES = 1 << 20


class Decision(StrEnum):
    """What happens to an upload."""

    ACCEPT = "accept"
    ANONYMIZE = "anonymize"  # publish the protected version instead
    HOLD = "hold"  # human review
    REJECT = "reject"


class FaceRules(BaseModel):
    """When a face in an upload can identify someone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_face_px: int = Field(32, ge=8, le=4096)
    min_detail: float = Field(15.0, ge=0.0)
    min_score: float = Field(0.5, gt=0.0, lt=1.0)
    sample_fps: float = Field(5.0, gt=0.0, le=120.0)
    max_frames: int = Field(150, ge=1, le=100_000)


class Decisions(BaseModel):
    """The decision for each kind of upload (see the default policy file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    compliant: Decision = Decision.ACCEPT
    compliant_with_faces: Decision = Decision.HOLD
    noncompliant_with_faces: Decision = Decision.REJECT
    noncompliant_without_faces: Decision = Decision.HOLD
    tampered: Decision = Decision.HOLD
    unsigned_with_faces: Decision = Decision.ANONYMIZE
    unsigned_without_faces: Decision = Decision.HOLD
    unreadable: Decision = Decision.REJECT


class ScreeningPolicy(BaseModel):
    """A validated screening policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(1, ge=1, le=1)
    faces: FaceRules = Field(default_factory=lambda: FaceRules.model_validate({}))
    decisions: Decisions = Field(default_factory=lambda: Decisions.model_validate({}))
    max_people_to_anonymize: int = Field(20, ge=0)
    takedown_deadline_hours: float = Field(24.0, gt=0.0, le=24.0 * 365)
    source: str = Field("default", description="where the policy was loaded from")


def default_policy_path() -> Path:
    return Path(str(resources.files("bystander.screening") / "data" / "default-policy.yaml"))


def load_policy(path: Path | None = None) -> ScreeningPolicy:
    """The policy in ``path`` (None: the packaged default); ``InputError`` when it is bad."""
    where = path or default_policy_path()
    try:
        if where.stat().st_size > MAX_POLICY_BYTES:
            raise InputError(f"{where}: policy file is larger than 1 MiB")
        data = yaml.safe_load(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{where}: cannot read the policy: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{where}: not valid YAML: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: the policy must be a mapping of keys to values")
    data = dict(data)
    data["source"] = "default" if path is None else str(path)
    try:
        return ScreeningPolicy.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{where}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error: dict[str, Any] = dict(exc.errors()[0])
    key = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        message = "unknown key"
    return f"{key}: {message}" if key else message
