"""The rule catalog: rules (one YAML file per instrument), frameworks, and the taxonomy.

Rules are data: each names its instrument, article, what the article says (``text``), its
scope condition in plain words (``scope``), whom it binds (``addressee``: manufacturer,
deployer, platform, user), status, applicability, data categories, the checks that evaluate
it, severity, remediation and official sources (``verify: true`` marks a rule whose article
number or text was seen only in secondary sources such as news reports). Only ``in-force``
rules give violations; ``voluntary``, ``draft``, ``guidance``, ``recommended-standard`` and
``superseded`` (a draft provision the final text dropped) give advisories. Frameworks map
requirements to checks, as in Prowler. :func:`load_catalog` validates everything and fails with
one line naming the file and field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bystander.inspect.findings import Severity
from bystander.inspect.profile import DEVICE_TYPES
from bystander.rules.taxonomy import (
    CatalogError,
    Taxonomy,
    parse_taxonomy,
    read_yaml,
    validation_message,
)

Status = Literal[
    "in-force", "voluntary", "draft", "guidance", "recommended-standard", "superseded"
]
Family = Literal[
    "consent",
    "indicator",
    "biometrics",
    "notice",
    "cross-border",
    "data-minimisation",
    "retention",
    "impact-assessment",
    "minors",
    "zones",
    "security",
    "access-control",
    "subscription",
    "platform",
    "rights",
]
STATUSES: tuple[str, ...] = get_args(Status)
FAMILIES: tuple[str, ...] = get_args(Family)
# The market a rule's jurisdiction belongs to (ETSI EN 303 645 is the EU/UK baseline).
JURISDICTION_MARKET = {"CN": "CN", "EU": "EU", "ETSI": "EU", "US-IL": "US-IL"}
ALL = "all"

Jurisdiction = Literal["CN", "EU", "ETSI", "US-IL"]
Role = Literal["manufacturer", "platform", "deployer", "user"]
ROLES: tuple[str, ...] = get_args(Role)
# What a device must do for a rule to concern it (see ``bystander.rules.engine``).
Capability = Literal[
    "face_recognition", "biometrics", "camera", "microphone", "children", "subscription", "platform"
]
CAPABILITIES: tuple[str, ...] = get_args(Capability)


class UnknownFrameworkError(CatalogError):
    """A framework id that the catalog does not define."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AppliesTo(_Strict):
    """Which devices a rule concerns; ``capabilities`` must all be present."""

    device_types: list[str] = Field(default_factory=lambda: ["any"], min_length=1)
    capabilities: list[Capability] = Field(default_factory=list)


class Rule(_Strict):
    """One requirement of one instrument, evaluated by one or more checks."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9.]+)+$")
    title: str = Field(min_length=1)
    jurisdiction: Jurisdiction
    instrument: str = Field(min_length=1)
    instrument_key: str = Field(min_length=1)  # the catalog file (stem) the rule comes from
    article: str = Field(min_length=1)
    text: str = Field(min_length=1)  # what the article requires (short quotation or summary)
    scope: str = Field(min_length=1)  # the scope condition, in plain words
    addressee: list[Role] = Field(min_length=1)  # whom the article binds
    status: Status
    effective_date: date | None = None
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    data_categories: list[str] = Field(default_factory=list)
    checks: list[str] = Field(min_length=1)
    severity: Severity
    family: Family
    remediation: str = Field(min_length=1)
    sources: list[str] = Field(default_factory=list)
    rectify_within_days: int | None = Field(default=None, gt=0)
    verify: bool = False

    @property
    def in_force(self) -> bool:
        return self.status == "in-force"

    def enforceable(self, today: date) -> bool:
        """In force and effective on ``today``: only then does a failed check make a violation."""
        return self.in_force and (self.effective_date is None or self.effective_date <= today)


class Requirement(_Strict):
    """A framework requirement: the checks that evaluate it (and optionally named rules)."""

    id: str = Field(min_length=1)
    description: str = Field(min_length=1)
    checks: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)


class Framework(_Strict):
    """A selection of requirements; the engine runs the rules whose checks they select.

    ``jurisdictions`` and ``instruments`` (catalog file stems), when given, restrict which
    rules a selected check brings in.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    jurisdictions: list[Jurisdiction] = Field(default_factory=list)
    instruments: list[str] = Field(default_factory=list)
    requirements: list[Requirement] = Field(min_length=1)

    @property
    def check_ids(self) -> set[str]:
        return {c for r in self.requirements for c in r.checks}

    @property
    def rule_ids(self) -> set[str]:
        return {r for req in self.requirements for r in req.rules}

    def selects(self, rule: Rule) -> bool:
        if rule.id in self.rule_ids:
            return True
        if self.jurisdictions and rule.jurisdiction not in self.jurisdictions:
            return False
        if self.instruments and rule.instrument_key not in self.instruments:
            return False
        return bool(self.check_ids.intersection(rule.checks))


class _InstrumentFile(_Strict):
    """A catalog file: defaults shared by its rules, then the rules."""

    instrument: str
    title: str
    jurisdiction: Jurisdiction
    status: Status
    effective_date: date | None = None
    sources: list[str] = Field(default_factory=list)
    verify: bool = False
    scope: str | None = None  # the instrument's scope, the default for its rules
    addressee: list[Role] | None = None  # default addressee of its rules
    notes: str = ""
    rules: list[dict[str, Any]] = Field(min_length=1)


@dataclass(frozen=True)
class Catalog:
    """Validated rules, frameworks and taxonomy, with a version hash of the data files."""

    rules: tuple[Rule, ...]
    frameworks: dict[str, Framework]
    taxonomy: Taxonomy
    version: str
    instruments: dict[str, str]  # file stem -> instrument title

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def framework_ids(self) -> list[str]:
        return [ALL, *sorted(self.frameworks)]

    def framework(self, framework_id: str) -> Framework:
        """The framework ``framework_id``; ``all`` is built in code (every check)."""
        if framework_id == ALL:
            checks = sorted({c for r in self.rules for c in r.checks})
            return Framework(
                id=ALL,
                title="All rules",
                description="Every rule in the catalog.",
                requirements=[Requirement(id="all", description="Every check.", checks=checks)],
            )
        found = self.frameworks.get(framework_id)
        if found is None:
            raise UnknownFrameworkError(
                f"unknown framework {framework_id!r}; known: {', '.join(self.framework_ids)}"
            )
        return found

    def rules_for(self, frameworks: Iterable[str]) -> list[Rule]:
        """The rules the given frameworks select, in catalog order."""
        chosen = [self.framework(f) for f in frameworks]
        return [r for r in self.rules if any(f.selects(r) for f in chosen)]


def _files(root: Traversable, sub: str) -> list[Traversable]:
    folder = root.joinpath(sub)
    if not folder.is_dir():
        raise CatalogError(f"{sub}/: missing folder")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def _mapping(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: expected a mapping at the top level")
    return data


def parse_rules(text: str, where: str, stem: str) -> tuple[str, list[Rule]]:
    data = _mapping(read_yaml(text, where), where)
    try:
        head = _InstrumentFile.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(validation_message(where, exc)) from exc
    if head.instrument != stem:
        raise CatalogError(f"{where}: field instrument: {head.instrument!r} must match file name")
    rules = []
    for i, raw in enumerate(head.rules):
        defaults: dict[str, Any] = {
            "jurisdiction": head.jurisdiction,
            "instrument": head.title,
            "status": head.status,
            "effective_date": head.effective_date,
            "sources": head.sources,
            "verify": head.verify,
        }
        if head.scope is not None:
            defaults["scope"] = head.scope
        if head.addressee is not None:
            defaults["addressee"] = head.addressee
        merged = {**defaults, **raw, "instrument_key": stem}
        try:
            rules.append(Rule.model_validate(merged))
        except ValidationError as exc:
            rid = raw.get("id", "?")
            raise CatalogError(validation_message(f"{where}: rules[{i}] ({rid})", exc)) from exc
    return head.title, rules


def _validate_rule(rule: Rule, where: str, tax: Taxonomy, checks: Sequence[str]) -> None:
    def bad(field: str, msg: str) -> CatalogError:
        return CatalogError(f"{where}: rule {rule.id}: field {field}: {msg}")

    for i, c in enumerate(rule.checks):
        if c not in checks:
            raise bad(f"checks[{i}]", f"unknown check {c!r}")
    for i, cat in enumerate(rule.data_categories):
        if not tax.has_category(cat):
            raise bad(f"data_categories[{i}]", f"unknown data category {cat!r}")
    for i, dt in enumerate(rule.applies_to.device_types):
        if dt != "any" and dt not in DEVICE_TYPES:
            raise bad(f"applies_to.device_types[{i}]", f"unknown device type {dt!r}")
    for i, url in enumerate(rule.sources):
        if not url.startswith(("http://", "https://")):
            raise bad(f"sources[{i}]", f"not a URL: {url!r}")


def parse_catalog(root: Traversable) -> Catalog:
    """Read and validate a catalog folder (``taxonomy.yaml``, ``catalog/``, ``frameworks/``)."""
    from bystander.rules.checks import CHECKS  # late: checks import the taxonomy loader

    digest = hashlib.sha256()

    def read(f: Traversable, name: str) -> str:
        try:
            text = f.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{name}: cannot read ({exc.__class__.__name__})") from exc
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        return text

    tax_file = root.joinpath("taxonomy.yaml")
    if not tax_file.is_file():
        raise CatalogError("taxonomy.yaml: missing file")
    tax = parse_taxonomy(read(tax_file, "taxonomy.yaml"))
    rules: list[Rule] = []
    instruments: dict[str, str] = {}
    seen: dict[str, str] = {}
    for f in _files(root, "catalog"):
        where = f"catalog/{f.name}"
        stem = f.name.removesuffix(".yaml")
        title, found = parse_rules(read(f, where), where, stem)
        instruments[stem] = title
        for rule in found:
            if rule.id in seen:
                raise CatalogError(
                    f"{where}: field id: duplicate rule id {rule.id} ({seen[rule.id]})"
                )
            seen[rule.id] = where
            _validate_rule(rule, where, tax, list(CHECKS))
            rules.append(rule)
    frameworks: dict[str, Framework] = {}
    for f in _files(root, "frameworks"):
        where = f"frameworks/{f.name}"
        data = _mapping(read_yaml(read(f, where), where), where)
        try:
            fw = Framework.model_validate(data)
        except ValidationError as exc:
            raise CatalogError(validation_message(where, exc)) from exc
        if fw.id != f.name.removesuffix(".yaml") or fw.id == ALL:
            raise CatalogError(f"{where}: field id: {fw.id!r} must match file name, not 'all'")
        for i, req in enumerate(fw.requirements):
            for j, c in enumerate(req.checks):
                if c not in CHECKS:
                    raise CatalogError(
                        f"{where}: field requirements[{i}].checks[{j}]: unknown check {c!r}"
                    )
            for j, r in enumerate(req.rules):
                if r not in seen:
                    raise CatalogError(
                        f"{where}: field requirements[{i}].rules[{j}]: unknown rule {r!r}"
                    )
        for i, key in enumerate(fw.instruments):
            if key not in instruments:
                raise CatalogError(f"{where}: field instruments[{i}]: unknown instrument {key!r}")
        frameworks[fw.id] = fw
    return Catalog(tuple(rules), frameworks, tax, digest.hexdigest()[:12], instruments)


@cache
def _shipped() -> Catalog:
    return parse_catalog(resources.files("bystander.rules").joinpath("data"))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The shipped catalog (cached), or the catalog folder at ``path`` (a copy, for testing)."""
    if path is None:
        return _shipped()
    return parse_catalog(Path(path))
