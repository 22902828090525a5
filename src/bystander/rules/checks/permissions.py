"""Permission and consent-quality checks (the MIIT app checklists applied to devices)."""

from __future__ import annotations

from bystander.inspect.records import ConsentAction, Evidence
from bystander.rules.checks.base import (
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    iso,
    not_applicable,
)
from bystander.rules.checks.index import NEG_INF

SENSITIVE_SCOPE_PREFIXES = ("face", "voice", "fingerprint", "biometric", "cross_border")


def _no_permissions(ev: Evidence) -> CheckOutcome | None:
    if ev.permissions:
        return None
    return not_applicable("no permission records in the bundle")


@check(
    "permission_before_consent",
    "Permission requested before consent",
    ("permissions", "consents"),
)
def permission_before_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A permission requested or used before the person first agreed to anything."""
    early = _no_permissions(ev)
    if early is not None:
        return early
    grants = [c for c in ev.consents if c.action is ConsentAction.GRANTED]
    first = min((NEG_INF if c.t is None else c.t for c in grants), default=None)
    hits = Hits("permissions requested before consent")
    for p in ev.permissions:
        if p.t is None or p.result == "not_asked":
            continue
        if (first is None or p.t < first) and hits.want():
            when = (
                "with no consent ever given" if first is None else f"before consent ({iso(first)})"
            )
            hits.add(p.ref, f"{p.permission} permission {p.result} at {iso(p.t)} {when}")
    return hits.outcome("no permission before consent")


@check(
    "permission_without_purpose",
    "Permission requested without stating its purpose",
    ("permissions",),
)
def permission_without_purpose(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A prompted permission request that did not show its purpose."""
    early = _no_permissions(ev)
    if early is not None:
        return early
    hits = Hits("permission requests without a stated purpose")
    for p in ev.permissions:
        if p.prompted and p.result != "not_asked" and not p.purpose_shown and hits.want():
            hits.add(p.ref, f"{p.permission} permission requested at {iso(p.t)} with no purpose")
    return hits.outcome("every permission request stated its purpose")


@check(
    "permission_granted_without_prompt",
    "Access granted without asking",
    ("permissions",),
)
def permission_granted_without_prompt(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A permission (or remote access) in effect that nobody was asked for."""
    early = _no_permissions(ev)
    if early is not None:
        return early
    hits = Hits("permissions granted without a prompt")
    for p in ev.permissions:
        if p.result == "granted" and not p.prompted and hits.want():
            hits.add(p.ref, f"{p.permission} granted at {iso(p.t)} without asking anyone")
    return hits.outcome("every granted permission was asked for")


@check(
    "permission_reprompt_after_refusal",
    "Permission re-requested after refusal",
    ("permissions",),
)
def permission_reprompt_after_refusal(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The same permission requested again after the person refused it."""
    early = _no_permissions(ev)
    if early is not None:
        return early
    refused: dict[str, str] = {}
    hits = Hits("repeated requests after refusal")
    for p in ev.permissions:
        if not p.prompted or p.result == "not_asked":
            continue
        if p.permission in refused and hits.want():
            hits.add(
                p.ref,
                f"{p.permission} requested again at {iso(p.t)} after refusal "
                f"({refused[p.permission]})",
            )
        if p.result == "denied":
            refused.setdefault(p.permission, p.ref)
    return hits.outcome("no permission was re-requested after refusal")


@check("bundled_consent", "Sensitive consent bundled with other terms", ("consents",))
def bundled_consent(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Consent to biometric or cross-border processing given inside wider terms."""
    if not ev.consents:
        return not_applicable("no consent records in the bundle")
    hits = Hits("bundled consents to sensitive processing")
    for c in ev.consents:
        if not c.bundled or c.action not in (ConsentAction.GRANTED, ConsentAction.RENEWED):
            continue
        sens = sorted(s for s in c.scopes if s.startswith(SENSITIVE_SCOPE_PREFIXES))
        if sens and hits.want():
            hits.add(
                c.ref,
                f"consent to {', '.join(sens)} at {iso(c.t)} bundled into a terms acceptance",
            )
    return hits.outcome("no sensitive consent was bundled")


DEFAULT_OFF = ("camera", "microphone", "location")


@check(
    "sensors_on_by_default",
    "Camera, microphone or location on by default",
    ("permissions",),
)
def sensors_on_by_default(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Camera, microphone or location granted to an app without anyone asking (on by default),
    as the draft children's-watch safety standard forbids."""
    early = _no_permissions(ev)
    if early is not None:
        return early
    hits = Hits("sensor permissions on by default")
    for p in ev.permissions:
        on = p.permission in DEFAULT_OFF and p.result == "granted" and not p.prompted
        if on and hits.want():
            hits.add(p.ref, f"{p.permission} granted by default at {iso(p.t)}, not asked")
    return hits.outcome("camera, microphone and location stay off until someone turns them on")
