"""Each check: a hand-built failing bundle (asserting the refs reported) and a passing one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

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
    Moderation,
    Notice,
    Permission,
    Sensor,
    Store,
    SubjectRequest,
    Zone,
    ZoneType,
)
from bystander.rules.checks import CHECKS, MAX_HITS, CheckContext, CheckOutcome, Status

T = datetime(2025, 7, 1, tzinfo=UTC).timestamp()
DAY = 86400.0
TODAY = date(2025, 7, 2)
G, W, R = ConsentAction.GRANTED, ConsentAction.WITHDRAWN, ConsentAction.REFUSED
TPL = "user.biometric.face.template"


def dev(**kw: Any) -> InspectedDevice:
    base: dict[str, Any] = {"device_id": "d1", "device_type": "door-lock", "markets": ["CN"]}
    return InspectedDevice.model_validate(base | kw)


FR = {"face_recognition": True, "biometrics": ["face"]}
CAM = {"sensors": ["camera"]}


def ev(device: InspectedDevice | None = None, **records: Any) -> Evidence:
    flags = {k: records.pop(k) for k in ("has_traffic", "has_audit_log") if k in records}
    e = Evidence(device=device or dev(), **flags)
    for name, items in records.items():
        getattr(e, name).extend(items)
    return e.finish()


def consent(
    ref: str,
    t: float,
    scope: str,
    kind: str = "general",
    action: ConsentAction = G,
    subject: str | None = None,
    **kw: Any,
) -> Consent:
    return Consent(
        ref, t, action, frozenset({scope}), ConsentKindName(kind), subject_id=subject, **kw
    )


def op(
    ref: str,
    t: float,
    kind: BiometricOpKind = BiometricOpKind.TEMPLATE_CREATE,
    subject: str | None = "u1",
    **kw: Any,
) -> BiometricOp:
    return BiometricOp(ref, t, kind, subject_id=subject, **kw)


def doc(
    ref: str, doc_type: str, t: float | None = None, fields: tuple[str, ...] = (), **kw: Any
) -> Document:
    found = tuple(DocumentField(n, f"{ref}:{i}") for i, n in enumerate(fields))
    return Document(ref, doc_type, f"{doc_type}.md", t=t, fields=found, **kw)


def egress(
    ref: str, t: float, host: str, *cats: str, country: str | None = "CN", **kw: Any
) -> Egress:
    return Egress(ref, t, host, frozenset(cats), country, **kw)


def run(check_id: str, e: Evidence, today: date = TODAY) -> CheckOutcome:
    return CHECKS[check_id](e, CheckContext(today))


POLICY = (
    "processor",
    "contact",
    "purposes",
    "data_categories",
    "retention",
    "rights",
    "exercise_rights",
)
PIA = ("purposes", "impact", "risks", "measures")
FR_DEV = dev(**FR)
CAP = [Capture("c1", T, T + 100)]
VERIFY = BiometricOpKind.VERIFY_1TO1
EMOTION = BiometricOpKind.EMOTION

Case = tuple[str, Callable[[], Evidence], list[str], Callable[[], Evidence]]
# (check id, failing bundle, refs it must report, passing bundle)
CASES: list[Case] = [
    (
        "capture_before_consent",
        lambda: ev(dev(**CAM), captures=CAP, consents=[consent("k1", T + 5, "recording")]),
        ["c1"],
        lambda: ev(dev(**CAM), captures=CAP, consents=[consent("k1", T - 5, "recording")]),
    ),
    (
        "capture_without_indicator",
        lambda: ev(
            dev(**CAM),
            captures=[*CAP, Capture("c2", T + 200, T + 300)],
            indicators=[Indicator("i1", T - 1, "on"), Indicator("i2", T + 50, "off")],
        ),
        ["c1", "c2"],
        lambda: ev(dev(**CAM), captures=CAP, indicators=[Indicator("i1", T - 1, "on")]),
    ),
    (
        "indicator_tampered_during_capture",
        lambda: ev(dev(**CAM), captures=CAP, indicators=[Indicator("i1", T + 50, "tampered")]),
        ["c1"],
        lambda: ev(dev(**CAM), captures=CAP, indicators=[Indicator("i1", T + 150, "tampered")]),
    ),
    (
        "indicator_not_declared",
        lambda: ev(dev(**CAM)),
        ["profile:indicator.present"],
        lambda: ev(dev(**CAM, indicator={"present": True, "covers": ["camera"]})),
    ),
    (
        "indicator_can_be_defeated",
        lambda: ev(
            dev(**CAM, indicator={"present": True, "hardwired": False, "tamper_detection": False})
        ),
        ["profile:indicator"],
        lambda: ev(dev(**CAM, indicator={"present": True, "hardwired": True})),
    ),
    (
        "private_space_capture",
        lambda: ev(dev(**CAM), captures=CAP, zones=[Zone("z1", T - 5, ZoneType.HOTEL_ROOM)]),
        ["c1"],
        lambda: ev(dev(**CAM), captures=CAP, zones=[Zone("z1", T - 5, ZoneType.HOME)]),
    ),
    (
        "biometric_without_separate_consent",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T), op("b2", T, subject="u2")],
            consents=[
                consent("k1", T - 5, "face.processing", subject="u1"),
                consent("k2", T - 5, "face.processing", "separate", subject="u2", bundled=True),
            ],
        ),
        ["b1", "b2"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T)],
            consents=[consent("k1", T - 5, "face.processing", "separate", subject="u1")],
        ),
    ),
    (
        "biometric_without_explicit_consent",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T)],
            consents=[consent("k1", T - 5, "face.processing", subject="u1")],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T)],
            consents=[consent("k1", T - 5, "face.processing", "explicit", subject="u1")],
        ),
    ),
    (
        "biometric_without_written_release",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T)],
            consents=[consent("k1", T - 5, "face.processing", "separate", subject="u1")],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T)],
            consents=[consent("k1", T - 5, "face.processing", "written", subject="u1")],
        ),
    ),
    (
        "biometric_after_withdrawal",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b0", T - 5), op("b1", T + 10, VERIFY)],
            consents=[
                consent("k1", T - 10, "face.processing", "separate", subject="u1"),
                consent("k2", T, "face.processing", action=W, subject="u1"),
            ],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b0", T - 5)],
            consents=[
                consent("k1", T - 10, "face.processing", "separate", subject="u1"),
                consent("k2", T, "face.processing", action=W, subject="u1"),
            ],
        ),
    ),
    (
        "face_recognition_after_refusal",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T + 1)],
            consents=[consent("k1", T, "face.processing", action=R, subject="u1")],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T + 2)],
            consents=[
                consent("k1", T, "face.processing", action=R, subject="u1"),
                consent("k2", T + 1, "face.processing", "separate", subject="u1"),
            ],
        ),
    ),
    (
        "child_without_guardian_consent",
        lambda: ev(
            dev(targets_children=True, **FR),
            biometric_ops=[op("b1", T)],
            consents=[consent("k1", T - 5, "face.processing", "separate", subject="u1")],
        ),
        ["k1", "b1"],
        lambda: ev(
            dev(targets_children=True, **FR),
            biometric_ops=[op("b1", T)],
            consents=[
                consent(
                    "k1", T - 5, "face.processing", "guardian", subject="u1", granted_by="guardian"
                )
            ],
        ),
    ),
    (
        "biometric_before_notice",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T)],
            notices=[Notice("n1", T + 10, "bio", biometric=True)],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T)],
            notices=[Notice("n1", T - 10, "bio", biometric=True, subject_id="u1")],
        ),
    ),
    (
        "biometric_notice_missing",
        lambda: ev(FR_DEV, notices=[Notice("n1", T, "general")]),
        ["profile:biometrics"],
        lambda: ev(FR_DEV, documents=[doc("d1", "biometric_notice")]),
    ),
    (
        "face_data_leaves_device",
        lambda: ev(
            FR_DEV,
            has_traffic=True,
            egress=[
                egress("e1", T, "api.x.com", TPL, country="SG"),
                egress("e2", T, "192.168.1.5", TPL),
            ],
            stores=[Store("s1", "r1", TPL, "cloud:SG", T)],
        ),
        ["e1", "s1"],
        lambda: ev(
            FR_DEV,
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", TPL)],
            stores=[Store("s1", "r1", TPL, "cloud:SG", T)],
            consents=[consent("k1", T - 1, "face.cloud_transfer", "separate")],
        ),
    ),
    (
        "face_recognition_in_private_space",
        lambda: ev(
            dev(zones=["hotel_room"], **FR),
            biometric_ops=[op("b1", T, BiometricOpKind.IDENTIFY_1TON, zone=ZoneType.HOTEL_ROOM)],
        ),
        ["profile:zones", "b1"],
        lambda: ev(
            dev(zones=["hotel_room"], zone_guard=True, **FR),
            biometric_ops=[op("b1", T, BiometricOpKind.IDENTIFY_1TON, zone=ZoneType.HOME)],
        ),
    ),
    (
        "face_only_authentication",
        lambda: ev(dev(authentication={"methods": ["face"]}, **FR)),
        ["profile:authentication.methods"],
        lambda: ev(dev(authentication={"methods": ["face", "pin"]}, **FR)),
    ),
    (
        "fr_purpose_generic",
        lambda: ev(FR_DEV, biometric_ops=[op("b1", T, purpose="improve_experience")]),
        ["b1"],
        lambda: ev(FR_DEV, biometric_ops=[op("b1", T, purpose="unlock")]),
    ),
    (
        "fr_research_purpose_drift",
        lambda: ev(
            FR_DEV,
            biometric_ops=[
                op("b1", T, purpose="algorithm_training"),
                op("b2", T + 5, VERIFY, purpose="unlock"),
            ],
        ),
        ["b2"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[
                op("b1", T, purpose="algorithm_training"),
                op("b2", T + 5, VERIFY, subject="u2"),
            ],
        ),
    ),
    (
        "sensitive_inference_cn",
        lambda: ev(
            FR_DEV,
            biometric_ops=[
                op(
                    "b1",
                    T,
                    BiometricOpKind.CATEGORIZE,
                    inferred_attributes=frozenset({"ethnicity", "age"}),
                )
            ],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[
                op("b1", T, BiometricOpKind.CATEGORIZE, inferred_attributes=frozenset({"age"}))
            ],
        ),
    ),
    (
        "prohibited_biometric_categorisation",
        lambda: ev(
            FR_DEV,
            biometric_ops=[
                op("b1", T, BiometricOpKind.CATEGORIZE, inferred_attributes=frozenset({"religion"}))
            ],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[
                op("b1", T, BiometricOpKind.CATEGORIZE, inferred_attributes=frozenset({"health"}))
            ],
        ),
    ),
    (
        "emotion_recognition_work_school",
        lambda: ev(
            FR_DEV, biometric_ops=[op("b1", T, EMOTION)], zones=[Zone("z1", T - 9, ZoneType.SCHOOL)]
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T, EMOTION, zone=ZoneType.HOME)],
            zones=[Zone("z1", T - 9, ZoneType.SCHOOL)],
        ),
    ),
    (
        "untargeted_face_scraping",
        lambda: ev(FR_DEV, biometric_ops=[op("b1", T, purpose="face_database")]),
        ["b1"],
        lambda: ev(FR_DEV, biometric_ops=[op(f"b{i}", T, subject=f"p{i}") for i in range(5)]),
    ),
    (
        "emotion_categorisation_not_disclosed",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T, EMOTION)],
            notices=[Notice("n1", T - 5, "general", fields=frozenset({"purpose"}))],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T, EMOTION)],
            notices=[Notice("n1", T - 5, "ai", fields=frozenset({"emotion_recognition"}))],
        ),
    ),
    (
        "face_filing_missing",
        lambda: ev(
            FR_DEV,
            counts=[Count("n1", T - 90 * DAY, "distinct_face_subjects", 120_000)],
            documents=[doc("d1", "filing", T - 30 * DAY)],
        ),
        ["n1"],
        lambda: ev(
            FR_DEV,
            counts=[Count("n1", T - 90 * DAY, "distinct_face_subjects", 120_000)],
            documents=[doc("d1", "filing", T - 70 * DAY)],
        ),
    ),
    (
        "processing_rules_missing_zh",
        lambda: ev(documents=[doc("d1", "pia"), doc("d2", "privacy_policy", lang="en")]),
        ["d2"],
        lambda: ev(documents=[doc("d1", "processing_rules", lang="zh")]),
    ),
    (
        "processing_rules_incomplete_zh",
        lambda: ev(
            documents=[
                doc("d1", "privacy_policy", fields=POLICY[:4], lang="zh"),
                doc("d2", "privacy_policy", fields=POLICY, lang="en"),
            ]
        ),
        ["d1", "d1", "d1"],
        lambda: ev(
            documents=[
                doc("d1", "privacy_policy", fields=POLICY[:4], lang="zh"),
                doc("d2", "processing_rules", fields=POLICY[4:], lang="zh"),
            ]
        ),
    ),
    (
        "processing_rules_missing_en",
        lambda: ev(documents=[doc("d1", "processing_rules", lang="zh")]),
        ["d1"],
        lambda: ev(documents=[doc("d1", "privacy_policy", lang="en")]),
    ),
    (
        "processing_rules_incomplete_en",
        lambda: ev(
            documents=[
                doc("d1", "privacy_policy", fields=POLICY[:6], lang="en"),
                doc("d2", "privacy_policy", fields=POLICY, lang="zh"),
            ]
        ),
        ["d1"],
        lambda: ev(documents=[doc("d1", "privacy_policy", fields=POLICY, lang="en")]),
    ),
    (
        "ai_processing_not_disclosed",
        lambda: ev(
            dev(**CAM),
            biometric_ops=[op("b1", T, EMOTION)],
            documents=[doc("d1", "privacy_policy", fields=POLICY)],
        ),
        ["d1"],
        lambda: ev(
            dev(**CAM),
            biometric_ops=[op("b1", T, EMOTION)],
            documents=[doc("d1", "privacy_policy", fields=(*POLICY, "algorithm"))],
        ),
    ),
    (
        "children_rules_missing",
        lambda: ev(dev(targets_children=True), documents=[doc("d1", "privacy_policy")]),
        ["bundle:documents"],
        lambda: ev(dev(targets_children=True), documents=[doc("d1", "children_rules")]),
    ),
    (
        "pia_missing_or_late",
        lambda: ev(FR_DEV, biometric_ops=[op("b1", T)], documents=[doc("d1", "pia", T + 10)]),
        ["d1"],
        lambda: ev(FR_DEV, biometric_ops=[op("b1", T)], documents=[doc("d1", "pia", T - 10)]),
    ),
    (
        "pia_sections_missing",
        lambda: ev(FR_DEV, documents=[doc("d1", "pia", fields=("purposes", "impact"))]),
        ["d1", "d1"],
        lambda: ev(FR_DEV, documents=[doc("d1", "pia", fields=PIA)]),
    ),
    (
        "public_camera_without_signage",
        lambda: ev(dev(**CAM), zones=[Zone("z1", T, ZoneType.PUBLIC_PLACE)]),
        ["z1"],
        lambda: ev(
            dev(**CAM),
            zones=[Zone("z1", T, ZoneType.PUBLIC_PLACE)],
            documents=[doc("d1", "signage")],
        ),
    ),
    (
        "retention_schedule_not_public",
        lambda: ev(FR_DEV, documents=[doc("d1", "retention_schedule", public=False)]),
        ["d1"],
        lambda: ev(FR_DEV, documents=[doc("d1", "retention_schedule")]),
    ),
    (
        "permission_before_consent",
        lambda: ev(
            permissions=[Permission("p1", T, "camera", "granted", True)],
            consents=[consent("k1", T + 10, "recording")],
        ),
        ["p1"],
        lambda: ev(
            permissions=[Permission("p1", T, "camera", "granted", True)],
            consents=[consent("k1", T - 10, "recording")],
        ),
    ),
    (
        "permission_without_purpose",
        lambda: ev(
            permissions=[
                Permission("p1", T, "location", "granted", False),
                Permission("p2", T, "camera", "granted", True),
            ]
        ),
        ["p1"],
        lambda: ev(permissions=[Permission("p1", T, "location", "granted", True)]),
    ),
    (
        "permission_granted_without_prompt",
        lambda: ev(permissions=[Permission("p1", T, "remote_view", "granted", prompted=False)]),
        ["p1"],
        lambda: ev(permissions=[Permission("p1", T, "remote_view", "granted", prompted=True)]),
    ),
    (
        "permission_reprompt_after_refusal",
        lambda: ev(
            permissions=[
                Permission("p1", T, "contacts", "denied"),
                Permission("p2", T + 5, "contacts", "denied"),
            ]
        ),
        ["p2"],
        lambda: ev(
            permissions=[
                Permission("p1", T, "contacts", "denied"),
                Permission("p2", T + 5, "camera", "granted"),
            ]
        ),
    ),
    (
        "bundled_consent",
        lambda: ev(
            consents=[
                consent("k1", T, "face.processing", bundled=True),
                consent("k2", T, "recording", bundled=True),
            ]
        ),
        ["k1"],
        lambda: ev(consents=[consent("k1", T, "face.processing", "separate")]),
    ),
    (
        "cloud_transfer_without_consent",
        lambda: ev(
            has_traffic=True,
            egress=[
                egress("e1", T, "api.x.com", "user.device.identifier"),
                egress("e2", T, "api.x.com", "user.device.identifier", allowed=False),
            ],
        ),
        ["e1"],
        lambda: ev(
            dev(
                data_flows=[
                    {
                        "data_categories": ["user.device.identifier"],
                        "destination": "x.com",
                        "consent_scope": "remote",
                    }
                ]
            ),
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", "user.device.identifier")],
            consents=[consent("k1", T - 1, "remote")],
        ),
    ),
    (
        "undisclosed_recipient",
        lambda: ev(
            dev(data_flows=[{"data_categories": ["user"], "destination": "acme.cn"}]),
            has_traffic=True,
            egress=[
                egress("e1", T, "api.acme.cn", "user.device.identifier"),
                egress("e2", T, "sdk.ads.com", "user.device.identifier"),
            ],
        ),
        ["e2"],
        lambda: ev(
            dev(data_flows=[{"data_categories": ["user"], "destination": "acme.cn"}]),
            has_traffic=True,
            egress=[egress("e1", T, "api.acme.cn", "user.device.identifier")],
        ),
    ),
    (
        "cross_border_without_separate_consent",
        lambda: ev(
            has_traffic=True,
            egress=[
                egress("e1", T, "api.x.com", "user.contact.phone", country="SG"),
                egress("e2", T, "api.x.cn", "user.contact.phone", country="CN"),
            ],
            consents=[consent("k1", T - 1, "cross_border")],
        ),
        ["e1"],
        lambda: ev(
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", "user.contact.phone", country="SG")],
            consents=[consent("k1", T - 1, "cross_border:api.x.com", "separate")],
        ),
    ),
    (
        "cross_border_without_mechanism_cn",
        lambda: ev(
            stores=[Store("s1", "r1", TPL, "cloud:US", T)],
            documents=[doc("d1", "scc"), doc("d2", "transfer_mechanism")],
        ),
        ["s1"],
        lambda: ev(
            stores=[Store("s1", "r1", TPL, "cloud:US", T)],
            documents=[doc("d1", "standard_contract")],
        ),
    ),
    (
        "xborder_assessment_missing",
        lambda: ev(
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", TPL, country="SG")],
            counts=[Count("n1", T, "cross_border_sensitive_subjects_ytd", 12_000)],
            documents=[doc("d1", "standard_contract")],
        ),
        ["e1"],
        lambda: ev(
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", TPL, country="SG")],
            counts=[Count("n1", T, "cross_border_sensitive_subjects_ytd", 9_999)],
        ),
    ),
    (
        "xborder_contract_missing",
        lambda: ev(
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", TPL, country="SG")],
            counts=[Count("n1", T, "cross_border_sensitive_subjects_ytd", 500)],
            documents=[doc("d1", "scc")],
        ),
        ["e1"],
        lambda: ev(
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", TPL, country="SG")],
            counts=[Count("n1", T, "cross_border_sensitive_subjects_ytd", 500)],
            documents=[doc("d1", "certification")],
        ),
    ),
    (
        "transfer_outside_eea_without_mechanism",
        lambda: ev(
            dev(markets=["EU"]),
            has_traffic=True,
            egress=[
                egress("e1", T, "api.x.com", "user.contact.email", country="US"),
                egress("e2", T, "api.x.jp", "user.contact.email", country="JP"),
            ],
        ),
        ["e1"],
        lambda: ev(
            dev(markets=["EU"]),
            has_traffic=True,
            egress=[egress("e1", T, "api.x.de", "user.contact.email", country="DE")],
        ),
    ),
    (
        "biometric_disclosed_without_consent",
        lambda: ev(
            has_traffic=True, egress=[egress("e1", T, "voice.x.com", "user.biometric.voice")]
        ),
        ["e1"],
        lambda: ev(
            has_traffic=True,
            egress=[egress("e1", T, "voice.x.com", "user.biometric.voice")],
            consents=[consent("k1", T - 1, "voice.cloud_transfer", "separate")],
        ),
    ),
    (
        "undeclared_data_collected",
        lambda: ev(
            dev(declared_data_categories=["user.device.identifier"]),
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", "user.location.precise")],
            stores=[Store("s1", "r1", "user.device.identifier")],
        ),
        ["e1"],
        lambda: ev(
            dev(declared_data_categories=["user.device.identifier", "user.location"]),
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", "user.location.precise")],
        ),
    ),
    (
        "retention_exceeded",
        lambda: ev(
            stores=[
                Store("s1", "r1", TPL, t_created=T - 60 * DAY, retention_days=30),
                Store("s2", "r2", TPL, t_created=T - 10 * DAY, retention_days=30),
            ]
        ),
        ["s1"],
        lambda: ev(
            stores=[
                Store(
                    "s1",
                    "r1",
                    TPL,
                    t_created=T - 60 * DAY,
                    t_deleted=T - 40 * DAY,
                    retention_days=30,
                )
            ]
        ),
    ),
    (
        "biometric_retention_over_3_years",
        lambda: ev(
            FR_DEV,
            stores=[Store("s1", "r1", TPL, t_created=T - 4 * 365 * DAY, subject_id="u1")],
            biometric_ops=[op("b1", T - 4 * 365 * DAY)],
        ),
        ["s1"],
        lambda: ev(
            FR_DEV,
            stores=[Store("s1", "r1", TPL, t_created=T - 4 * 365 * DAY, subject_id="u1")],
            biometric_ops=[op("b1", T - 365 * DAY, VERIFY)],
        ),
    ),
    (
        "template_kept_after_withdrawal",
        lambda: ev(
            FR_DEV,
            stores=[Store("s1", "r1", TPL, t_created=T - 90 * DAY, subject_id="u1")],
            consents=[consent("k1", T - 60 * DAY, "face.processing", action=W, subject="u1")],
        ),
        ["s1"],
        lambda: ev(
            FR_DEV,
            stores=[
                Store(
                    "s1", "r1", TPL, t_created=T - 90 * DAY, t_deleted=T - 55 * DAY, subject_id="u1"
                )
            ],
            consents=[consent("k1", T - 60 * DAY, "face.processing", action=W, subject="u1")],
        ),
    ),
    (
        "subject_request_overdue",
        lambda: ev(
            requests=[
                SubjectRequest("q1", "delete", T - 60 * DAY, T - 30 * DAY),
                SubjectRequest("q2", "access", T - 30 * DAY),
            ]
        ),
        ["q1", "q2"],
        lambda: ev(requests=[SubjectRequest("q1", "delete", T - 60 * DAY, T - 50 * DAY)]),
    ),
    (
        "access_control_missing",
        lambda: ev(dev(access_control={"remote_view_requires_auth": False, "user_roles": False})),
        ["profile:access_control.remote_view_requires_auth", "profile:access_control.user_roles"],
        lambda: ev(dev(access_control={"remote_view_requires_auth": True, "user_roles": True})),
    ),
    (
        "default_password",
        lambda: ev(dev(access_control={"default_password": True})),
        ["profile:access_control.default_password"],
        lambda: ev(dev(access_control={"default_password": False, "unique_credentials": True})),
    ),
    (
        "personal_data_unencrypted_in_transit",
        lambda: ev(
            has_traffic=True, egress=[egress("e1", T, "api.x.com", "user.contact.phone", tls=False)]
        ),
        ["e1"],
        lambda: ev(
            has_traffic=True, egress=[egress("e1", T, "api.x.com", "user.contact.phone", tls=True)]
        ),
    ),
    (
        "biometric_store_unencrypted",
        lambda: ev(FR_DEV, stores=[Store("s1", "r1", TPL, encrypted=False)]),
        ["s1"],
        lambda: ev(FR_DEV, stores=[Store("s1", "r1", TPL, encrypted=True)]),
    ),
    (
        "vuln_disclosure_policy_missing",
        lambda: ev(),
        ["profile:security.vuln_disclosure_url"],
        lambda: ev(dev(security={"vuln_disclosure_url": "https://x.com/security"})),
    ),
    (
        "support_period_missing",
        lambda: ev(),
        ["profile:security.support_period"],
        lambda: ev(documents=[doc("d1", "support_period")]),
    ),
    (
        "software_updates_unavailable",
        lambda: ev(dev(security={"software_updates": False})),
        ["profile:security.software_updates"],
        lambda: ev(dev(security={"software_updates": True})),
    ),
    (
        "renewal_without_opt_in",
        lambda: ev(
            billing=[Billing("x1", T, "s1", "subscribed"), Billing("x2", T + DAY, "s1", "renewal")]
        ),
        ["x2"],
        lambda: ev(
            billing=[Billing("x1", T, "s1", "opt_in"), Billing("x2", T + DAY, "s1", "renewal")]
        ),
    ),
    (
        "renewal_without_reminder",
        lambda: ev(
            dev(subscription={"offered": True, "auto_renew": True, "reminder_days_before": 5}),
            billing=[
                Billing("x1", T - 2 * DAY, "s1", "reminder_sent"),
                Billing("x2", T, "s1", "renewal"),
                Billing("x3", T + 30 * DAY, "s1", "renewal"),
            ],
        ),
        ["x2", "x3"],
        lambda: ev(
            dev(subscription={"offered": True, "auto_renew": True, "reminder_days_before": 5}),
            billing=[
                Billing("x1", T - 7 * DAY, "s1", "reminder_sent"),
                Billing("x2", T, "s1", "renewal"),
            ],
        ),
    ),
    (
        "no_cancel_option",
        lambda: ev(billing=[Billing("x1", T, "s1", "renewal")]),
        ["x1"],
        lambda: ev(
            billing=[
                Billing("x0", T - DAY, "s1", "cancel_option_shown"),
                Billing("x1", T, "s1", "renewal"),
            ]
        ),
    ),
    (
        "complaint_not_acted_on",
        lambda: ev(
            moderation=[
                Moderation("m1", T - 9 * DAY, "v1", "complaint", deadline=T - 8 * DAY),
                Moderation("m2", T - 6 * DAY, "v1", "taken_down"),
                Moderation("m3", T - 9 * DAY, "v2", "complaint"),
            ]
        ),
        ["m1", "m3"],
        lambda: ev(
            moderation=[
                Moderation("m1", T - 9 * DAY, "v1", "complaint"),
                Moderation("m2", T - 8 * DAY, "v1", "anonymized"),
            ]
        ),
    ),
    (
        "covert_recording_accepted",
        lambda: ev(
            moderation=[
                Moderation("m1", T, "v1", "uploaded", has_faces=True, bystander_count=2),
                Moderation("m2", T + 5, "v1", "accepted"),
            ]
        ),
        ["m2"],
        lambda: ev(
            moderation=[
                Moderation("m1", T, "v1", "uploaded", bystander_count=2, consent_refs=("k1", "k2")),
                Moderation("m2", T + 5, "v1", "accepted"),
            ]
        ),
    ),
    (
        "biometric_sale_or_profit",
        lambda: ev(
            dev(
                data_flows=[
                    {"data_categories": [TPL], "destination": "ads.x.com", "purpose": "advertising"}
                ]
            )
        ),
        ["profile:data_flows[0]"],
        lambda: ev(
            dev(
                data_flows=[
                    {
                        "data_categories": [TPL],
                        "destination": "api.x.com",
                        "purpose": "remote unlock",
                    }
                ]
            )
        ),
    ),
]


CASES += [
    (
        "face_recognition_without_separate_consent",
        lambda: ev(
            FR_DEV,
            biometric_ops=[
                op("b1", T, BiometricOpKind.IDENTIFY_1TON, subject=None),
                op("b2", T, EMOTION, subject="u2"),
            ],
            consents=[consent("k1", T - 5, "face.processing", "separate", subject="wearer")],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T, VERIFY), op("b2", T, EMOTION, subject="u2")],
            consents=[consent("k1", T - 5, "face.processing", "separate", subject="u1")],
        ),
    ),
    (
        "face_recognition_after_withdrawal",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T + 10, VERIFY)],
            consents=[
                consent("k1", T - 10, "face.processing", "separate", subject="u1"),
                consent("k2", T, "face.processing", action=W, subject="u1"),
            ],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T - 5, VERIFY), op("b2", T + 10, EMOTION)],
            consents=[
                consent("k1", T - 10, "face.processing", "separate", subject="u1"),
                consent("k2", T, "face.processing", action=W, subject="u1"),
            ],
        ),
    ),
    (
        "face_recognition_before_notice",
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T, BiometricOpKind.IDENTIFY_1TON, subject=None)],
            documents=[doc("d1", "biometric_notice", T - 10)],
        ),
        ["b1"],
        lambda: ev(
            FR_DEV,
            biometric_ops=[op("b1", T), op("b2", T, EMOTION, subject=None)],
            documents=[doc("d1", "biometric_notice", T - 10)],
        ),
    ),
    (
        "special_category_inference_without_explicit_consent",
        lambda: ev(
            dev(biometrics=["face"]),
            biometric_ops=[
                op(
                    "b1",
                    T,
                    BiometricOpKind.CATEGORIZE,
                    subject=None,
                    inferred_attributes=frozenset({"ethnicity"}),
                ),
                op("b2", T, BiometricOpKind.CATEGORIZE, inferred_attributes=frozenset({"age"})),
            ],
        ),
        ["b1"],
        lambda: ev(
            dev(biometrics=["face"]),
            biometric_ops=[
                op("b1", T, BiometricOpKind.CATEGORIZE, inferred_attributes=frozenset({"health"}))
            ],
            consents=[consent("k1", T - 5, "face.processing", "explicit", subject="u1")],
        ),
    ),
    (
        "face_data_used_for_evaluation",
        lambda: ev(
            dev(biometrics=["face"]),
            biometric_ops=[
                op("b1", T, EMOTION, purpose="attention scoring"),
                op("b2", T, EMOTION, zone=ZoneType.WORKPLACE),
                op("b3", T, EMOTION, zone=ZoneType.HOME),
            ],
        ),
        ["b1", "b2"],
        lambda: ev(
            dev(biometrics=["face"]),
            biometric_ops=[op("b1", T, EMOTION, zone=ZoneType.HOME, purpose="photo tagging")],
        ),
    ),
    (
        "processing_without_legal_basis",
        lambda: ev(
            dev(**CAM),
            captures=CAP,
            biometric_ops=[op("b1", T, BiometricOpKind.IDENTIFY_1TON, subject=None)],
            consents=[consent("k1", T + 5, "recording")],
        ),
        ["c1", "b1"],
        lambda: ev(
            dev(**CAM),
            captures=CAP,
            biometric_ops=[op("b1", T, VERIFY)],
            consents=[
                consent("k1", T - 5, "recording"),
                consent("k2", T - 5, "face.processing", subject="u1"),
            ],
        ),
    ),
    (
        "raw_face_image_kept",
        lambda: ev(
            FR_DEV,
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", "user.biometric.face.image")],
            stores=[Store("s1", "r1", "user.biometric.face.image", t_created=T - 9 * DAY)],
        ),
        ["e1", "s1"],
        lambda: ev(
            FR_DEV,
            has_traffic=True,
            egress=[egress("e1", T, "api.x.com", TPL)],
            stores=[
                Store(
                    "s1", "r1", "user.biometric.face.image", t_created=T, t_deleted=T + 2
                )
            ],
        ),
    ),
    (
        "sensors_on_by_default",
        lambda: ev(
            dev(device_type="kids-watch"),
            permissions=[
                Permission("p1", T, "location", "granted", prompted=False),
                Permission("p2", T, "contacts", "granted", prompted=False),
            ],
        ),
        ["p1"],
        lambda: ev(
            dev(device_type="kids-watch"),
            permissions=[Permission("p1", T, "location", "granted", True, prompted=True)],
        ),
    ),
    (
        "platform_kept_known_infringement",
        lambda: ev(
            moderation=[
                Moderation("m1", T, "v1", "uploaded", has_faces=True, bystander_count=3),
                Moderation("m2", T + 5, "v1", "featured"),
                Moderation("m3", T, "v2", "uploaded", bystander_count=1, reason="covert clip"),
                Moderation("m4", T + 5, "v2", "accepted"),
            ]
        ),
        ["m1", "m3"],
        lambda: ev(
            moderation=[
                Moderation("m1", T, "v1", "uploaded", has_faces=True, bystander_count=3),
                Moderation("m2", T + 5, "v1", "featured"),
                Moderation("m3", T + 9, "v1", "anonymized"),
            ]
        ),
    ),
    (
        "covert_capture_private_space",
        lambda: ev(
            dev(**CAM, indicator={"present": True, "covers": ["camera"]}),
            captures=[*CAP, Capture("c2", T + 200, T + 300, zone=ZoneType.TOILET, bystanders=0)],
            zones=[Zone("z1", T - 5, ZoneType.HOTEL_ROOM)],
            indicators=[Indicator("i1", T - 1, "on"), Indicator("i2", T + 10, "tampered")],
        ),
        ["c1"],
        lambda: ev(
            dev(**CAM, indicator={"present": True, "covers": ["camera"]}),
            captures=CAP,
            zones=[Zone("z1", T - 5, ZoneType.HOTEL_ROOM)],
            indicators=[Indicator("i1", T - 1, "on"), Indicator("i2", T + 101, "off")],
        ),
    ),
]


def test_every_check_has_a_case() -> None:
    assert sorted(c[0] for c in CASES) == sorted(CHECKS)


@pytest.mark.parametrize(
    ("check_id", "failing", "refs", "passing"), CASES, ids=[c[0] for c in CASES]
)
def test_check_fails_and_passes(
    check_id: str,
    failing: Callable[[], Evidence],
    refs: list[str],
    passing: Callable[[], Evidence],
) -> None:
    bad = run(check_id, failing())
    assert bad.status is Status.FAILED, bad.reason
    assert [h.ref for h in bad.hits] == refs
    assert bad.total == len(refs)
    assert all(h.message and "\n" not in h.message for h in bad.hits)
    good = run(check_id, passing())
    assert good.status is Status.PASSED, good.reason
    assert not good.hits


def test_hit_messages_name_the_evidence() -> None:
    out = run("face_data_leaves_device", CASES_BY_ID["face_data_leaves_device"][1]())
    assert out.hits[0].message == (
        "face template sent to api.x.com (SG) at 2025-07-01T00:00Z "
        "with no separate face.cloud_transfer consent"
    )


CASES_BY_ID = {c[0]: c for c in CASES}


def test_hits_are_capped_but_counted() -> None:
    caps = [Capture(f"c{i}", T + i, T + i + 0.5) for i in range(MAX_HITS + 25)]
    out = run("capture_before_consent", ev(dev(**CAM), captures=caps))
    assert out.status is Status.FAILED
    assert len(out.hits) == MAX_HITS
    assert out.total == MAX_HITS + 25
    assert out.reason.startswith(f"{MAX_HITS + 25} captures") and "(50 listed)" in out.reason


@pytest.mark.parametrize(
    ("check_id", "bundle", "status", "reason_part"),
    [
        ("capture_before_consent", lambda: ev(dev()), Status.NOT_APPLICABLE, "no camera"),
        ("capture_before_consent", lambda: ev(dev(**CAM)), Status.INSUFFICIENT, "no audit log"),
        (
            "capture_before_consent",
            lambda: ev(dev(**CAM), has_audit_log=True),
            Status.PASSED,
            "no capture",
        ),
        ("face_data_leaves_device", lambda: ev(FR_DEV), Status.INSUFFICIENT, "no traffic capture"),
        ("face_data_leaves_device", lambda: ev(dev()), Status.NOT_APPLICABLE, "no face data"),
        ("renewal_without_opt_in", lambda: ev(dev()), Status.NOT_APPLICABLE, "no subscription"),
        (
            "renewal_without_opt_in",
            lambda: ev(dev(subscription={"offered": True, "auto_renew": True})),
            Status.INSUFFICIENT,
            "no billing events",
        ),
        (
            "biometric_without_separate_consent",
            lambda: ev(dev()),
            Status.NOT_APPLICABLE,
            "no biometric",
        ),
        (
            "undeclared_data_collected",
            lambda: ev(dev(), has_traffic=True),
            Status.INSUFFICIENT,
            "declares no data categories",
        ),
        (
            "face_only_authentication",
            lambda: ev(FR_DEV),
            Status.INSUFFICIENT,
            "no authentication methods",
        ),
        (
            "processing_rules_incomplete_zh",
            lambda: ev(documents=[doc("d1", "privacy_policy", lang="zh")]),
            Status.INSUFFICIENT,
            "no fields",
        ),
        (
            "processing_rules_incomplete_zh",
            lambda: ev(documents=[doc("d1", "privacy_policy", fields=POLICY, lang="en")]),
            Status.NOT_APPLICABLE,
            "no processing rules in Chinese",
        ),
        (
            "cross_border_without_mechanism_cn",
            lambda: ev(stores=[Store("s1", "r1", "user.contact.email", "cloud:US", T)]),
            Status.INSUFFICIENT,
            "whether the export is exempt",
        ),
        (
            "cross_border_without_mechanism_cn",
            lambda: ev(
                stores=[Store("s1", "r1", "user.contact.email", "cloud:US", T)],
                counts=[Count("n1", T, "cross_border_subjects_ytd", 99_999)],
            ),
            Status.PASSED,
            "exempt",
        ),
        (
            "xborder_contract_missing",
            lambda: ev(
                has_traffic=True,
                egress=[egress("e1", T, "api.x.com", TPL, country="SG")],
                counts=[Count("n1", T, "cross_border_sensitive_subjects_ytd", 10_000)],
            ),
            Status.NOT_APPLICABLE,
            "security assessment is needed instead",
        ),
        (
            "face_recognition_without_separate_consent",
            lambda: ev(dev(biometrics=["face"]), biometric_ops=[op("b1", T, EMOTION)]),
            Status.NOT_APPLICABLE,
            "identity recognition",
        ),
        ("complaint_not_acted_on", lambda: ev(), Status.NOT_APPLICABLE, "no platform"),
    ],
)
def test_not_applicable_and_insufficient(
    check_id: str, bundle: Callable[[], Evidence], status: Status, reason_part: str
) -> None:
    out = run(check_id, bundle())
    assert out.status is status
    assert reason_part in out.reason
    assert not out.hits


def test_consent_withdrawal_ends_recording_consent() -> None:
    e = ev(
        dev(**CAM),
        captures=[Capture("c1", T, T + 1), Capture("c2", T + 20, T + 21)],
        consents=[consent("k1", T - 1, "recording"), consent("k2", T + 10, "recording", action=W)],
    )
    assert [h.ref for h in run("capture_before_consent", e).hits] == ["c2"]


def test_filing_not_yet_due_passes() -> None:
    e = ev(FR_DEV, counts=[Count("n1", T, "distinct_face_subjects", 100_000)])
    assert run("face_filing_missing", e, date(2025, 7, 20)).status is Status.PASSED
    assert run("face_filing_missing", e, date(2025, 9, 1)).status is Status.FAILED


def test_bulk_enrolment_of_strangers_is_scraping() -> None:
    ops = [op(f"b{i}", T + i, subject=f"p{i}") for i in range(60)]
    out = run("untargeted_face_scraping", ev(FR_DEV, biometric_ops=ops))
    assert out.status is Status.FAILED and out.total == 60


def test_every_check_has_metadata() -> None:
    for cid, chk in CHECKS.items():
        assert chk.id == cid and chk.title and chk.description
        assert set(chk.reads) <= {
            "captures",
            "indicators",
            "notices",
            "consents",
            "biometric_ops",
            "egress",
            "stores",
            "zones",
            "documents",
            "permissions",
            "requests",
            "moderation",
            "billing",
            "counts",
            "subjects",
        }


def test_indicator_checks_follow_the_captured_sensor() -> None:
    mic = Capture("c1", T, T + 10, Sensor.MICROPHONE)
    e = ev(
        dev(sensors=["camera", "microphone"]),
        captures=[mic],
        indicators=[Indicator("i1", T - 1, "on", Sensor.CAMERA)],
    )
    out = run("capture_without_indicator", e)
    assert [h.ref for h in out.hits] == ["c1"]
    e = ev(
        dev(sensors=["microphone"]),
        captures=[mic],
        indicators=[Indicator("i1", T - 1, "on", Sensor.MICROPHONE)],
    )
    assert run("capture_without_indicator", e).status is Status.PASSED


# -- issue 19: whose consent counts, and the guard rules ---------------------------------------


HOTEL = [Zone("z1", T - 5, ZoneType.HOTEL_ROOM)]
LIT = [Indicator("i1", T - 1, "on"), Indicator("i2", T + 101, "off")]


def test_the_wearers_consent_does_not_open_a_private_space() -> None:
    wearer = consent("k1", T - 9, "recording", "separate", subject="w1", record_id="r1")
    cap = [Capture("c1", T, T + 100, consent_ids=("r1",))]
    out = run("private_space_capture", ev(dev(**CAM), captures=cap, zones=HOTEL, consents=[wearer]))
    assert [h.ref for h in out.hits] == ["c1"] and "device user's own" in out.hits[0].message
    guest = consent("k2", T - 5, "recording", "separate", subject="g1", subject_role="bystander")
    e = ev(dev(**CAM), captures=cap, zones=HOTEL, consents=[wearer, guest])
    assert run("private_space_capture", e).status is Status.PASSED
    alone = [Capture("c1", T, T + 100, consent_ids=("r1",), bystanders=0)]
    e = ev(dev(**CAM), captures=alone, zones=HOTEL, consents=[wearer])
    assert run("private_space_capture", e).status is Status.PASSED


def test_covert_needs_no_lit_indicator_people_could_see() -> None:
    e = ev(dev(**CAM, indicator={"present": True}), captures=CAP, zones=HOTEL, indicators=LIT)
    assert run("covert_capture_private_space", e).status is Status.PASSED
    unlit = ev(dev(**CAM, indicator={"present": True}), captures=CAP, zones=HOTEL)
    assert "never lit" in run("covert_capture_private_space", unlit).hits[0].message
    hidden = dev(**CAM, indicator={"present": True, "visible_to_bystanders": False})
    e = ev(hidden, captures=CAP, zones=HOTEL, indicators=LIT)
    assert "not visible" in run("covert_capture_private_space", e).hits[0].message


def test_a_child_named_by_age_needs_a_guardian_on_any_device() -> None:
    from bystander.inspect.records import Subject

    ops = [op("b1", T, subject="kid")]
    own = consent("k1", T - 5, "face.processing", "separate", subject="kid")
    e = ev(FR_DEV, biometric_ops=ops, consents=[own], subjects=[Subject("s1", "kid", age=9)])
    out = run("child_without_guardian_consent", e)
    assert [h.ref for h in out.hits] == ["k1", "b1"]
    adult = ev(FR_DEV, biometric_ops=ops, consents=[own], subjects=[Subject("s1", "kid", age=19)])
    assert run("child_without_guardian_consent", adult).status is Status.NOT_APPLICABLE


def test_indicator_lead_comes_from_the_capture_or_the_profile() -> None:
    on = [Indicator("i1", T - 0.05, "on"), Indicator("i2", T + 101, "off")]
    late = ev(dev(**CAM), captures=[Capture("c1", T, T + 100, t_lead_ms=200)], indicators=on)
    out = run("capture_without_indicator", late)
    assert [h.ref for h in out.hits] == ["c1"] and "150.000 ms short" in out.hits[0].message
    by_profile = dev(**CAM, indicator={"present": True, "t_lead_ms": 200})
    assert run("capture_without_indicator", ev(by_profile, captures=CAP, indicators=on)).total == 1
    assert run("capture_without_indicator", ev(dev(**CAM), captures=CAP, indicators=on)).total == 0


def test_a_stop_long_after_a_tamper_is_r4() -> None:
    tamper = [Indicator("i1", T - 1, "on"), Indicator("i2", T + 50, "tampered")]
    e = ev(dev(**CAM), captures=CAP, indicators=tamper)
    assert "stopped 50000.000 ms after the fault" in run(
        "indicator_tampered_during_capture", e
    ).hits[0].message
    # a device log cannot tell the last sample from the stop: a frame up to the stop counts
    quick = ev(dev(**CAM), captures=[Capture("c1", T, T + 50.05)], indicators=tamper)
    message = run("indicator_tampered_during_capture", quick).hits[0].message
    assert "stopped 50.000 ms after the fault" in message and "after the fault" in message
    at_once = ev(dev(**CAM), captures=[Capture("c1", T, T + 50)], indicators=tamper)
    assert run("indicator_tampered_during_capture", at_once).status is Status.PASSED
