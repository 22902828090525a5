"""A pre-filled personal-information impact assessment (PIA / DPIA) from an inspection.

The structure serves three laws at once: CAC/MPS Facial Recognition Measures Art 9 (legality and
necessity of purpose and method; impact on rights and mitigations; risk of leak, tampering, loss
or illegal acquisition and the harm; whether measures are lawful, effective and proportionate),
PIPL Art 55-56 and GDPR Art 35(7) (systematic description; necessity and proportionality; risks to
rights and freedoms; measures). Sections follow the CNIL method: 1 Context, 2 Necessity and
proportionality, 3 Risks (illegitimate access, unwanted modification, disappearance), 4 Measures,
5 Validation.

Everything is a *draft*: facts come from the device profile and the failing rules; what the tool
cannot know is an explicit ``TODO`` placeholder, never an invented fact.

>>> pia = build_pia(inspection)             # doctest: +SKIP
>>> markdown = render_pia(pia, "markdown")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache

import jinja2

from bystander.inspect.findings import Finding, Inspection, Severity, Verdict
from bystander.inspect.plan import deadline_of
from bystander.inspect.profile import InspectedDevice

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
_BIOMETRIC = ("biometric", "face", "voice", "fingerprint", "iris", "gait")


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


def _known(value: object, hint: str) -> str:
    if value is None or value == "" or value == []:
        return todo(hint)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _ref(finding: Finding) -> RuleRef:
    return RuleRef(
        rule_id=finding.rule_id,
        title=finding.title,
        verdict=finding.verdict,
        severity=finding.severity,
        citation=" ".join(p for p in (finding.instrument, finding.article) if p),
        reason=finding.reason,
    )


def _in_families(finding: Finding, keys: tuple[str, ...]) -> bool:
    family = finding.family.lower()
    return any(key in family for key in keys)


def _is_biometric(category: str) -> bool:
    return any(word in category.lower() for word in _BIOMETRIC)


def _biometric_device(device: InspectedDevice) -> bool:
    categories = [c for flow in device.data_flows for c in flow.data_categories]
    categories += device.declared_data_categories
    return device.face_recognition or bool(device.biometrics) or any(map(_is_biometric, categories))


def _purposes(device: InspectedDevice) -> tuple[str, ...]:
    seen = dict.fromkeys([*device.purposes, *(f.purpose for f in device.data_flows if f.purpose)])
    return tuple(seen)


def _categories(device: InspectedDevice) -> tuple[str, ...]:
    flows = [c for flow in device.data_flows for c in flow.data_categories]
    return tuple(dict.fromkeys([*device.declared_data_categories, *flows]))


# --- 1 Context --------------------------------------------------------------------------------


def _context(device: InspectedDevice) -> tuple[PiaField, ...]:
    p = device.processor
    face = "yes" if device.face_recognition else "no"
    return (
        PiaField(
            "Processor (controller)",
            _known(p.name or device.vendor, "name the processor"),
            "profile: processor",
        ),
        PiaField(
            "Contact (DPO / PI protection officer)",
            _known(p.contact, "contact details"),
            "profile: processor.contact",
        ),
        PiaField(
            "Processor country",
            _known(p.country, "country of establishment"),
            "profile: processor.country",
        ),
        PiaField(
            "Device",
            f"{device.device_type} {device.model or ''}".strip(),
            "profile: device_type, model",
        ),
        PiaField("Sensors", _known(device.sensors, "list the sensors"), "profile: sensors"),
        PiaField("Face recognition", face, "profile: face_recognition"),
        PiaField(
            "Biometrics processed",
            _known(device.biometrics, "list biometrics, or none"),
            "profile: biometrics",
        ),
        PiaField("Markets", _known(device.markets, "where the device is sold"), "profile: markets"),
        PiaField(
            "Places of use", _known(device.zones, "where the device is used"), "profile: zones"
        ),
        PiaField(
            "Processing context and scale",
            todo("number of users and of people captured, duration, frequency"),
            "",
        ),
    )


def _flows(device: InspectedDevice) -> tuple[FlowRow, ...]:
    rows = []
    for flow in device.data_flows:
        if flow.encrypted is None:
            encrypted = todo("encrypted?")
        else:
            encrypted = "yes" if flow.encrypted else "no"
        local = flow.destination == "on_device"
        rows.append(
            FlowRow(
                data_categories=", ".join(flow.data_categories),
                destination=flow.destination,
                country=flow.country or ("stays on the device" if local else todo("country")),
                purpose=flow.purpose or todo("purpose"),
                encrypted=encrypted,
                consent_scope=flow.consent_scope or todo("legal basis / consent scope"),
            )
        )
    return tuple(rows)


def _retention(device: InspectedDevice, categories: tuple[str, ...]) -> tuple[PiaField, ...]:
    fields = [
        PiaField(category, f"{days:g} days", "profile: retention_days")
        for category, days in device.retention_days.items()
    ]
    fields += [
        PiaField(category, todo("retention period"), "")
        for category in categories
        if category not in device.retention_days
    ]
    return tuple(fields) or (PiaField("All data", todo("retention period per category"), ""),)


def _subjects(device: InspectedDevice) -> tuple[PiaField, ...]:
    sensors = {s.lower() for s in device.sensors}
    fields = [PiaField("Users and owners", "yes", "")]
    if "camera" in sensors or device.face_recognition:
        fields.append(
            PiaField(
                "Bystanders (people captured who are not users)",
                "yes: the camera can capture people nearby who have not consented",
                "profile: sensors",
            )
        )
    if "microphone" in sensors:
        fields.append(PiaField("People whose voice is recorded", "yes", "profile: sensors"))
    if device.targets_children:
        fields.append(
            PiaField(
                "Children under 14",
                "yes: the device targets children (sensitive PI under "
                "PIPL Art 28; guardian consent)",
                "profile: targets_children",
            )
        )
    else:
        fields.append(
            PiaField("Children under 14", todo("can children be captured or use the device?"), "")
        )
    fields.append(PiaField("Other subjects", todo("visitors, employees, other categories"), ""))
    return tuple(fields)


# --- 2 Necessity and proportionality ----------------------------------------------------------

_NECESSITY_FAMILIES = (
    "consent",
    "notice",
    "minimi",
    "biometric",
    "children",
    "minor",
    "assessment",
    "rights",
    "retention",
    "purpose",
    "zone",
)


def _alternatives(device: InspectedDevice) -> PiaField:
    methods = [m.lower() for m in device.authentication.methods]
    source = "profile: authentication.methods"
    if "face" in methods:
        others = [m for m in methods if m != "face"]
        if others:
            return PiaField("Alternatives to face recognition", ", ".join(others), source)
        return PiaField(
            "Alternatives to face recognition",
            "none declared: face is the only method (CAC FRM Art 10 requires another method)",
            source,
        )
    if device.face_recognition:
        return PiaField(
            "Alternatives to face recognition",
            todo("which non-face methods can achieve the purpose?"),
            source,
        )
    return PiaField("Alternatives to face recognition", "face is not used to authenticate", source)


def _minimisation(device: InspectedDevice) -> PiaField:
    declared = set(device.declared_data_categories)
    sent = [c for flow in device.data_flows for c in flow.data_categories]
    undeclared = sorted(set(sent) - declared) if declared else []
    if undeclared:
        value = "flows carry categories the notice does not declare: " + ", ".join(undeclared)
        return PiaField("Data minimisation", value, "profile: data_flows vs declared categories")
    return PiaField(
        "Data minimisation",
        todo("explain why each data category is needed and none could be dropped"),
        "",
    )


def _necessity(device: InspectedDevice, inspection: Inspection) -> tuple[PiaField, ...]:
    fields = [
        PiaField(
            f"Purpose: {purpose}",
            todo("why this purpose is specific, legitimate and needs this data"),
            "profile: purposes",
        )
        for purpose in _purposes(device)
    ] or [PiaField("Purposes", todo("state each specific purpose"), "profile: purposes")]
    fields.append(_alternatives(device))
    fields.append(_minimisation(device))
    consent_fails = [
        f.rule_id
        for f in inspection.findings
        if f.failed and _in_families(f, ("consent", "children", "minor"))
    ]
    fields.append(
        PiaField(
            "Legal basis and consent",
            todo(
                "legal basis for each purpose (separate consent for face data, guardian "
                "consent under 14)"
            )
            + (f"; failing rules: {', '.join(consent_fails)}" if consent_fails else ""),
            "",
        )
    )
    fields.append(
        PiaField(
            "Data subjects' rights",
            todo("how people access, correct, delete, withdraw consent"),
            "",
        )
    )
    if device.retention_days:
        fields.append(
            PiaField(
                "Retention justified",
                todo("why each retention period is the minimum necessary"),
                "profile: retention_days",
            )
        )
    return tuple(fields)


# --- 3 Risks ----------------------------------------------------------------------------------

_RISKS = (
    (
        "illegitimate_access",
        "Illegitimate access to personal information (leak, illegal acquisition)",
        "Footage, face data or voice reach people or servers that should not have them: covert "
        "capture, cloud upload or cross-border transfer without consent, weak access control.",
        "Identification and tracking of users and bystanders; exposure of private life; "
        "biometric data cannot be changed once leaked; fraud, stalking, discrimination.",
        (
            "cross-border",
            "transfer",
            "egress",
            "biometric",
            "security",
            "access",
            "permission",
            "consent",
            "share",
            "publi",
            "indicator",
            "zone",
            "children",
            "minor",
            "platform",
            "retention",
            "deletion",
            "minimi",
        ),
    ),
    (
        "unwanted_modification",
        "Unwanted modification of personal information (tampering)",
        "Templates, recordings, consent or audit records are altered, by an attacker or a bug.",
        "Wrongful identification or unlock; loss of proof; decisions taken on false data.",
        ("security", "integrity", "access", "permission", "audit", "update", "tamper"),
    ),
    (
        "disappearance",
        "Disappearance of personal information (loss)",
        "Recordings, consent records or the audit trail are lost or deleted before their time.",
        "People cannot exercise their rights; the processor cannot prove consent or deletion.",
        ("security", "backup", "availability", "update", "audit", "integrity"),
    ),
)


def _likelihood(rules: list[Finding]) -> str:
    level = 1  # limited: no finding does not make an event negligible
    for f in rules:
        if f.verdict is Verdict.VIOLATION:
            level = max(level, 3 if f.severity in (Severity.CRITICAL, Severity.HIGH) else 2)
        elif f.severity in (Severity.CRITICAL, Severity.HIGH):
            level = max(level, 2)
    return LEVELS[level]


def _severity(device: InspectedDevice, key: str) -> tuple[str, str]:
    biometric = _biometric_device(device)
    if key == "illegitimate_access":
        if biometric or device.targets_children:
            return "maximum", "biometric or children's data is sensitive PI and cannot be undone"
        if device.sensors:
            return "significant", "images or sound of private life"
        return "limited", "no sensitive data declared"
    if key == "unwanted_modification":
        if biometric or device.device_type == "door-lock":
            return "significant", "altered templates or records can wrongly identify or unlock"
        return "limited", "altered records mislead but harm is reversible"
    return "limited", "lost data stops people exercising rights; harm is mostly reversible"


def _risks(inspection: Inspection) -> tuple[Risk, ...]:
    device = inspection.device
    risks = []
    for key, title, event, impacts, families in _RISKS:
        failing = [f for f in inspection.findings if f.failed and _in_families(f, families)]
        unchecked = [
            f
            for f in inspection.findings
            if f.verdict is Verdict.INSUFFICIENT_EVIDENCE and _in_families(f, families)
        ]
        severity, why = _severity(device, key)
        likelihood = _likelihood(failing)
        ids = ", ".join(f.rule_id for f in failing)
        justification = f"Severity {severity}: {why}. Likelihood {likelihood}: " + (
            f"raised by failing rules {ids}."
            if failing
            else "no failing rule in this area; confirm with the project team."
        )
        if unchecked:
            justification += (
                " Not fully assessed: rules "
                + ", ".join(f.rule_id for f in unchecked)
                + " lacked evidence."
            )
        risks.append(
            Risk(
                key=key,
                title=title,
                feared_event=event,
                impacts=impacts,
                severity=severity,
                likelihood=likelihood,
                rules=tuple(_ref(f) for f in failing),
                justification=justification + " Pre-filled: review.",
                unchecked=tuple(_ref(f) for f in unchecked),
            )
        )
    return tuple(risks)


def _rights_impact(device: InspectedDevice) -> tuple[PiaField, ...]:
    fields = [
        PiaField(
            "Impact on privacy and image rights",
            todo("describe how capture affects users and bystanders (Civil Code Art 1019, 1033)"),
            "",
        ),
        PiaField(
            "Effect of mitigations on that impact",
            todo("are anonymisation, indicator and consent effective for bystanders?"),
            "",
        ),
    ]
    if _biometric_device(device):
        fields.insert(
            0,
            PiaField(
                "Sensitive data",
                "biometric data (face, voice...) is processed: sensitive "
                "PI (PIPL Art 28) / special category (GDPR Art 9)",
                "profile: face_recognition, biometrics, data_flows",
            ),
        )
    return tuple(fields)


# --- 4 Measures -------------------------------------------------------------------------------


def _state(value: bool | None) -> str:
    if value is None:
        return todo("not stated in the profile")
    return "in place (declared)" if value else "not in place (declared)"


def _existing(device: InspectedDevice) -> tuple[Measure, ...]:
    ac = device.access_control
    ind = device.indicator
    default_pw = None if ac.default_password is None else not ac.default_password
    measures = [
        Measure(
            "Encryption in transit",
            _state(ac.encryption_in_transit),
            "profile: access_control.encryption_in_transit",
        ),
        Measure(
            "Encryption at rest",
            _state(ac.encryption_at_rest),
            "profile: access_control.encryption_at_rest",
        ),
        Measure(
            "Remote viewing requires authentication",
            _state(ac.remote_view_requires_auth),
            "profile: access_control.remote_view_requires_auth",
        ),
        Measure(
            "No shared default password",
            _state(default_pw),
            "profile: access_control.default_password",
        ),
        Measure(
            "Unique credentials per device",
            _state(ac.unique_credentials),
            "profile: access_control.unique_credentials",
        ),
        Measure(
            "User roles / permissions", _state(ac.user_roles), "profile: access_control.user_roles"
        ),
        Measure("Access log", _state(ac.access_log), "profile: access_control.access_log"),
    ]
    if ind.present:
        detail = ", ".join(
            p
            for p in (
                ind.kind,
                f"covers {', '.join(ind.covers)}" if ind.covers else "",
                "hardwired" if ind.hardwired else "",
                "visible to bystanders" if ind.visible_to_bystanders else "",
                f"tested: {ind.visibility}" if ind.visibility else "",
            )
            if p
        )
        state = "in place (declared)" + (f": {detail}" if detail else "")
        measures.append(Measure("Recording indicator", state, "profile: indicator"))
    else:
        measures.append(
            Measure(
                "Recording indicator",
                "none declared (indicator.present is false)",
                "profile: indicator",
            )
        )
    if _biometric_device(device):
        leaving = sorted(
            {
                flow.destination
                for flow in device.data_flows
                if flow.destination != "on_device" and any(map(_is_biometric, flow.data_categories))
            }
        )
        if leaving:
            state = "not in place (declared): biometric data sent to " + ", ".join(leaving)
        else:
            state = "in place (declared): no flow sends biometric data off the device"
        measures.append(
            Measure("Face/biometric data stored only on the device", state, "profile: data_flows")
        )
        if device.face_recognition:
            measures.append(
                Measure(
                    "Face recognition off in private spaces (zone guard)",
                    _state(device.zone_guard),
                    "profile: zone_guard",
                )
            )
    measures.append(
        Measure(
            "Security updates",
            _state(device.security.software_updates),
            "profile: security.software_updates",
        )
    )
    return tuple(measures)


def _planned(inspection: Inspection) -> tuple[PlannedMeasure, ...]:
    failed = [f for f in inspection.findings if f.failed]
    items = [
        PlannedMeasure(
            rule_id=f.rule_id,
            title=f.title,
            action=f.remediation or todo("decide the measure"),
            required=f.verdict is Verdict.VIOLATION,
            severity=f.severity,
            deadline=deadline_of(f, inspection.inspected_on),
        )
        for f in failed
    ]
    return tuple(sorted(items, key=lambda m: (m.deadline, not m.required, m.rule_id)))


def _effectiveness(inspection: Inspection) -> tuple[PiaField, ...]:
    passed = [f.rule_id for f in inspection.findings if f.verdict is Verdict.PASS]
    failed = [f.rule_id for f in inspection.findings if f.failed]
    return (
        PiaField(
            "Confirmed by this inspection (rules passed)",
            ", ".join(passed) if passed else "none",
            "inspection",
        ),
        PiaField(
            "Shown ineffective or missing (rules failed)",
            ", ".join(failed) if failed else "none",
            "inspection",
        ),
        PiaField(
            "Lawful, effective and proportionate to the risk?",
            todo("conclude after the planned measures are in place"),
            "",
        ),
    )


# --- 5 Validation ----------------------------------------------------------------------------


def _validation() -> tuple[PiaField, ...]:
    return (
        PiaField("Assessor(s)", todo("name and role"), ""),
        PiaField("Opinion of the DPO / PI protection officer", todo("opinion"), ""),
        PiaField(
            "Opinion of data subjects or their representatives",
            todo("opinion or why not sought"),
            "",
        ),
        PiaField(
            "Residual risk acceptable?",
            todo(
                "yes/no; if high, consult the supervisory authority before processing (GDPR Art 36)"
            ),
            "",
        ),
        PiaField("Decision (approve / approve with action plan / reject)", todo("decision"), ""),
        PiaField("Responsible person, date and signature", todo("sign"), ""),
        PiaField(
            "Keep this assessment",
            "at least 3 years, with the processing records (CAC FRM Art 9; PIPL Art 56)",
            "law",
        ),
        PiaField(
            "Re-assess when",
            "purpose or method of processing changes, or after a major "
            "security incident (CAC FRM Art 9)",
            "law",
        ),
    )


def build_pia(inspection: Inspection) -> Pia:
    """A pre-filled impact assessment from the device profile and the inspection's findings."""
    device = inspection.device
    categories = _categories(device)
    necessity_rules = tuple(
        _ref(f) for f in inspection.findings if f.failed and _in_families(f, _NECESSITY_FAMILIES)
    )
    return Pia(
        title=f"Personal information impact assessment: {device.device_id}",
        device_id=device.device_id,
        device_type=device.device_type,
        vendor=device.vendor or todo("maker"),
        model=device.model or todo("model"),
        prepared_on=inspection.inspected_on,
        frameworks=inspection.frameworks,
        context=_context(device),
        purposes=_purposes(device),
        data_categories=categories,
        flows=_flows(device),
        retention=_retention(device, categories),
        subjects=_subjects(device),
        necessity=_necessity(device, inspection),
        necessity_rules=necessity_rules,
        rights_impact=_rights_impact(device),
        risks=_risks(inspection),
        existing_measures=_existing(device),
        planned_measures=_planned(inspection),
        effectiveness=_effectiveness(inspection),
        open_questions=tuple(
            _ref(f) for f in inspection.findings if f.verdict is Verdict.INSUFFICIENT_EVIDENCE
        ),
        validation=_validation(),
    )


# --- rendering --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def md(text: object) -> str:
    """Text safe inside Markdown: one line, punctuation escaped, ``<``/``&`` as entities."""
    line = " ".join(str(text).split())
    line = line.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", line)


def _finalize_md(value: object) -> str:
    """Escape an expression's value, but not macro output already marked safe."""
    return str(value) if hasattr(value, "__html__") else md(value)


@cache
def _markdown_environment() -> jinja2.Environment:
    """Markdown templates: every ``{{ expression }}`` passes through :func:`md`."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bystander.inspect", "templates"),
        autoescape=False,
        finalize=_finalize_md,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_pia(pia: Pia, fmt: str = "markdown") -> str:
    """The assessment as ``markdown`` or ``html`` (a self-contained page)."""
    if fmt in ("markdown", "md"):
        return _markdown_environment().get_template("pia.md.j2").render(pia=pia)
    if fmt == "html":
        from bystander.inspect.report.html import environment

        return environment().get_template("pia.html.j2").render(pia=pia, levels=LEVELS)
    raise ValueError(f"unknown PIA format {fmt!r}; choose one of: markdown, html")
