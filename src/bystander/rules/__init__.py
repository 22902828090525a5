"""Rules: the catalog of legal requirements (data), the checks that test evidence (code), and
the engine that turns a device's evidence into findings tied to articles.

>>> from bystander.rules import inspect_evidence, load_catalog   # doctest: +SKIP
>>> inspection = inspect_evidence(evidence, ["cn-frm-2025"])     # doctest: +SKIP
>>> [f.rule_id for f in inspection.violations]                   # doctest: +SKIP
"""

from __future__ import annotations

from bystander.rules.catalog import (
    ALL,
    FAMILIES,
    STATUSES,
    Catalog,
    Framework,
    Requirement,
    Rule,
    UnknownFrameworkError,
    load_catalog,
)
from bystander.rules.checks import CHECKS, Check, CheckContext, CheckOutcome, Hit, Status
from bystander.rules.engine import inspect_evidence
from bystander.rules.taxonomy import CatalogError, Taxonomy, load_taxonomy

__all__ = [
    "ALL",
    "CHECKS",
    "FAMILIES",
    "STATUSES",
    "Catalog",
    "CatalogError",
    "Check",
    "CheckContext",
    "CheckOutcome",
    "Framework",
    "Hit",
    "Requirement",
    "Rule",
    "Status",
    "Taxonomy",
    "UnknownFrameworkError",
    "inspect_evidence",
    "load_catalog",
    "load_taxonomy",
]
