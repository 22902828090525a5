"""PIA sections 1-2 from the device profile: context, flows, retention, subjects, necessity."""

from __future__ import annotations

from bystander.inspect.findings import Finding, Inspection
from bystander.inspect.pia.model import (
    BIOMETRIC_WORDS,
    FlowRow,
    PiaField,
    RuleRef,
    todo,
)
from bystander.inspect.profile import InspectedDevice


def _known(value: object, hint: str) -> str:
    if value is None or value == "" or value == []:
        return todo(hint)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def rule_ref(finding: Finding) -> RuleRef:
    return RuleRef(
        rule_id=finding.rule_id,
        title=finding.title,
        verdict=finding.verdict,
        severity=finding.severity,
        citation=" ".join(p for p in (finding.instrument, finding.article) if p),
        reason=finding.reason,
    )


def in_families(finding: Finding, keys: tuple[str, ...]) -> bool:
    family = finding.family.lower()
    return any(key in family for key in keys)


def is_biometric(category: str) -> bool:
    return any(word in category.lower() for word in BIOMETRIC_WORDS)


def biometric_device(device: InspectedDevice) -> bool:
    categories = [c for flow in device.data_flows for c in flow.data_categories]
    categories += device.declared_data_categories
    return device.face_recognition or bool(device.biometrics) or any(map(is_biometric, categories))


def purposes_of(device: InspectedDevice) -> tuple[str, ...]:
    seen = dict.fromkeys([*device.purposes, *(f.purpose for f in device.data_flows if f.purpose)])
    return tuple(seen)


def data_categories_of(device: InspectedDevice) -> tuple[str, ...]:
    flows = [c for flow in device.data_flows for c in flow.data_categories]
    return tuple(dict.fromkeys([*device.declared_data_categories, *flows]))


# --- 1 Context --------------------------------------------------------------------------------


def context_fields(device: InspectedDevice) -> tuple[PiaField, ...]:
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


def flow_rows(device: InspectedDevice) -> tuple[FlowRow, ...]:
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


def retention_fields(device: InspectedDevice, categories: tuple[str, ...]) -> tuple[PiaField, ...]:
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


def subject_fields(device: InspectedDevice) -> tuple[PiaField, ...]:
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

NECESSITY_FAMILIES = (
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


def necessity_fields(device: InspectedDevice, inspection: Inspection) -> tuple[PiaField, ...]:
    fields = [
        PiaField(
            f"Purpose: {purpose}",
            todo("why this purpose is specific, legitimate and needs this data"),
            "profile: purposes",
        )
        for purpose in purposes_of(device)
    ] or [PiaField("Purposes", todo("state each specific purpose"), "profile: purposes")]
    fields.append(_alternatives(device))
    fields.append(_minimisation(device))
    consent_fails = [
        f.rule_id
        for f in inspection.findings
        if f.failed and in_families(f, ("consent", "children", "minor"))
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
