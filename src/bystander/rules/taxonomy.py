"""The shared privacy taxonomy: data categories, data subjects, consent kinds, zone types.

Keys are fideslang-style dotted paths (``user.biometric.face.template``); a key covers its
descendants, so declaring ``user.biometric.face`` declares the template too. ``sensitive`` marks
sensitive personal information (PIPL Art 28, GDPR Art 9); a key inherits it from its parent.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bystander.errors import InputError


class CatalogError(InputError):
    """The rule catalog (shipped data or a copy) is broken; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataCategory(_Strict):
    name: str
    description: str
    parent: str | None = None
    sensitive: bool = False


class DataSubject(_Strict):
    name: str
    description: str


class Taxonomy(_Strict):
    """Data categories, data subjects, consent kinds and scopes, and zone types."""

    data_categories: dict[str, DataCategory]
    data_subjects: dict[str, DataSubject]
    consent_kinds: dict[str, str]
    consent_scopes: dict[str, str]
    zone_types: dict[str, str]
    private_spaces: list[str] = Field(default_factory=list)

    def has_category(self, key: str) -> bool:
        return key in self.data_categories

    def covers(self, declared: str, key: str) -> bool:
        """Whether declaring ``declared`` covers ``key`` (itself or a descendant)."""
        return key == declared or key.startswith(declared + ".")

    def is_sensitive(self, key: str) -> bool:
        """Sensitive per PIPL 28 / GDPR 9, inherited from the nearest known ancestor."""
        probe: str | None = key
        while probe:
            cat = self.data_categories.get(probe)
            if cat is not None:
                return cat.sensitive or (cat.parent is not None and self.is_sensitive(cat.parent))
            probe = probe.rpartition(".")[0] or None
        return False


def read_yaml(text: str, where: str) -> object:
    """Parse YAML, turning a syntax error into a one-line :class:`CatalogError`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"{where}:{line} invalid YAML") from exc


def validation_message(where: str, exc: ValidationError) -> str:
    """One line naming the file and the first bad field."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: field {loc}: {err['msg']}"


def parse_taxonomy(text: str, where: str = "taxonomy.yaml") -> Taxonomy:
    data = read_yaml(text, where)
    try:
        tax = Taxonomy.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(validation_message(where, exc)) from exc
    for key, cat in tax.data_categories.items():
        if cat.parent is not None and cat.parent not in tax.data_categories:
            raise CatalogError(
                f"{where}: field data_categories.{key}.parent: unknown category {cat.parent!r}"
            )
    for zone in tax.private_spaces:
        if zone not in tax.zone_types:
            raise CatalogError(f"{where}: field private_spaces: unknown zone type {zone!r}")
    return tax


@cache
def load_taxonomy() -> Taxonomy:
    """The taxonomy shipped in the package (cached)."""
    text = resources.files("bystander.rules").joinpath("data/taxonomy.yaml").read_text("utf-8")
    return parse_taxonomy(text)
