"""Security checks: access control, credentials, encryption, updates, disclosure policy."""

from __future__ import annotations

from bystander.inspect.records import Evidence
from bystander.rules.checks.base import (
    CheckContext,
    CheckOutcome,
    Hits,
    check,
    fail,
    insufficient,
    iso,
    not_applicable,
    passed,
)
from bystander.rules.checks.index import does_biometrics, is_biometric, is_local_host, is_personal


@check("access_control_missing", "No access control over feeds and data", ())
def access_control_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Remote viewing without authentication, or no user roles (profile.access_control)."""
    ac = ev.device.access_control
    if ac.remote_view_requires_auth is None and ac.user_roles is None:
        return insufficient("the profile says nothing of remote-view authentication or roles")
    hits = Hits("access-control gaps")
    if ac.remote_view_requires_auth is False:
        hits.hit(
            "profile:access_control.remote_view_requires_auth",
            "remote viewing of the feed needs no authentication",
        )
    if ac.user_roles is False:
        hits.hit("profile:access_control.user_roles", "no user roles: every user sees everything")
    return hits.outcome("remote viewing is authenticated and roles exist")


@check("default_password", "Universal default password", ())
def default_password(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A shared default password, or credentials not unique per device."""
    ac = ev.device.access_control
    if ac.default_password is None and ac.unique_credentials is None:
        return insufficient("the profile says nothing of default passwords")
    hits = Hits("credential weaknesses")
    if ac.default_password:
        hits.hit("profile:access_control.default_password", "one shared default password")
    if ac.unique_credentials is False:
        hits.hit("profile:access_control.unique_credentials", "credentials are not unique")
    return hits.outcome("credentials are unique per device or set by the user")


@check(
    "personal_data_unencrypted_in_transit",
    "Personal data sent without encryption",
    ("egress",),
)
def personal_data_unencrypted_in_transit(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """Personal data sent without TLS, or the profile says transit is unencrypted."""
    hits = Hits("unencrypted transfers of personal data")
    if ev.device.access_control.encryption_in_transit is False:
        hits.hit("profile:access_control.encryption_in_transit", "transit is not encrypted")
    for e in ev.egress:
        if e.tls is False and e.allowed and not is_local_host(e.host):
            cats = sorted(c for c in e.data_categories if is_personal(c))
            if cats and hits.want():
                hits.add(e.ref, f"{', '.join(cats)} sent to {e.host} at {iso(e.t)} without TLS")
    unknown = ev.device.access_control.encryption_in_transit is None
    if not hits.total and not (ev.has_traffic or ev.egress) and unknown:
        return insufficient("no traffic capture in the bundle")
    return hits.outcome("personal data travels encrypted")


@check("biometric_store_unencrypted", "Biometric data stored unencrypted", ("stores",))
def biometric_store_unencrypted(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """A stored biometric item not encrypted, or the profile says storage is unencrypted."""
    stores = [s for s in ev.stores if is_biometric(s.data_category)]
    if not stores and not does_biometrics(ev):
        return not_applicable("the device stores no biometric data")
    hits = Hits("unencrypted biometric items")
    if ev.device.access_control.encryption_at_rest is False:
        hits.hit("profile:access_control.encryption_at_rest", "data at rest is not encrypted")
    for s in stores:
        if s.encrypted is False and hits.want():
            hits.add(s.ref, f"{s.data_category} {s.record_id} stored unencrypted in {s.location}")
    unknown = ev.device.access_control.encryption_at_rest is None
    if not hits.total and all(s.encrypted is None for s in stores) and unknown:
        return insufficient("nothing says whether biometric data is encrypted at rest")
    return hits.outcome("biometric data is encrypted at rest")


@check("vuln_disclosure_policy_missing", "No vulnerability disclosure policy", ("documents",))
def vuln_disclosure_policy_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """No published vulnerability disclosure policy (document or URL)."""
    docs = ev.documents_of("vuln_disclosure_policy")
    if docs or ev.device.security.vuln_disclosure_url:
        return passed("vulnerability disclosure policy published")
    return fail(
        "profile:security.vuln_disclosure_url",
        "no vulnerability disclosure policy (no document, no URL)",
        "missing policy",
    )


@check("support_period_missing", "No published support period", ("documents",))
def support_period_missing(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """No published period during which security updates are provided."""
    if ev.documents_of("support_period") or ev.device.security.support_period:
        return passed("support period published")
    return fail(
        "profile:security.support_period",
        "no defined support (security update) period is published",
        "missing support period",
    )


@check("software_updates_unavailable", "Software cannot be updated", ())
def software_updates_unavailable(ev: Evidence, ctx: CheckContext) -> CheckOutcome:
    """The device's software cannot be securely updated."""
    updates = ev.device.security.software_updates
    if updates is None:
        return insufficient("the profile does not say whether software can be updated")
    if updates:
        return passed("software updates are available")
    return fail(
        "profile:security.software_updates", "the device's software cannot be updated", "no updates"
    )
