"""The inspection engine: run the selected rules' checks once each and decide verdicts.

A rule applies when the device's type and market match its ``applies_to`` and jurisdiction,
its addressee is among the roles whose conduct the evidence documents (the profile's
``roles``: an AI Act Art 50(3) duty binds deployers, not a manufacturer), and the device has
the capabilities the rule needs. A rule then fails when any of its checks fails: a
``violation`` only if the rule is in force and effective on the inspection date, else an
``advisory`` (voluntary codes, drafts, guidance, recommended standards, superseded drafts).
It passes when all its checks pass; it lacks evidence when none failed and any lacked
evidence; otherwise it is not applicable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from bystander.inspect.findings import EvidenceItem, Finding, Inspection, Severity, Verdict
from bystander.inspect.records import Evidence, Sensor
from bystander.rules.catalog import JURISDICTION_MARKET, Catalog, Rule, load_catalog
from bystander.rules.checks import CHECKS, CheckContext, CheckOutcome, Status
from bystander.rules.checks.index import does_biometrics, does_face_recognition

VERDICT_ORDER = {
    Verdict.VIOLATION: 0,
    Verdict.ADVISORY: 1,
    Verdict.INSUFFICIENT_EVIDENCE: 2,
    Verdict.PASS: 3,
    Verdict.NOT_APPLICABLE: 4,
}
SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


def capabilities(ev: Evidence) -> set[str]:
    """What the device does, from its profile and its records."""
    d = ev.device
    caps: set[str] = set()
    if does_face_recognition(ev):
        caps.add("face_recognition")
    if does_biometrics(ev):
        caps.add("biometrics")
    sensors = set(d.sensors) | {str(c.sensor) for c in ev.captures}
    if Sensor.CAMERA in sensors:
        caps.add("camera")
    if Sensor.MICROPHONE in sensors:
        caps.add("microphone")
    if d.targets_children or ev.children():
        caps.add("children")
    if d.subscription.offered or ev.billing:
        caps.add("subscription")
    if ev.moderation or "platform" in d.roles or d.device_type == "platform":
        caps.add("platform")
    return caps


def not_applicable_reason(rule: Rule, ev: Evidence, caps: set[str]) -> str | None:
    """Why ``rule`` does not concern this device, or None when it does."""
    d = ev.device
    types = rule.applies_to.device_types
    if "any" not in types and d.device_type not in types:
        return f"applies to {', '.join(types)}, not {d.device_type}"
    market = JURISDICTION_MARKET[rule.jurisdiction]
    if d.markets and market not in d.markets:
        return f"{rule.jurisdiction} rule; device markets: {', '.join(d.markets)}"
    roles = set(d.roles) | ({"platform"} if "platform" in caps else set())
    if not set(rule.addressee) & roles:
        return f"binds {', '.join(rule.addressee)}; the evidence is of: {', '.join(sorted(roles))}"
    missing = [c for c in rule.applies_to.capabilities if c not in caps]
    if missing:
        return f"the device does not do {', '.join(missing)}"
    return None


class _Runner:
    """Runs each check at most once per inspection."""

    def __init__(self, ev: Evidence, ctx: CheckContext) -> None:
        self.ev = ev
        self.ctx = ctx
        self.outcomes: dict[str, CheckOutcome] = {}

    def run(self, check_id: str) -> CheckOutcome:
        out = self.outcomes.get(check_id)
        if out is None:
            out = self.outcomes[check_id] = CHECKS[check_id](self.ev, self.ctx)
        return out


def _finding(
    rule: Rule, verdict: Verdict, *, evidence: Sequence[EvidenceItem] = (), reason: str = ""
) -> Finding:
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        jurisdiction=rule.jurisdiction,
        instrument=rule.instrument,
        article=rule.article,
        rule_status=rule.status,
        family=rule.family,
        severity=rule.severity,
        verdict=verdict,
        evidence=tuple(evidence),
        remediation=rule.remediation.strip(),
        sources=tuple(rule.sources),
        check_ids=tuple(rule.checks),
        rectify_within_days=rule.rectify_within_days,
        reason=reason,
        addressee=tuple(rule.addressee),
        scope=rule.scope.strip(),
        text=rule.text.strip(),
        verify=rule.verify,
    )


def evaluate_rule(rule: Rule, runner: _Runner, caps: set[str], today: date) -> Finding:
    """The finding for one rule."""
    why_not = not_applicable_reason(rule, runner.ev, caps)
    if why_not is not None:
        return _finding(rule, Verdict.NOT_APPLICABLE, reason=why_not)
    outcomes = [(c, runner.run(c)) for c in rule.checks]
    failed = [(c, o) for c, o in outcomes if o.status is Status.FAILED]
    if failed:
        items = [EvidenceItem(h.ref, h.message, c) for c, o in failed for h in o.hits]
        reasons = [f"{c}: {o.reason}" for c, o in failed]
        enforceable = rule.enforceable(today)
        if rule.in_force and not enforceable:
            reasons.append(f"in force from {rule.effective_date}")
        verdict = Verdict.VIOLATION if enforceable else Verdict.ADVISORY
        return _finding(rule, verdict, evidence=items, reason="; ".join(reasons))
    lacking = [f"{c}: {o.reason}" for c, o in outcomes if o.status is Status.INSUFFICIENT]
    if lacking:
        return _finding(rule, Verdict.INSUFFICIENT_EVIDENCE, reason="; ".join(lacking))
    if any(o.status is Status.PASSED for _, o in outcomes):
        # All passed, or some passed and the rest do not apply: nothing is wrong.
        return _finding(rule, Verdict.PASS)
    reasons = [f"{c}: {o.reason}" for c, o in outcomes]
    return _finding(rule, Verdict.NOT_APPLICABLE, reason="; ".join(reasons))


def inspect_evidence(
    evidence: Evidence,
    frameworks: Sequence[str] = ("all",),
    *,
    today: date | None = None,
    catalog: Catalog | None = None,
) -> Inspection:
    """Inspect one device's evidence against the rules the ``frameworks`` select.

    Raises :class:`~bystander.rules.catalog.UnknownFrameworkError` (an ``InputError``) for an
    unknown framework id.
    """
    cat = catalog if catalog is not None else load_catalog()
    evidence.finish()  # checks bisect on times: make sure every list is sorted
    evidence.derived.clear()  # indexes checks share are built afresh for this inspection
    names = tuple(frameworks) or ("all",)
    rules = cat.rules_for(names)
    day = today if today is not None else datetime.now(UTC).date()
    runner = _Runner(evidence, CheckContext(day))
    caps = capabilities(evidence)
    findings = [evaluate_rule(r, runner, caps, day) for r in rules]
    findings.sort(key=lambda f: (VERDICT_ORDER[f.verdict], SEVERITY_ORDER[f.severity], f.rule_id))
    return Inspection(
        device=evidence.device,
        frameworks=names,
        findings=findings,
        inspected_on=day,
        records=evidence.record_count(),
        sources=list(evidence.sources),
        notes=list(evidence.notes),
        catalog_version=cat.version,
        root=evidence.root,
        artifacts=dict(evidence.artifacts),
    )
