# ruff: noqa: RUF001  (full-width Chinese punctuation in the sample documents)
"""Build evidence bundles in tests: ``BundleBuilder(tmp_path).profile(...).records([...]).write()``.

Scenario helpers (``SCENARIOS``) build the MIIT October 2025 findings, the smart-glasses
cases and the face-recognition door lock on top of a compliant baseline::

    path = scenario("miit_cloud_without_consent", tmp_path)
    evidence = load_bundle(path)

Times: ``at(minutes)`` is an ISO 8601 time ``minutes`` after 2026-03-01T08:00:00Z (``T0``).
"""

from __future__ import annotations

import base64
import csv
import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import yaml

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
#: The start of a tiny JPEG (SOI + JFIF APP0): enough for magic-byte sniffing.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def at(minutes: float) -> str:
    """ISO 8601 UTC time ``minutes`` after ``T0``."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def epoch(minutes: float) -> float:
    return (T0 + timedelta(minutes=minutes)).timestamp()


def embedding(n: int = 512, seed: int = 1) -> list[float]:
    """A unit-norm float vector shaped like a face embedding."""
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(n)]
    norm = math.sqrt(sum(v * v for v in raw))
    return [round(v / norm, 6) for v in raw]


# -- HAR entries ------------------------------------------------------------------------------


def har_entry(
    url: str,
    *,
    minutes: float = 0.0,
    method: str | None = None,
    json_body: Any = None,
    body: bytes | None = None,
    content_type: str | None = None,
    form: Mapping[str, str] | None = None,
    multipart: Mapping[str, tuple[str, bytes, str]] | None = None,
    server_ip: str | None = None,
) -> dict[str, Any]:
    """One HAR 1.2 entry. ``multipart`` maps part name -> (filename, data, content type);
    binary bodies are stored base64 (``postData.encoding``), as mitmproxy can."""
    post: dict[str, Any] | None = None
    if json_body is not None:
        post = {"mimeType": "application/json", "text": json.dumps(json_body, ensure_ascii=False)}
    elif form is not None:
        text = "&".join(f"{k}={v}" for k, v in form.items())
        post = {"mimeType": "application/x-www-form-urlencoded", "text": text}
    elif multipart is not None:
        boundary = "----bystanderTestBoundary7MA4YWxk"
        chunks = []
        for name, (filename, data, ctype) in multipart.items():
            disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
            head = f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n"
            chunks.append(head.encode() + data + b"\r\n")
        raw = b"".join(chunks) + f"--{boundary}--\r\n".encode()
        post = {
            "mimeType": f"multipart/form-data; boundary={boundary}",
            "text": base64.b64encode(raw).decode(),
            "encoding": "base64",
        }
    elif body is not None:
        post = {
            "mimeType": content_type or "application/octet-stream",
            "text": base64.b64encode(body).decode(),
            "encoding": "base64",
        }
    request: dict[str, Any] = {
        "method": method or ("POST" if post else "GET"),
        "url": url,
        "httpVersion": "HTTP/1.1",
        "headers": [],
        "queryString": [],
        "cookies": [],
        "headersSize": 200,
        "bodySize": -1,
    }
    if post is not None:
        request["postData"] = post
    entry: dict[str, Any] = {
        "startedDateTime": at(minutes),
        "time": 50,
        "request": request,
        "response": {
            "status": 200,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "cookies": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"send": 1, "wait": 40, "receive": 9},
    }
    if server_ip:
        entry["serverIPAddress"] = server_ip
    return entry


# -- documents --------------------------------------------------------------------------------

POLICY_EN = """\
# Privacy Policy

Lumen Optics Ltd ("we") is the personal information processor for this device.

Contact us at privacy@lumen-optics.example or call +86 21 5555 0100.

We collect the photos, video and audio you record, and your e-mail address.

We use your recordings only to store them on the device and to show them in the app.

Recordings are deleted after 30 days; account data within 15 days of closing the account.

## Face and biometric information

The device does not recognise faces; no face data leaves the device.

You have the right to access, copy, correct and delete your data and to withdraw consent.

To exercise these rights, use Settings > Privacy or email privacy@lumen-optics.example.

The device is not for children under 14; a parent or guardian may ask us to delete a child's data.

We do not transfer personal information outside mainland China.
"""

POLICY_ZH = """\
# 个人信息处理规则

镜界光学有限公司（“我们”）是本设备的个人信息处理者。

联系方式：邮箱 privacy@lumen-optics.example，客服电话 400-555-0100。

我们收集您拍摄的照片、视频和音频以及您的手机号。

我们处理上述信息的目的是在设备上保存您的录制内容。

录制内容保存30天后自动删除；注销账号后15个工作日内删除账号信息。

## 人脸信息处理规则

设备不进行人脸识别，人脸信息不会离开设备。

您有权查阅、复制、更正、删除您的个人信息，并可撤回同意。

您可以在App“设置-隐私”中行使上述权利，我们将在十五个工作日内答复。

本产品不面向不满十四周岁的儿童。

我们不会向境外提供您的个人信息。
"""

VAGUE_EN = """\
# Privacy

We respect your privacy and take it seriously.
We may collect some information to improve our services.
We keep data as long as necessary.
For questions, reach out through the app.
"""

PIA_EN = """\
# Impact assessment

## Purpose, legality and necessity
Face verification unlocks the door for enrolled residents only.

## Impact on individuals' rights
Residents who do not enrol are not affected.

## Risks of leak, tampering and loss
A stolen template could be replayed.

## Protection measures
Templates are encrypted on the lock and never leave it.
"""

BASE_PROFILE: dict[str, Any] = {
    "device_id": "dev-0001",
    "device_type": "smart-glasses",
    "vendor": "Lumen Optics Ltd",
    "markets": ["CN"],
    "processor": {"name": "Lumen Optics Ltd", "contact": "privacy@lumen-optics.example"},
    "sensors": ["camera"],
    "indicator": {
        "present": True,
        "kind": "led",
        "covers": ["camera"],
        "hardwired": True,
        "visible_to_bystanders": True,
        "tamper_detection": True,
    },
    "access_control": {
        "remote_view_requires_auth": True,
        "default_password": False,
        "unique_credentials": True,
        "encryption_in_transit": True,
    },
    "security": {
        "vuln_disclosure_url": "https://lumen-optics.example/security",
        "support_period": "until 2031-12-31",
        "software_updates": True,
    },
    "declared_data_categories": ["user.sensor.camera"],
}


class BundleBuilder:
    """Writes a bundle folder (manifest, profile, logs, HAR, documents, billing, audit)."""

    def __init__(self, root: Path, name: str = "bundle") -> None:
        self.dir = root / name
        self._profile: dict[str, Any] = json.loads(json.dumps(BASE_PROFILE))
        self._files: dict[str, bytes] = {}
        self._manifest: dict[str, Any] = {
            "format": "bystander.evidence-bundle",
            "version": 1,
            "profile": "profile.yaml",
        }
        self._records: list[dict[str, Any]] = []
        self._har: list[dict[str, Any]] = []
        self._docs: list[dict[str, Any]] = []
        self._billing: list[dict[str, Any]] = []
        self._billing_csv = False

    # profile

    def profile(self, **fields: Any) -> Self:
        """Set profile fields (replacing those of the baseline)."""
        self._profile.update(fields)
        return self

    def without_profile_fields(self, *names: str) -> Self:
        for name in names:
            self._profile.pop(name, None)
        return self

    # evidence

    def records(self, records: Iterable[Mapping[str, Any]]) -> Self:
        """Append device-log records (``{"type": ..., fields}``) to ``logs/device.jsonl``."""
        self._records.extend(dict(r) for r in records)
        return self

    def har(self, entries: Iterable[Mapping[str, Any]]) -> Self:
        """Append HAR entries (see ``har_entry``) to ``traffic/traffic.har``."""
        self._har.extend(dict(e) for e in entries)
        return self

    def document(
        self,
        path: str,
        text: str,
        doc_type: str = "privacy_policy",
        *,
        lang: str | None = None,
        date: str | None = None,
        public: bool = True,
    ) -> Self:
        self._files[path] = text.encode("utf-8")
        entry: dict[str, Any] = {"path": path, "type": doc_type, "public": public}
        if lang:
            entry["lang"] = lang
        if date:
            entry["date"] = date
        self._docs.append(entry)
        return self

    def complete_policies(self, date: str = "2026-01-15") -> Self:
        """The complete zh and en processing rules."""
        self.document("docs/privacy-zh.md", POLICY_ZH, "processing_rules", lang="zh", date=date)
        return self.document(
            "docs/privacy-en.md", POLICY_EN, "privacy_policy", lang="en", date=date
        )

    def billing(self, events: Iterable[Mapping[str, Any]], *, csv_format: bool = False) -> Self:
        self._billing.extend(dict(e) for e in events)
        self._billing_csv = csv_format
        return self

    def audit_from(self, log: Any, name: str = "audit/export.jsonl") -> Self:
        """Export an ``AuditLog`` (or its engine) into the bundle now."""
        from bystander.evidence.audit import AuditLog, export_bundle

        target = self.dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        engine = log.engine if isinstance(log, AuditLog) else log
        report = export_bundle(engine, target, overwrite=True)
        assert report.ok, report.headline()
        self._manifest.setdefault("audit", []).append(name)
        return self

    def hosts(self, mapping: Mapping[str, str]) -> Self:
        self._manifest.setdefault("hosts", {}).update(mapping)
        return self

    def file(self, path: str, data: bytes | str) -> Self:
        """Write an extra raw file (for malformed-input tests)."""
        self._files[path] = data.encode("utf-8") if isinstance(data, str) else data
        return self

    def manifest(self, **fields: Any) -> Self:
        """Override manifest fields (``None`` removes one)."""
        for key, value in fields.items():
            if value is None:
                self._manifest.pop(key, None)
            else:
                self._manifest[key] = value
        return self

    def write(self) -> Path:
        """Write everything; returns the bundle folder."""
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest = dict(self._manifest)
        self._put("profile.yaml", yaml.safe_dump(self._profile, allow_unicode=True).encode())
        if self._records:
            lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self._records)
            self._put("logs/device.jsonl", lines.encode("utf-8"))
            manifest.setdefault("records", ["logs/device.jsonl"])
        if self._har:
            har = {
                "log": {
                    "version": "1.2",
                    "creator": {"name": "bystander-tests"},
                    "entries": self._har,
                }
            }
            self._put("traffic/traffic.har", json.dumps(har).encode())
            manifest.setdefault("traffic", ["traffic/traffic.har"])
        if self._billing:
            name = "billing.csv" if self._billing_csv else "billing.json"
            self._put(name, _billing_bytes(self._billing, self._billing_csv))
            manifest.setdefault("billing", [name])
        if self._docs:
            manifest.setdefault("documents", self._docs)
        for path, data in self._files.items():
            self._put(path, data)
        self._put("manifest.yaml", yaml.safe_dump(manifest, allow_unicode=True).encode())
        return self.dir

    def _put(self, rel: str, data: bytes) -> None:
        target = self.dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _billing_bytes(events: Sequence[Mapping[str, Any]], as_csv: bool) -> bytes:
    if not as_csv:
        return json.dumps({"events": list(events)}).encode()
    import io

    out = io.StringIO()
    writer = csv.DictWriter(
        out, ["subscription_id", "event", "t", "amount", "currency", "auto_renew"]
    )
    writer.writeheader()
    for e in events:
        writer.writerow(dict(e))
    return out.getvalue().encode()


# -- scenarios ----------------------------------------------------------------------------------


def consent(
    minutes: float, scopes: Sequence[str], kind: str = "separate", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "consent",
        "t": at(minutes),
        "action": "granted",
        "scopes": list(scopes),
        "kind": kind,
        "subject_id": "user-1",
        **extra,
    }


def recording(
    minutes: float,
    length: float = 2.0,
    *,
    indicator: bool = True,
    zone: str | None = None,
    session: str = "s1",
) -> list[dict[str, Any]]:
    """Indicator on (optionally), a camera capture, indicator off."""
    out: list[dict[str, Any]] = []
    if indicator:
        out.append(
            {"type": "indicator", "t": at(minutes - 0.01), "state": "on", "session_id": session}
        )
    cap: dict[str, Any] = {
        "type": "capture",
        "t_start": at(minutes),
        "t_end": at(minutes + length),
        "session_id": session,
    }
    if zone:
        cap["zone"] = zone
        out.insert(0, {"type": "zone", "t": at(minutes - 0.5), "zone_type": zone})
    out.append(cap)
    if indicator:
        out.append(
            {
                "type": "indicator",
                "t": at(minutes + length + 0.01),
                "state": "off",
                "session_id": session,
            }
        )
    return out


FACE_NOTICE_EN = """\
# Face information notice

This separate notice covers face recognition on the device. Lumen Optics Ltd ("we") is the
processor; contact privacy@lumen-optics.example. We create a face template only after your
separate consent, keep it encrypted on the device, never send it over the Internet, and delete
it within 24 hours of your withdrawal. You can use a PIN instead of your face.
"""


def compliant(b: BundleBuilder) -> BundleBuilder:
    """Smart glasses: complete rules, PIA, consent, indicator on, no personal egress."""
    return (
        b.complete_policies()
        .document("docs/pia.md", PIA_EN, "pia", lang="en", date="2026-01-10", public=False)
        .records([consent(1, ["recording"]), *recording(10)])
        .har([har_entry("https://ota.lumen-optics.cn/v1/firmware?model=G1", minutes=5)])
    )


def home_camera(b: BundleBuilder) -> BundleBuilder:
    """The compliant baseline as a home camera."""
    return compliant(b).profile(device_type="home-camera")


def face_device(
    b: BundleBuilder, device_type: str, methods: Sequence[str] = ("face", "pin")
) -> BundleBuilder:
    """A compliant face-recognition device: separate notice and consent before enrolment,
    templates kept on the device, a PIN as the alternative, a PIA dated before any use."""
    return (
        compliant(b)
        .profile(
            device_type=device_type,
            face_recognition=True,
            biometrics=["face"],
            authentication={"methods": list(methods)},
            declared_data_categories=["user.sensor.camera", "user.biometric.face.template"],
        )
        .document(
            "docs/face-notice.md", FACE_NOTICE_EN, "biometric_notice", lang="en", date="2026-01-15"
        )
        .records(
            [
                {
                    "type": "notice",
                    "t": at(1.5),
                    "notice_id": "face",
                    "biometric": True,
                    "subject_id": "user-1",
                },
                consent(2, ["face.processing"], kind="separate"),
                {
                    "type": "biometric_op",
                    "t": at(3),
                    "op": "template_create",
                    "subject_id": "user-1",
                },
            ]
        )
    )


def miit_no_processing_rules(b: BundleBuilder) -> BundleBuilder:
    """A home camera that ships without any processing rules or privacy notice."""
    return (
        b.profile(device_type="home-camera")
        .document("docs/pia.md", PIA_EN, "pia", lang="en", date="2026-01-10", public=False)
        .records([consent(1, ["recording"]), *recording(10)])
        .har([har_entry("https://ota.lumen-optics.cn/v1/firmware?model=G1", minutes=5)])
    )


def miit_no_access_control(b: BundleBuilder) -> BundleBuilder:
    """A home camera whose remote view needs no login and ships one default password."""
    return home_camera(b).profile(
        device_type="home-camera",
        access_control={
            "remote_view_requires_auth": False,
            "default_password": True,
            "unique_credentials": False,
            "user_roles": False,
        },
    )


def miit_biometric_without_notice(b: BundleBuilder) -> BundleBuilder:
    """A face-recognition camera that enrols faces with no biometric notice at all."""
    built = face_device(b, "home-camera")
    built._docs = [d for d in built._docs if d["type"] != "biometric_notice"]
    built._records = [r for r in built._records if r.get("type") != "notice"]
    return built


def miit_cloud_without_consent(b: BundleBuilder) -> BundleBuilder:
    """A face-recognition camera uploading face snapshots to its cloud with no consent."""
    return (
        face_device(b, "home-camera")
        .profile(
            data_flows=[
                {
                    "data_categories": ["user.biometric.face.image"],
                    "destination": "api.homecam-cloud.cn",
                    "country": "CN",
                    "purpose": "cloud face search",
                    "consent_scope": "face.cloud_transfer",
                }
            ],
            declared_data_categories=[
                "user.sensor.camera",
                "user.biometric.face.template",
                "user.biometric.face.image",
            ],
        )
        .har(
            [
                har_entry(
                    "https://api.homecam-cloud.cn/v2/face/upload",
                    minutes=4,
                    multipart={"face": ("face.jpg", JPEG, "image/jpeg")},
                )
            ]
        )
    )


def miit_over_collection(b: BundleBuilder) -> BundleBuilder:
    """A camera that also sends precise location, phone number and IMEI it never declared."""
    return home_camera(b).har(
        [
            har_entry(
                "https://track.lumen-optics.cn/report",
                minutes=12,
                json_body={
                    "imei": "356938035643809",
                    "phone": "13812345678",
                    "lat": 31.230416,
                    "lng": 121.473701,
                    "battery": 80,
                },
            )
        ]
    )


def miit_auto_renewal(b: BundleBuilder) -> BundleBuilder:
    """A cloud-storage plan renewed automatically with no opt-in and no reminder."""
    return (
        compliant(b)
        .profile(device_type="home-camera", subscription={"offered": True, "auto_renew": True})
        .billing(
            [
                {
                    "subscription_id": "sub-1",
                    "event": "subscribed",
                    "t": at(0),
                    "amount": 9.9,
                    "currency": "CNY",
                    "auto_renew": True,
                },
                {
                    "subscription_id": "sub-1",
                    "event": "renewal",
                    "t": at(60 * 24 * 30),
                    "amount": 9.9,
                    "currency": "CNY",
                    "auto_renew": True,
                },
            ]
        )
    )


def _glasses(b: BundleBuilder, records: list[dict[str, Any]]) -> BundleBuilder:
    return (
        b.complete_policies()
        .document("docs/pia.md", PIA_EN, "pia", lang="en", date="2026-01-10", public=False)
        .records(records)
    )


def glasses_indicator_off(b: BundleBuilder) -> BundleBuilder:
    """Recording with the indicator off."""
    return _glasses(b, [consent(1, ["recording"]), *recording(10, indicator=False)])


def glasses_before_consent(b: BundleBuilder) -> BundleBuilder:
    """Recording that starts before the wearer consents."""
    return _glasses(b, [*recording(10), consent(20, ["recording"])])


def glasses_hotel_fr(b: BundleBuilder) -> BundleBuilder:
    """Face recognition while recording in a hotel room."""
    return face_device(b, "smart-glasses").records(
        [
            *recording(10, zone="hotel_room", session="s2"),
            {"type": "biometric_op", "t": at(10.5), "op": "identify_1toN", "zone": "hotel_room"},
        ]
    )


def door_lock_face_only(b: BundleBuilder) -> BundleBuilder:
    """A face-only door lock, no PIA, templates sent to a cloud in Singapore."""
    built = (
        face_device(b, "door-lock", methods=["face"])
        .profile(
            data_flows=[
                {
                    "data_categories": ["user.biometric.face.template"],
                    "destination": "api.lockcloud.sg",
                    "country": "SG",
                    "purpose": "remote unlock",
                    "consent_scope": "face.cloud_transfer",
                }
            ]
        )
        .har(
            [
                har_entry(
                    "https://api.lockcloud.sg/v1/enroll",
                    minutes=3.5,
                    json_body={"user": "resident-1", "face_template": embedding(512)},
                )
            ]
        )
    )
    built._docs = [d for d in built._docs if d["type"] != "pia"]
    return built


SCENARIOS: dict[str, Callable[[BundleBuilder], BundleBuilder]] = {
    "compliant": compliant,
    "miit_no_processing_rules": miit_no_processing_rules,
    "miit_no_access_control": miit_no_access_control,
    "miit_biometric_without_notice": miit_biometric_without_notice,
    "miit_cloud_without_consent": miit_cloud_without_consent,
    "miit_over_collection": miit_over_collection,
    "miit_auto_renewal": miit_auto_renewal,
    "glasses_indicator_off": glasses_indicator_off,
    "glasses_before_consent": glasses_before_consent,
    "glasses_hotel_fr": glasses_hotel_fr,
    "door_lock_face_only": door_lock_face_only,
}


def scenario(name: str, root: Path) -> Path:
    """Write the named scenario bundle under ``root``; returns its folder."""
    return SCENARIOS[name](BundleBuilder(root, name)).write()
