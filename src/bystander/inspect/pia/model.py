"""The impact assessment's data: sections, fields, risks and measures (see ``pia``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bystander.inspect.findings import Severity, Verdict

TODO = "TODO"
DRAFT_NOTICE = (
    "Pre-filled draft: review and complete. Facts below come from the device profile and the "
    "inspection's failing rules; every TODO must be answered by the processor before sign-off."
)
LEVELS = ("negligible", "limited", "significant", "maximum")
BASIS = (
    "CAC/MPS Facial Recognition Measures (2025) Art 9",
    "PIPL Art 55-56",
    "GDPR Art 35(7)",
)
# Which section answers which legal item (section, FRM Art 9, PIPL Art 56, GDPR Art 35(7)).
CROSSWALK = (
    ("1 Context", "-", "-", "(a) systematic description"),
    (
        "2 Necessity and proportionality",
        "(1) legality, legitimacy, necessity of purpose and method",
        "(1) lawful, legitimate, necessary purpose and method",
        "(b) necessity and proportionality",
    ),
    (
        "3 Risks",
        "(2) impact on rights; (3) risk of leak, tampering, loss, illegal acquisition and harm",
        "(2) impact on rights and security risks",
        "(c) risks to rights and freedoms",
    ),
    (
        "4 Measures",
        "(4) measures lawful, effective, proportionate to the risk",
        "(3) measures lawful, effective, proportionate to the risk",
        "(d) measures to address the risks",
    ),
    ("5 Validation", "keep report and records >= 3 years", "keep >= 3 years", "Art 36 if high"),
)
BIOMETRIC_WORDS = ("biometric", "face", "voice", "fingerprint", "iris", "gait")


def todo(hint: str) -> str:
    """A placeholder for something only the processor can answer."""
    return f"{TODO}: {hint}"


def is_todo(text: str) -> bool:
    return text.startswith(TODO)


@dataclass(frozen=True, slots=True)
class PiaField:
    """A labelled answer; ``value`` starts with ``TODO`` when the tool cannot know it."""

    label: str
    value: str
    source: str = ""  # where the value came from: "profile: data_flows", "rule CN-FRM-10"...

    @property
    def todo(self) -> bool:
        return is_todo(self.value)


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One declared data flow (from ``profile.data_flows``)."""

    data_categories: str
    destination: str
    country: str
    purpose: str
    encrypted: str
    consent_scope: str


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A finding cited by the assessment."""

    rule_id: str
    title: str
    verdict: Verdict
    severity: Severity
    citation: str  # instrument and article
    reason: str = ""

    @property
    def label(self) -> str:
        """``violation`` or ``advisory (recommended)``..."""
        return "advisory, recommended" if self.verdict is Verdict.ADVISORY else self.verdict.value


@dataclass(frozen=True, slots=True)
class Risk:
    """One feared event with a pre-filled severity and likelihood (CNIL scale)."""

    key: str  # illegitimate_access | unwanted_modification | disappearance
    title: str
    feared_event: str
    impacts: str  # the possible harm to individuals
    severity: str  # negligible | limited | significant | maximum
    likelihood: str
    rules: tuple[RuleRef, ...]
    justification: str
    unchecked: tuple[RuleRef, ...] = ()  # related rules not checked for missing evidence


@dataclass(frozen=True, slots=True)
class Measure:
    """An existing measure as declared in the profile."""

    name: str
    state: str  # "in place (declared)", "not in place (declared)", or a TODO
    source: str

    @property
    def todo(self) -> bool:
        return is_todo(self.state)


@dataclass(frozen=True, slots=True)
class PlannedMeasure:
    """A measure to add: the remediation of a failing rule, with its deadline."""

    rule_id: str
    title: str
    action: str
    required: bool  # a violation (required by law) or an advisory (recommended)
    severity: Severity
    deadline: date


@dataclass(frozen=True, slots=True)
class Pia:
    """The structured assessment; ``render_pia`` writes it as Markdown or HTML."""

    title: str
    device_id: str
    device_type: str
    vendor: str
    model: str
    prepared_on: date
    frameworks: tuple[str, ...]
    # 1 Context
    context: tuple[PiaField, ...]
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    flows: tuple[FlowRow, ...]
    retention: tuple[PiaField, ...]
    subjects: tuple[PiaField, ...]
    # 2 Necessity and proportionality
    necessity: tuple[PiaField, ...]
    necessity_rules: tuple[RuleRef, ...]
    # 3 Risks
    rights_impact: tuple[PiaField, ...]
    risks: tuple[Risk, ...]
    # 4 Measures
    existing_measures: tuple[Measure, ...]
    planned_measures: tuple[PlannedMeasure, ...]
    effectiveness: tuple[PiaField, ...]
    open_questions: tuple[RuleRef, ...]
    # 5 Validation
    validation: tuple[PiaField, ...]
    notice: str = DRAFT_NOTICE
    basis: tuple[str, ...] = BASIS
    crosswalk: tuple[tuple[str, str, str, str], ...] = CROSSWALK

    @property
    def todos(self) -> int:
        """How many answers are still placeholders."""
        fields = (
            *self.context,
            *self.retention,
            *self.subjects,
            *self.necessity,
            *self.rights_impact,
            *self.effectiveness,
            *self.validation,
        )
        cells = [
            cell
            for row in self.flows
            for cell in (row.country, row.purpose, row.encrypted, row.consent_scope)
        ]
        return (
            sum(f.todo for f in fields)
            + sum(m.todo for m in self.existing_measures)
            + sum(map(is_todo, cells))
        )


# --- helpers ----------------------------------------------------------------------------------
