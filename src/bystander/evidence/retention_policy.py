"""The retention policy: how long each data category is kept for each purpose, and why.

A :class:`RetentionPolicy` is data (the defaults below, overridable from a JSON or TOML file)
and doubles as the public retention schedule and destruction guidelines that Illinois BIPA
15(a) asks for. ``bystander.evidence.retention`` applies it to the stored-item inventory.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bystander.errors import BystanderError, InputError


class RetentionError(BystanderError):
    """A retention operation cannot be done (unknown item, deleted item)."""


class RetentionPolicyError(RetentionError, InputError):
    """The retention policy is invalid, or has no rule for a data category and purpose."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware (UTC) time")
    return value.astimezone(UTC)


class RetentionRule(BaseModel):
    """How long one data category is kept for one purpose, and why.

    ``period`` runs from collection, ``idle_limit`` from the last use (the last interaction);
    the item is destroyed when the first of them ends, or earlier when its purpose ends.
    Durations are ISO 8601 in files (``PT72H``, ``P30D``, ``P1Y`` = 365 days).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_category: str = Field(min_length=1, max_length=128)
    purpose: str = Field(min_length=1, max_length=128)
    description: str = ""
    period: timedelta | None = None
    idle_limit: timedelta | None = None
    purpose_ends: str = ""
    basis: str = ""

    @model_validator(mode="after")
    def _bounded(self) -> RetentionRule:
        if self.period is None and self.idle_limit is None:
            raise ValueError(
                f"rule {self.data_category}/{self.purpose} needs a period or an idle_limit"
            )
        for value in (self.period, self.idle_limit):
            if value is not None and value < timedelta(0):
                raise ValueError(f"rule {self.data_category}/{self.purpose}: negative duration")
        return self

    def retain_until(self, created_at: datetime, last_used_at: datetime) -> datetime:
        """The first moment the item must be destroyed."""
        bounds = []
        if self.period is not None:
            bounds.append(created_at + self.period)
        if self.idle_limit is not None:
            bounds.append(last_used_at + self.idle_limit)
        return min(bounds)

    def kept_for(self) -> str:
        """Plain words for the schedule: ``at most 72 hours after collection``."""
        parts = []
        if self.period is not None:
            parts.append(f"at most {describe_duration(self.period)} after collection")
        if self.idle_limit is not None:
            parts.append(f"at most {describe_duration(self.idle_limit)} after last use")
        return ", or ".join(parts) + (", whichever comes first" if len(parts) > 1 else "")


def describe_duration(value: timedelta) -> str:
    """``timedelta(days=365)`` -> ``1 year``; ``timedelta(hours=72)`` -> ``72 hours``."""
    seconds = int(value.total_seconds())
    units = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))
    for name, size in units:
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {name}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def iso_duration(value: timedelta) -> str:
    """An ISO 8601 duration for JSON output (``P365D``, ``PT1H``, ``P1DT30M``)."""
    days, rest = divmod(int(value.total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    text = f"P{days}D" if days or not time else "P"
    return text + (f"T{time}" if time else "")


_CONSENT_BASIS = (
    "Explicit, separate consent (GDPR Art 9(2)(a); PIPL Art 29; CAC/MPS Facial Recognition "
    "Measures Art 6; BIPA 15(b) written release). BIPA 15(a) allows at most 3 years after the "
    "last interaction; this schedule keeps 1 year (PIPL Art 19, minimum necessary)."
)

#: The shipped schedule. Override or extend it with a JSON/TOML file (``RetentionPolicy.load``).
DEFAULT_RULES: tuple[dict[str, str], ...] = (
    {
        "data_category": "user.biometric.face.template",
        "purpose": "consent_recognition",
        "description": "Encrypted face template of a person who enrolled so that the guard "
        "leaves them unblurred.",
        "idle_limit": "P365D",
        "purpose_ends": "the person withdraws consent or is removed by the device owner",
        "basis": _CONSENT_BASIS,
    },
    {
        "data_category": "user.biometric.face.template",
        "purpose": "identity_verification",
        "description": "Encrypted face template used to unlock or sign in (kept on the device).",
        "idle_limit": "P365D",
        "purpose_ends": "the person withdraws consent, is un-enrolled, or the device is reset",
        "basis": _CONSENT_BASIS,
    },
    {
        "data_category": "user.biometric.face.image",
        "purpose": "enrolment",
        "description": "Face photo taken to create a template.",
        "period": "PT1H",
        "purpose_ends": "the template has been created",
        "basis": "GB/T 35273-2020 6.3: do not keep raw biometric images after the template is "
        "made; PIPL Art 19; GDPR Art 5(1)(c),(e).",
    },
    {
        "data_category": "user.media.recording.original",
        "purpose": "anonymisation",
        "description": "Original recording before bystanders are anonymised (device only).",
        "period": "PT72H",
        "purpose_ends": "the anonymised copy has been written",
        "basis": "GDPR Art 5(1)(e) storage limitation; EDPB Guidelines 3/2019 (erase after a "
        "few days; beyond 72 hours needs justification); PIPL Art 19.",
    },
    {
        "data_category": "user.consent.record",
        "purpose": "proof_of_consent",
        "description": "Consent record (who agreed to what, when, and any withdrawal).",
        "idle_limit": "P3Y",
        "purpose_ends": "3 years after the consent was last given, renewed or withdrawn",
        "basis": "GDPR Art 7(1) (demonstrate consent); BIPA 15(b) written release.",
    },
    {
        "data_category": "system.evidence.impact_assessment",
        "purpose": "accountability",
        "description": "Personal information / data protection impact assessment report.",
        "period": "P3Y",
        "purpose_ends": "3 years after the assessment",
        "basis": "PIPL Art 56 and CAC/MPS Facial Recognition Measures Art 9 (keep at least "
        "3 years); GDPR Art 35.",
    },
)

DEFAULT_GUIDELINES: tuple[str, ...] = (
    "Every stored item is registered with its data category, purpose and a retain-until date "
    "computed from this schedule.",
    "An item is destroyed when its purpose is satisfied (for example when consent is "
    "withdrawn) or when the period in this schedule ends, whichever comes first.",
    "`bystander retention run` destroys what is due; run it at least daily.",
    "Biometric templates are encrypted at rest (AES-256-GCM) with a key kept outside the "
    "database; destroying a template deletes its encrypted record. Files are unlinked.",
    "No biometric template is kept more than 3 years after the person's last interaction "
    "(Illinois BIPA 15(a)); this schedule sets 1 year.",
    "Each destruction is recorded in the tamper-evident audit log with the item id, category, "
    "purpose and reason, never the data itself.",
    "A destruction that fails is reported and retried on the next run until it succeeds.",
)


class RetentionPolicy(BaseModel):
    """The retention schedule: rules keyed by (data category, purpose), plus guidelines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = "Retention schedule and destruction guidelines"
    guidelines: tuple[str, ...] = DEFAULT_GUIDELINES
    rules: tuple[RetentionRule, ...]

    @model_validator(mode="after")
    def _unique(self) -> RetentionPolicy:
        seen: set[tuple[str, str]] = set()
        for rule in self.rules:
            key = (rule.data_category, rule.purpose)
            if key in seen:
                raise ValueError(f"two rules for {key[0]}/{key[1]}")
            seen.add(key)
        return self

    @classmethod
    def default(cls) -> RetentionPolicy:
        """The shipped schedule."""
        return cls.model_validate({"rules": DEFAULT_RULES})

    @classmethod
    def load(cls, path: Path) -> RetentionPolicy:
        """Read a JSON or TOML policy file (keys ``title``, ``guidelines``, ``rules``,
        ``replace_defaults``). Its rules replace default rules with the same category and
        purpose and add new ones; ``replace_defaults = true`` drops the defaults."""
        data = _read_policy_file(path)
        replace = bool(data.pop("replace_defaults", False))
        rules: dict[tuple[str, str], Any] = {}
        if not replace:
            rules = {(r["data_category"], r["purpose"]): r for r in DEFAULT_RULES}
        for raw in data.pop("rules", []):
            if not isinstance(raw, Mapping):
                raise RetentionPolicyError(f"{path}: each rule must be a table/object")
            rules[(str(raw.get("data_category")), str(raw.get("purpose")))] = raw
        try:
            return cls.model_validate({**data, "rules": list(rules.values())})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RetentionPolicyError(f"{path}: {where}: {first['msg']}") from None

    def rule_for(self, data_category: str, purpose: str) -> RetentionRule:
        """The rule for a category and purpose; refuses data nobody declared a schedule for."""
        for rule in self.rules:
            if rule.data_category == data_category and rule.purpose == purpose:
                return rule
        raise RetentionPolicyError(
            f"no retention rule for data category {data_category!r} with purpose {purpose!r}; "
            "declare one in the retention policy before storing such data"
        )

    def find(self, data_category: str, purpose: str) -> RetentionRule | None:
        try:
            return self.rule_for(data_category, purpose)
        except RetentionPolicyError:
            return None

    def to_markdown(self) -> str:
        """The public schedule as a Markdown document."""
        lines = [f"# {self.title}", "", "## Schedule", ""]
        lines += [
            "| Data category | Purpose | What it is | Kept for | Destroyed earlier when | Basis |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rules:
            cells = (r.data_category, r.purpose, r.description, r.kept_for(), r.purpose_ends)
            row = [*cells, r.basis]
            lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
        lines += ["", "## Destruction guidelines", ""]
        lines += [f"- {g}" for g in self.guidelines]
        return "\n".join(lines) + "\n"

    def render(self, fmt: Literal["markdown", "json"] = "markdown") -> str:
        """The public schedule as Markdown or as JSON text."""
        if fmt == "json":
            return json.dumps(self.to_json_data(), indent=2) + "\n"
        return self.to_markdown()

    def to_json_data(self) -> dict[str, Any]:
        """The public schedule as JSON-ready data (durations in ISO 8601)."""
        return {
            "title": self.title,
            "guidelines": list(self.guidelines),
            "rules": [_rule_json(r) for r in self.rules],
        }


def _rule_json(rule: RetentionRule) -> dict[str, Any]:
    data = rule.model_dump(mode="json")
    for key in ("period", "idle_limit"):
        value = getattr(rule, key)
        data[key] = iso_duration(value) if value is not None else None
    data["kept_for"] = rule.kept_for()
    return data


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def _read_policy_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RetentionPolicyError(f"cannot read policy {path}: {exc.strerror or exc}") from None
    try:
        data: Any = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RetentionPolicyError(f"{path} is not valid {kind}: {message}") from None
    if not isinstance(data, dict):
        raise RetentionPolicyError(f"{path}: the policy must be an object/table")
    return data
