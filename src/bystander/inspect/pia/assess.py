"""PIA sections 3-5 from the findings: risks, measures, validation; and ``build_pia``."""

from __future__ import annotations

from bystander.inspect.findings import Finding, Inspection, Severity, Verdict
from bystander.inspect.pia.facts import (
    NECESSITY_FAMILIES,
    biometric_device,
    context_fields,
    data_categories_of,
    flow_rows,
    in_families,
    is_biometric,
    necessity_fields,
    purposes_of,
    retention_fields,
    rule_ref,
    subject_fields,
)
from bystander.inspect.pia.model import (
    LEVELS,
    Measure,
    Pia,
    PiaField,
    PlannedMeasure,
    Risk,
    todo,
)
from bystander.inspect.plan import deadline_of
from bystander.inspect.profile import InspectedDevice

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
    biometric = biometric_device(device)
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
        failing = [f for f in inspection.findings if f.failed and in_families(f, families)]
        unchecked = [
            f
            for f in inspection.findings
            if f.verdict is Verdict.INSUFFICIENT_EVIDENCE and in_families(f, families)
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
                rules=tuple(rule_ref(f) for f in failing),
                justification=justification + " Pre-filled: review.",
                unchecked=tuple(rule_ref(f) for f in unchecked),
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
    if biometric_device(device):
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
    if biometric_device(device):
        leaving = sorted(
            {
                flow.destination
                for flow in device.data_flows
                if flow.destination != "on_device" and any(map(is_biometric, flow.data_categories))
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
    categories = data_categories_of(device)
    necessity_rules = tuple(
        rule_ref(f) for f in inspection.findings if f.failed and in_families(f, NECESSITY_FAMILIES)
    )
    return Pia(
        title=f"Personal information impact assessment: {device.device_id}",
        device_id=device.device_id,
        device_type=device.device_type,
        vendor=device.vendor or todo("maker"),
        model=device.model or todo("model"),
        prepared_on=inspection.inspected_on,
        frameworks=inspection.frameworks,
        context=context_fields(device),
        purposes=purposes_of(device),
        data_categories=categories,
        flows=flow_rows(device),
        retention=retention_fields(device, categories),
        subjects=subject_fields(device),
        necessity=necessity_fields(device, inspection),
        necessity_rules=necessity_rules,
        rights_impact=_rights_impact(device),
        risks=_risks(inspection),
        existing_measures=_existing(device),
        planned_measures=_planned(inspection),
        effectiveness=_effectiveness(inspection),
        open_questions=tuple(
            rule_ref(f) for f in inspection.findings if f.verdict is Verdict.INSUFFICIENT_EVIDENCE
        ),
        validation=_validation(),
    )
