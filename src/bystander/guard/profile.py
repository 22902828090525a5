"""Device profiles: the per-product settings of the capture guard, loaded from YAML.

A profile can make the guard stricter, never weaker: every timing is validated against the
bound in the requirements (R1 ``t_lead_ms >= 200``, R2 ``confirm_timeout_ms <= 300``, R5
``watchdog_hz >= 20``, R7 ``still_min_on_ms >= 1500``), unknown keys are errors (there is no
``indicator: false`` or debug switch to find), and the consents R10 needs (``record-video``;
``record-audio`` with a microphone; ``cloud-processing``/``ai-processing`` for cloud or AI
use) are always required whatever the list says.

Example ``device.yaml``::

    device_id: glasses-0001
    device_type: smart-glasses
    jurisdiction: CN
    wearer_id: wearer-1
    microphone: true
    indicator:
      visibility: "seen at 3 m indoors, 1 m in daylight (lab test 2026-05)"
    zone_policy: default
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bystander.consent.models import ConsentKind, Scope
from bystander.errors import InputError
from bystander.guard.indicator import Pattern

_CODE = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


class ProfileError(InputError):
    """A device profile cannot be read or breaks a rule (one line, naming the field)."""


def _jurisdiction(value: str) -> str:
    code = value.upper()
    if not _CODE.fullmatch(code):
        raise ValueError(f"jurisdiction must be a code like CN, EU or US-IL, got {value!r}")
    return code


Jurisdiction = Annotated[str, AfterValidator(_jurisdiction)]
Id = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IndicatorSpec(_Strict):
    """Indicator timings and patterns; the bounds are the rules' and cannot be relaxed."""

    t_lead_ms: int = Field(200, ge=200, le=10_000, description="R1 lead before first sample")
    confirm_timeout_ms: int = Field(300, gt=0, le=300, description="R2 confirmation bound")
    watchdog_hz: float = Field(20.0, ge=20.0, le=1000.0, description="R5 health sampling")
    still_min_on_ms: int = Field(1500, ge=1500, le=60_000, description="R7 still on-time")
    still_pattern: Pattern = Pattern.STILL
    video_pattern: Pattern = Pattern.VIDEO
    visibility: str = Field(
        min_length=3, max_length=500, description="tested visibility (R16), e.g. '3 m indoors'"
    )

    @model_validator(mode="after")
    def _patterns(self) -> Self:
        if Pattern.OFF in (self.still_pattern, self.video_pattern):
            raise ValueError("an indicator pattern for capture cannot be 'off'")
        if self.still_pattern == self.video_pattern:
            raise ValueError("video needs a pattern distinct from stills (R7)")
        return self

    @property
    def period_ns(self) -> int:
        """The watchdog period in nanoseconds."""
        return round(1e9 / self.watchdog_hz)


class RequiredConsent(_Strict):
    """A consent the wearer must hold before arming."""

    scope: Scope
    kind: ConsentKind = ConsentKind.GENERAL


class DeviceProfile(_Strict):
    """What the guard needs to know about one device model and its deployment."""

    device_id: Id
    device_type: str = Field(min_length=1, max_length=100)
    jurisdiction: Jurisdiction
    wearer_id: Id
    microphone: bool = False
    cloud: bool = False
    ai: bool = False
    indicator: IndicatorSpec
    consents: tuple[RequiredConsent, ...] = ()
    zone_policy: str = Field("default", min_length=1, max_length=500)

    def required_consents(
        self, audio: bool, extra: tuple[Scope, ...] = ()
    ) -> list[RequiredConsent]:
        """Every consent arming needs (R10): the mandatory ones, the listed ones, ``extra``."""
        needed = [RequiredConsent(scope=Scope.RECORD_VIDEO)]
        if audio:
            needed.append(RequiredConsent(scope=Scope.RECORD_AUDIO))
        if self.cloud:
            needed.append(RequiredConsent(scope=Scope.CLOUD_PROCESSING))
        if self.ai:
            needed.append(RequiredConsent(scope=Scope.AI_PROCESSING))
        needed += [RequiredConsent(scope=s) for s in extra]
        needed += list(self.consents)
        return list(dict.fromkeys(needed))

    @classmethod
    def from_dict(cls, data: Any, where: str = "profile") -> DeviceProfile:
        """Validate ``data``; a problem raises ``ProfileError`` naming the field."""
        if not isinstance(data, dict):
            raise ProfileError(f"{where}: a device profile is a mapping of fields")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "profile"
            message = first["msg"].removeprefix("Value error, ")
            raise ProfileError(f"{where}: {field}: {message}") from None

    @classmethod
    def load(cls, path: Path | str) -> DeviceProfile:
        """Read a profile from a YAML file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ProfileError(f"{path}: not a UTF-8 text file") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            raise ProfileError(f"{path}: malformed YAML{at}") from None
        return cls.from_dict(data, str(path))
