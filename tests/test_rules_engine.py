"""The engine: verdicts by status, applicability, frameworks, caching, and MIIT-style bundles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bystander.errors import InputError
from bystander.inspect.findings import Severity, Verdict
from bystander.inspect.profile import InspectedDevice
from bystander.inspect.records import (
    Billing,
    BiometricOp,
    BiometricOpKind,
    Capture,
    Consent,
    ConsentAction,
    ConsentKindName,
    Count,
    Document,
    DocumentField,
    Egress,
    Evidence,
    Indicator,
    Notice,
    Permission,
    Store,
    Zone,
    ZoneType,
)
from bystander.rules import CHECKS, UnknownFrameworkError, inspect_evidence, load_catalog
from bystander.rules.checks import Check

T = datetime(2025, 7, 1, tzinfo=UTC).timestamp()
DAY = 86400.0
TODAY = date(2025, 10, 1)
TPL = "user.biometric.face.template"
G = ConsentAction.GRANTED


def fields(*names: str) -> tuple[DocumentField, ...]:
    return tuple(DocumentField(n, f"doc.md:{i}") for i, n in enumerate(names))


def lock_profile(**kw: Any) -> InspectedDevice:
    base: dict[str, Any] = {
        "device_id": "lock-1",
        "device_type": "door-lock",
        "markets": ["CN"],
        "sensors": ["camera"],
        "face_recognition": True,
        "biometrics": ["face"],
        "indicator": {"present": True, "covers": ["camera"], "hardwired": True},
        "zones": ["home"],
        "zone_guard": True,
        "data_flows": [
            {
                "data_categories": ["user.device.identifier", "user.contact.phone"],
                "destination": "api.acme.cn",
                "country": "CN",
                "purpose": "remote unlock",
                "consent_scope": "cloud_transfer",
            }
        ],
        "retention_days": {TPL: 365},
        "authentication": {"methods": ["face", "pin"]},
        "access_control": {
            "remote_view_requires_auth": True,
            "default_password": False,
            "unique_credentials": True,
            "user_roles": True,
            "encryption_at_rest": True,
            "encryption_in_transit": True,
        },
        "subscription": {"offered": True, "auto_renew": True, "reminder_days_before": 5},
        "security": {
            "vuln_disclosure_url": "https://acme.cn/security",
            "support_period": "5 years",
            "software_updates": True,
        },
        "declared_data_categories": [TPL, "user.device.identifier", "user.contact.phone"],
        "purposes": ["unlock"],
    }
    return InspectedDevice.model_validate(base | kw)


def compliant_lock(**profile: Any) -> Evidence:
    """A face-recognition door lock sold in China that does everything right."""
    ev = Evidence(device=lock_profile(**profile), has_traffic=True, has_audit_log=True)
    ev.documents += [
        Document(
            "doc:privacy.md:1",
            "privacy_policy",
            "privacy.md",
            "zh",
            T - 10 * DAY,
            fields(
                "processor",
                "contact",
                "purposes",
                "data_categories",
                "retention",
                "rights",
                "exercise_rights",
                "biometric",
            ),
        ),
        Document(
            "doc:pia.md:1",
            "pia",
            "pia.md",
            "zh",
            T - 20 * DAY,
            fields("purposes", "impact", "risks", "measures"),
        ),
        Document("doc:retention.md:1", "retention_schedule", "retention.md", "en", T - 20 * DAY),
    ]
    ev.notices.append(Notice("audit:1", T, "bio-1", frozenset({"retention"}), biometric=True))
    ev.consents += [
        Consent("audit:2", T + 10, G, frozenset({"cloud_transfer"})),
        Consent(
            "audit:3",
            T + 20,
            G,
            frozenset({"face.processing"}),
            ConsentKindName.SEPARATE,
            subject_id="u1",
        ),
    ]
    ev.permissions.append(Permission("audit:4", T + 30, "camera", "granted", purpose_shown=True))
    ev.biometric_ops += [
        BiometricOp(
            "audit:5",
            T + 40,
            BiometricOpKind.TEMPLATE_CREATE,
            "u1",
            ZoneType.HOME,
            purpose="unlock",
        ),
        BiometricOp(
            "audit:6", T + 100, BiometricOpKind.VERIFY_1TO1, "u1", ZoneType.HOME, purpose="unlock"
        ),
    ]
    ev.stores.append(Store("inv:1", "tpl-u1", TPL, "on_device", T + 40, None, 365, True, "u1"))
    ev.egress.append(
        Egress(
            "har:t.har#0",
            T + 200,
            "api.acme.cn",
            frozenset({"user.device.identifier"}),
            "CN",
            tls=True,
        )
    )
    ev.counts.append(Count("audit:7", T + 300, "distinct_face_subjects", 3))
    ev.billing += [
        Billing("billing:b.csv:1", T, "s1", "opt_in", auto_renew=True),
        Billing("billing:b.csv:2", T, "s1", "cancel_option_shown"),
        Billing("billing:b.csv:3", T + 20 * DAY, "s1", "reminder_sent"),
        Billing("billing:b.csv:4", T + 30 * DAY, "s1", "renewal", 10.0, "CNY", True),
    ]
    return ev.finish()


def failed(ev: Evidence, frameworks: tuple[str, ...] = ("all",)) -> dict[str, Verdict]:
    ins = inspect_evidence(ev, frameworks, today=TODAY)
    return {f.rule_id: f.verdict for f in ins.findings if f.failed}


V, A = Verdict.VIOLATION, Verdict.ADVISORY


def _no_rules(ev: Evidence) -> None:
    ev.documents = [d for d in ev.documents if d.doc_type != "privacy_policy"]


def _no_access_control(ev: Evidence) -> None:
    ac = ev.device.access_control.model_copy(
        update={"remote_view_requires_auth": False, "default_password": True, "user_roles": False}
    )
    ev.device = ev.device.model_copy(update={"access_control": ac})
    ev.permissions.append(Permission("audit:90", T + 50, "remote_view", "granted", prompted=False))


def _no_notice(ev: Evidence) -> None:
    ev.notices.clear()


def _cloud_without_consent(ev: Evidence) -> None:
    ev.consents = [c for c in ev.consents if "cloud_transfer" not in c.scopes]
    ev.egress.append(Egress("har:t.har#1", T + 300, "api.acme.cn", frozenset({TPL}), "CN"))


def _over_collection(ev: Evidence) -> None:
    ev.egress.append(
        Egress(
            "har:t.har#2",
            T + 300,
            "api.acme.cn",
            frozenset({"user.location.precise", "user.contact.contacts"}),
            "CN",
        )
    )
    ev.permissions.append(Permission("audit:91", T - 100, "location", "granted"))


def _auto_renewal(ev: Evidence) -> None:
    ev.billing = [b for b in ev.billing if b.event == "renewal"]


MIIT = [
    ("no processing rules", _no_rules, {"CN-APP19-1.1": A, "CN-PIPL-17-NOTICE": V}),
    (
        "no access control",
        _no_access_control,
        {"CN-APP19-3.3": A, "CN-FRM-14-SECURITY": V, "CN-PIPL-51-SECURITY": V},
    ),
    (
        "biometrics without notice",
        _no_notice,
        {"CN-FRM-05-NOTICE": V, "CN-PIPL-30-EXTRA-NOTICE": V, "CN-GBT35273-5.4-BIO": A},
    ),
    (
        "cloud without consent",
        _cloud_without_consent,
        {"CN-FRM-08-LOCAL-STORE": V, "CN-PIPL-13-BASIS": V},
    ),
    (
        "over-collection",
        _over_collection,
        {"CN-APP19-2.3": A, "CN-APP19-3.1": A, "CN-APP19-4.1": A, "CN-PIPL-06-MIN": V},
    ),
    (
        "auto-renewal",
        _auto_renewal,
        {"CN-AUTORENEW-OPT-IN": V, "CN-AUTORENEW-REMINDER": V, "CN-AUTORENEW-CANCEL": V},
    ),
]


def test_compliant_device_has_no_failures() -> None:
    ins = inspect_evidence(compliant_lock(), today=TODAY)
    assert [f.rule_id for f in ins.findings if f.failed] == []
    assert ins.exit_code == 0
    passing = {f.rule_id for f in ins.findings if f.verdict is Verdict.PASS}
    assert {
        "CN-FRM-06-SEPARATE-CONSENT",
        "CN-FRM-08-LOCAL-STORE",
        "CN-PIPL-17-NOTICE",
        "CN-AUTORENEW-OPT-IN",
    } <= passing


@pytest.mark.parametrize(("name", "breaks", "expected"), MIIT, ids=[m[0] for m in MIIT])
def test_miit_finding_fires_only_its_rules(
    name: str, breaks: Callable[[Evidence], None], expected: dict[str, Verdict]
) -> None:
    ev = compliant_lock()
    breaks(ev)
    assert failed(ev.finish()) == expected


@pytest.mark.parametrize(("name", "breaks", "expected"), MIIT, ids=[m[0] for m in MIIT])
def test_miit_framework_selects_each_finding(
    name: str, breaks: Callable[[Evidence], None], expected: dict[str, Verdict]
) -> None:
    ev = compliant_lock()
    breaks(ev)
    assert failed(ev.finish(), ("cn-miit-2025",)) == expected


def test_missing_billing_evidence_is_not_a_billing_failure() -> None:
    ev = compliant_lock(subscription={})
    ev.billing.clear()
    ins = inspect_evidence(ev, today=TODAY)
    renew = [f for f in ins.findings if f.rule_id.startswith("CN-AUTORENEW")]
    assert {f.verdict for f in renew} == {Verdict.NOT_APPLICABLE}


def glasses() -> Evidence:
    dev = InspectedDevice.model_validate(
        {
            "device_id": "g-1",
            "device_type": "smart-glasses",
            "markets": ["CN"],
            "sensors": ["camera", "microphone"],
            "face_recognition": True,
            "biometrics": ["face"],
            "indicator": {"present": True, "covers": ["camera", "microphone"], "hardwired": True},
            "authentication": {"methods": ["pin"]},
            "security": {"vuln_disclosure_url": "https://g.example/security"},
        }
    )
    ev = Evidence(device=dev, has_audit_log=True)
    ev.consents += [
        Consent("audit:1", T + 100, G, frozenset({"recording"})),
        Consent(
            "audit:2",
            T - 10,
            G,
            frozenset({"face.processing"}),
            ConsentKindName.SEPARATE,
            subject_id="guest-7",
        ),
    ]
    ev.indicators += [Indicator("audit:3", T + 150, "on"), Indicator("audit:4", T + 300, "off")]
    ev.captures += [
        Capture("audit:5", T, T + 50),  # before consent, indicator not yet on
        Capture("audit:6", T + 400, T + 500),  # indicator switched off
    ]
    ev.zones.append(Zone("audit:7", T + 390, ZoneType.HOTEL_ROOM))
    ev.biometric_ops.append(
        BiometricOp("audit:8", T + 450, BiometricOpKind.IDENTIFY_1TON, "guest-7")
    )
    ev.notices.append(Notice("audit:9", T - 20, "bio", biometric=True))
    ev.documents += [
        Document("doc:pia.md:1", "pia", "pia.md", t=T - 30 * DAY),
        Document(
            "doc:privacy.md:1",
            "privacy_policy",
            "privacy.md",
            t=T - 30 * DAY,
            fields=fields(
                "processor",
                "contact",
                "purposes",
                "data_categories",
                "retention",
                "rights",
                "exercise_rights",
            ),
        ),
    ]
    return ev.finish()


def test_smart_glasses_bundle() -> None:
    ins = inspect_evidence(glasses(), ("all",), today=TODAY)
    got = {f.rule_id: f for f in ins.findings if f.failed}
    assert got["CN-CAICT-GLASSES-INDICATOR"].verdict is A
    assert {e.ref for e in got["CN-CAICT-GLASSES-INDICATOR"].evidence} == {"audit:5", "audit:6"}
    assert got["CN-CAICT-GLASSES-CONSENT"].verdict is A
    assert [e.ref for e in got["CN-CAICT-GLASSES-CONSENT"].evidence] == ["audit:5"]
    assert got["CN-FRM-13B-PRIVATE-SPACE"].verdict is V
    assert [e.ref for e in got["CN-FRM-13B-PRIVATE-SPACE"].evidence] == ["audit:8"]
    assert got["CN-CIVIL-1033"].verdict is V
    assert [e.ref for e in got["CN-CIVIL-1033"].evidence] == ["audit:6"]
    # Filming a hotel room with the indicator off is covert filming (PSAPL).
    assert [e.ref for e in got["CN-PSAPL-PEEP"].evidence] == ["audit:6"]
    # Recording before any consent has no legal basis (PIPL Art 13).
    assert [e.ref for e in got["CN-PIPL-13-BASIS"].evidence] == ["audit:5"]
    # Everything else in the bundle is in order (or lacks evidence), so nothing else fires
    # but the covenant's algorithm-transparency advisory (no notice says what the model does).
    assert set(got) == {
        "CN-CAICT-GLASSES-INDICATOR",
        "CN-CAICT-GLASSES-CONSENT",
        "CN-CAICT-GLASSES-ALGORITHM",
        "CN-FRM-13B-PRIVATE-SPACE",
        "CN-CIVIL-1033",
        "CN-PSAPL-PEEP",
        "CN-PIPL-13-BASIS",
    }
    assert got["CN-CAICT-GLASSES-ALGORITHM"].verdict is A
    # The voluntary covenant never makes the device "illegal"; the measures do.
    assert ins.exit_code == 1


def test_smart_glasses_framework_selects_only_the_covenant() -> None:
    ins = inspect_evidence(glasses(), ["caict-glasses-2026"], today=TODAY)
    assert {f.rule_id for f in ins.findings} == {
        r.id for r in load_catalog().rules if r.instrument_key == "caict-glasses-2026"
    }
    assert not ins.violations and ins.exit_code == 0
    assert {f.rule_id for f in ins.advisories} >= {
        "CN-CAICT-GLASSES-INDICATOR",
        "CN-CAICT-GLASSES-CONSENT",
    }


def test_door_lock_bundle() -> None:
    ev = compliant_lock(authentication={"methods": ["face"]})
    ev.documents = [d for d in ev.documents if d.doc_type != "pia"]
    ev.egress.append(Egress("har:t.har#9", T + 500, "api.acme.cn", frozenset({TPL}), "SG"))
    got = failed(ev.finish())
    assert got == {
        "CN-FRM-10-NOT-SOLE": V,
        "CN-PIPL-16-NO-FORCED": V,
        "CN-FRM-09-PIA": V,
        "CN-PIPL-55-PIA-TRIGGER": V,
        "CN-FRM-08-LOCAL-STORE": V,
        "CN-PIPL-38-XBORDER": V,
        "CN-PIPL-39-XBORDER-CONSENT": V,
        "CN-XB-CONTRACT": V,  # sensitive data exported with no CAC standard contract
    }


def test_advisory_for_draft_and_violation_for_in_force() -> None:
    ev = compliant_lock(markets=["CN", "EU"])
    ev.biometric_ops.append(
        BiometricOp(
            "audit:50",
            T + 500,
            BiometricOpKind.CATEGORIZE,
            "u1",
            inferred_attributes=frozenset({"religion"}),
        )
    )
    got = failed(ev.finish())
    assert got["CN-FRM-D11-SENSITIVE-INFERENCE"] is A  # the 2023 draft
    assert got["EU-AIA-5-1-G"] is V  # law in the EU


def test_in_force_rule_before_its_effective_date_is_advisory() -> None:
    ev = compliant_lock(markets=["EU"], roles=["deployer"])  # Art 50(3) binds deployers
    ev.notices.clear()  # nobody was told about emotion recognition
    ev.biometric_ops.append(BiometricOp("audit:51", T + 500, BiometricOpKind.EMOTION, "u1"))
    ev.finish()
    before = inspect_evidence(ev, ["eu-ai-act"], today=date(2026, 8, 1))
    after = inspect_evidence(ev, ["eu-ai-act"], today=date(2026, 8, 2))
    f_before = next(f for f in before.findings if f.rule_id == "EU-AIA-50-3")
    f_after = next(f for f in after.findings if f.rule_id == "EU-AIA-50-3")
    assert f_before.verdict is A and "in force from 2026-08-02" in f_before.reason
    assert f_after.verdict is V


def test_applicability_by_market_and_device_type() -> None:
    eu = compliant_lock(markets=["EU"])
    ins = inspect_evidence(eu, today=TODAY)
    by_id = {f.rule_id: f for f in ins.findings}
    assert by_id["CN-FRM-06-SEPARATE-CONSENT"].verdict is Verdict.NOT_APPLICABLE
    assert "markets: EU" in by_id["CN-FRM-06-SEPARATE-CONSENT"].reason
    assert by_id["EU-GDPR-9"].verdict is not Verdict.NOT_APPLICABLE
    assert by_id["ETSI-5.1-1"].verdict is Verdict.PASS
    assert by_id["US-IL-BIPA-15B"].verdict is Verdict.NOT_APPLICABLE
    # A door lock is not smart glasses.
    assert by_id["CN-CAICT-GLASSES-INDICATOR"].verdict is Verdict.NOT_APPLICABLE
    # No markets declared: every jurisdiction applies.
    anywhere = inspect_evidence(compliant_lock(markets=[]), today=TODAY)
    assert {f.jurisdiction for f in anywhere.findings if f.verdict is Verdict.PASS} >= {
        "CN",
        "EU",
        "ETSI",
        "US-IL",
    }


def test_capability_gates_face_rules() -> None:
    ev = compliant_lock(face_recognition=False, biometrics=[])
    ev.biometric_ops.clear()
    ev.stores.clear()
    ins = inspect_evidence(ev.finish(), ["cn-frm-2025"], today=TODAY)
    assert {f.verdict for f in ins.findings} == {Verdict.NOT_APPLICABLE}
    assert all("face_recognition" in f.reason for f in ins.findings)


def test_unknown_framework_is_a_one_line_input_error() -> None:
    with pytest.raises(UnknownFrameworkError) as err:
        inspect_evidence(compliant_lock(), ["cn-nope"])
    assert isinstance(err.value, InputError)
    msg = str(err.value)
    assert "\n" not in msg and "cn-nope" in msg
    assert "cn-frm-2025" in msg and "caict-glasses-2026" in msg and "all" in msg


def test_each_check_runs_once_per_inspection(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, int] = {}
    for cid, chk in list(CHECKS.items()):

        def counted(ev: Evidence, ctx: Any, _c: Check = chk) -> Any:
            calls[_c.id] = calls.get(_c.id, 0) + 1
            return _c.fn(ev, ctx)

        monkeypatch.setitem(CHECKS, cid, replace(chk, fn=counted))
    ins = inspect_evidence(compliant_lock(markets=[]), today=TODAY)
    shared = [c for c in CHECKS if sum(c in r.checks for r in load_catalog().rules) > 1]
    assert shared  # several rules share checks...
    assert calls and max(calls.values()) == 1  # ...yet each ran once
    assert ins.findings


def test_findings_sorted_by_verdict_severity_and_id() -> None:
    ev = compliant_lock(authentication={"methods": ["face"]})
    ev.documents = [d for d in ev.documents if d.doc_type != "privacy_policy"]
    ins = inspect_evidence(ev.finish(), today=TODAY)
    order = list(Verdict)
    sev = list(Severity)
    keys = [(order.index(f.verdict), sev.index(f.severity), f.rule_id) for f in ins.findings]
    assert keys == sorted(keys)
    assert ins.findings[0].verdict is V


def test_inspection_metadata() -> None:
    ev = compliant_lock()
    ins = inspect_evidence(ev, ["cn-frm-2025", "cn-pipl"], today=TODAY)
    assert ins.frameworks == ("cn-frm-2025", "cn-pipl")
    assert ins.records == ev.record_count()
    assert ins.catalog_version == load_catalog().version
    assert ins.inspected_on == TODAY
    assert {f.instrument for f in ins.findings} == {
        load_catalog().instruments["cn-frm-2025"],
        load_catalog().instruments["cn-pipl"],
        load_catalog().instruments["cn-xborder-2024"],  # the Art 38 volume thresholds
    }


def test_failure_evidence_and_reason() -> None:
    ev = compliant_lock()
    _cloud_without_consent(ev)
    ins = inspect_evidence(ev.finish(), today=TODAY)
    f = next(f for f in ins.findings if f.rule_id == "CN-FRM-08-LOCAL-STORE")
    assert [(e.ref, e.check_id) for e in f.evidence] == [("har:t.har#1", "face_data_leaves_device")]
    assert "face template sent to api.acme.cn (CN)" in f.evidence[0].message
    assert f.reason.startswith("face_data_leaves_device: 1 ")
    assert f.remediation and f.sources and f.deadline_days() == 15


def test_engine_sorts_records_it_was_given_unsorted() -> None:
    ev = compliant_lock(device_type="smart-glasses")
    ev.captures += [Capture("audit:c2", T + 60, T + 61), Capture("audit:c1", T + 10, T + 11)]
    ev.consents += [
        Consent("audit:k2", T + 50, ConsentAction.WITHDRAWN, frozenset({"recording"})),
        Consent("audit:k1", T + 5, G, frozenset({"recording"})),
    ]
    ins = inspect_evidence(ev, ["caict-glasses-2026"], today=TODAY)  # caller never sorted
    f = next(f for f in ins.findings if f.rule_id == "CN-CAICT-GLASSES-CONSENT")
    assert [e.ref for e in f.evidence] == ["audit:c2"]
    assert [c.ref for c in ev.captures] == ["audit:c1", "audit:c2"]
