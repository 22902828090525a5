# ruff: noqa: RUF001  (full-width Chinese punctuation in sample documents)
"""Evidence bundles: the manifest, every importer on real inputs, and every malformed input."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.evidence.events import AuditEvent, EventType
from bystander.guard.session import CaptureRefused
from bystander.guard.zones import LocationType
from bystander.inspect.bundle import BundleError, load_bundle
from bystander.inspect.importers.device_log import RECORD_TYPES
from bystander.inspect.records import (
    BiometricOpKind,
    ConsentAction,
    ConsentKindName,
    Sensor,
    ZoneType,
)
from tests.bundles import (
    JPEG,
    POLICY_EN,
    SCENARIOS,
    BundleBuilder,
    at,
    consent,
    epoch,
    har_entry,
    recording,
    scenario,
)
from tests.guard_rig import Rig

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "glasses-compliant"


# -- the example and the scenarios -----------------------------------------------------------


def test_example_bundle_loads_with_every_notice_field() -> None:
    ev = load_bundle(EXAMPLE)
    assert ev.device.device_id == "lumen-g1-0001"
    assert [c.ref for c in ev.captures] == ["log:logs/device.jsonl:5"]
    assert [i.state for i in ev.indicators] == ["on", "off"]
    assert ev.consents[0].kind is ConsentKindName.SEPARATE
    assert ev.has_traffic and not ev.has_audit_log
    (request,) = ev.egress
    assert request.host == "ota.lumen-optics.example" and request.country == "CN"
    assert request.data_categories == frozenset() and request.tls is True
    policies = {d.lang: d for d in ev.documents_of("privacy_policy", "processing_rules")}
    assert set(policies) == {"zh", "en"}
    for doc in policies.values():
        assert {f.name for f in doc.fields} == {
            "processor", "contact", "purposes", "data_categories", "retention", "rights",
            "exercise_rights", "biometric", "children", "cross_border", "algorithm",
        }  # fmt: skip
        assert doc.biometric_section and doc.t is not None
    (pia,) = ev.documents_of("pia")
    assert {"purposes", "impact", "risks", "measures"} <= {f.name for f in pia.fields}
    assert not pia.public
    assert ev.sources[:2] == ["manifest.yaml", "profile.yaml"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_bundle_loads(name: str, tmp_path: Path) -> None:
    ev = load_bundle(scenario(name, tmp_path))
    assert ev.device.device_id == "dev-0001"
    assert ev.record_count() + len(ev.documents) > 0


def test_scenarios_carry_what_they_claim(tmp_path: Path) -> None:
    cloud = load_bundle(scenario("miit_cloud_without_consent", tmp_path))
    assert cloud.egress[0].data_categories == {"user.biometric.face.image"}
    assert not any("face.cloud_transfer" in c.scopes for c in cloud.consents)
    lock = load_bundle(scenario("door_lock_face_only", tmp_path))
    assert lock.egress[0].country == "SG"
    assert lock.egress[0].data_categories == {"user.biometric.face.template"}
    assert lock.device.authentication.methods == ["face"] and not lock.documents_of("pia")
    hotel = load_bundle(scenario("glasses_hotel_fr", tmp_path))
    assert hotel.zones[0].zone_type is ZoneType.HOTEL_ROOM
    assert hotel.biometric_ops[-1].op is BiometricOpKind.IDENTIFY_1TON
    renew = load_bundle(scenario("miit_auto_renewal", tmp_path))
    assert [b.event for b in renew.billing] == ["subscribed", "renewal"]
    late = load_bundle(scenario("glasses_before_consent", tmp_path))
    assert late.captures[0].t_start is not None and late.consents[0].t is not None
    assert late.captures[0].t_start < late.consents[0].t


# -- device logs --------------------------------------------------------------------------------


def test_device_log_reads_every_record_type(tmp_path: Path) -> None:
    t = "2026-03-01T08:00:00Z"
    rows: list[dict[str, Any]] = [
        {"type": "capture", "t_start": t, "t_end": epoch(1), "sensor": "microphone",
         "mode": "stream"},
        {"type": "indicator", "t": t, "state": "tampered"},
        {"type": "notice", "t": t, "notice_id": "n1", "fields": ["processor"], "biometric": True},
        {"type": "consent", "t": t, "action": "withdrawn", "scopes": "face.processing",
         "kind": "guardian", "granted_by": "guardian"},
        {"type": "biometric_op", "t": t, "op": "categorize", "inferred_attributes": ["age"]},
        {"type": "egress", "t": t, "host": "api.x.cn", "data_categories": ["user.sensor.camera"],
         "bytes_sent": 10, "tls": False},
        {"type": "store", "record_id": "r1", "data_category": "user.biometric.face.template",
         "t_created": t, "retention_days": 30, "location": "cloud:SG"},
        {"type": "zone", "t": t, "zone_type": "toilet"},
        {"type": "permission", "t": t, "permission": "camera", "result": "not_asked",
         "prompted": False},
        {"type": "request", "kind": "delete", "t_received": t, "t_completed": None},
        {"type": "moderation", "t": t, "content_id": "c1", "action": "taken_down",
         "bystander_count": 3, "deadline": "2026-03-02T08:00:00+08:00"},
        {"type": "upload", "t": t, "content_id": "c2", "action": "uploaded", "has_faces": True},
        {"type": "billing", "t": t, "subscription_id": "s1", "event": "renewal", "amount": 9},
        {"type": "count", "t": t, "metric": "distinct_face_subjects", "value": 120000},
        {"type": "subject", "subject_id": "kid-1", "age": 9, "role": "resident"},
    ]  # fmt: skip
    ev = load_bundle(BundleBuilder(tmp_path).records(rows).write())
    assert ev.record_count() == len(rows)
    assert {attr for _, attr in RECORD_TYPES.values()} <= {
        name for name in vars(ev) if isinstance(getattr(ev, name), list) and getattr(ev, name)
    }
    assert ev.captures[0].sensor is Sensor.MICROPHONE and ev.captures[0].t_end == epoch(1)
    assert ev.captures[0].t_start == epoch(0)
    assert ev.consents[0].action is ConsentAction.WITHDRAWN
    assert ev.consents[0].scopes == {"face.processing"}
    assert ev.stores[0].retention_days == 30.0
    assert ev.moderation[0].deadline == epoch(24 * 60 - 8 * 60)
    assert ev.requests[0].t_completed is None
    assert ev.indicators[0].ref == "log:logs/device.jsonl:2"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"type": "selfie", "t": 1}', "line 2: unknown record type 'selfie'"),
        ('{"type": "zone", "t": 1, "zone_type": "beach"}', "'beach' is not one of"),
        ('{"type": "zone", "t": 1, "zone_type": "home", "colour": 1}', "no field 'colour'"),
        ('{"type": "zone", "t": "yesterday", "zone_type": "home"}', "'yesterday' is neither"),
        ('{"type": "egress", "t": 1}', "egress record lacks host"),
        ('{"type": "egress", "t": 1, "host": "a", "tls": "yes"}', "field 'tls': expected true"),
        ('{"type": "zone", "t": 1, "zone_type": "home"', "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
    ],
)
def test_bad_device_log_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"type": "zone", "t": 1, "zone_type": "home"})
    b = (
        BundleBuilder(tmp_path)
        .file("log.jsonl", f"{good}\n{line}\n")
        .manifest(records=["log.jsonl"])
    )
    with pytest.raises(BundleError, match=r"log\.jsonl") as info:
        load_bundle(b.write())
    assert message in str(info.value) and "\n" not in str(info.value)


# -- the manifest -------------------------------------------------------------------------------


def test_manifest_json_and_manifest_file_path(tmp_path: Path) -> None:
    b = BundleBuilder(tmp_path).records([consent(1, ["recording"])])
    folder = b.write()
    manifest = (folder / "manifest.yaml").read_text()
    import yaml

    (folder / "manifest.yaml").unlink()
    (folder / "manifest.json").write_text(json.dumps(yaml.safe_load(manifest)))
    assert len(load_bundle(folder).consents) == 1
    assert len(load_bundle(folder / "manifest.json").consents) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": 2}, "unknown manifest version 2"),
        ({"format": "something-else"}, "format must be 'bystander.evidence-bundle'"),
        ({"records": ["nowhere.jsonl"]}, "records 'nowhere.jsonl': file is missing"),
        ({"traffic": ["../outside.har"]}, "path escapes the bundle folder"),
        ({"billing": ["/etc/passwd"]}, "paths must be relative"),
        ({"profile": None}, "profile: Field required"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"documents": [{"path": "profile.yaml", "type": "brochure"}]}, "unknown document type"),
        ({"hosts": {"a.com": "Singapore"}}, "not a 2-letter country code"),
        ({"audit_keys": ["nonsense"]}, "audit_keys.0"),
    ],
)
def test_manifest_errors(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    (tmp_path / "outside.har").write_text("{}")
    with pytest.raises(BundleError) as info:
        load_bundle(BundleBuilder(tmp_path).manifest(**fields).write())
    text = str(info.value)
    assert message in text and "\n" not in text
    assert text.startswith(("manifest.yaml", "profile.yaml"))


def test_symlink_out_of_the_bundle_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jsonl"
    secret.write_text("")
    folder = BundleBuilder(tmp_path).manifest(records=["link.jsonl"]).write()
    (folder / "link.jsonl").symlink_to(secret)
    with pytest.raises(BundleError, match="escapes the bundle folder"):
        load_bundle(folder)


def test_missing_folder_manifest_and_broken_yaml(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no such bundle folder"):
        load_bundle(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"no manifest\.yaml or manifest\.json"):
        load_bundle(tmp_path / "empty")
    folder = BundleBuilder(tmp_path).write()
    (folder / "manifest.yaml").write_text("format: [unclosed\nversion: 1\n")
    with pytest.raises(BundleError, match=r"manifest.yaml line \d+: not valid YAML"):
        load_bundle(folder)


def test_profile_errors_name_the_field(tmp_path: Path) -> None:
    b = BundleBuilder(tmp_path).profile(indicator={"present": True, "colour": "red"})
    with pytest.raises(BundleError, match=r"profile.yaml: indicator.colour: unknown field"):
        load_bundle(b.write())
    b = BundleBuilder(tmp_path, "b2").profile(face_recognition="sometimes")
    with pytest.raises(BundleError, match=r"profile.yaml: face_recognition: "):
        load_bundle(b.write())


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bystander.inspect.importers import device_log

    monkeypatch.setattr(device_log, "MAX_STREAM_BYTES", 10)
    b = BundleBuilder(tmp_path).records([consent(1, ["recording"])])
    with pytest.raises(BundleError, match=r"logs/device.jsonl: \d+ bytes is over the 0 MiB"):
        load_bundle(b.write())


# -- HAR -----------------------------------------------------------------------------------------


def test_har_entries_become_egress(tmp_path: Path) -> None:
    entries = [
        har_entry("http://upload.example.cn/v1/face?device=1", minutes=3,
                  multipart={"face": ("f.jpg", JPEG, "image/jpeg")}, server_ip="198.51.100.7"),
        har_entry("https://status.vendor.com/ping", minutes=1),
    ]  # fmt: skip
    b = BundleBuilder(tmp_path).har(entries).hosts({"status.vendor.com": "US"})
    ev = load_bundle(b.write())
    first, second = ev.egress  # sorted by time
    assert (first.host, first.country, first.method, first.tls) == (
        "status.vendor.com",
        "US",
        "GET",
        True,
    )
    assert second.ref == second.request_id == "har:traffic/traffic.har#0"
    assert second.country == "CN" and second.tls is False and second.ip == "198.51.100.7"
    assert second.data_categories == {"user.biometric.face.image"}
    assert second.findings == ("JPEG in multipart part 'face'",)
    assert second.bytes_sent > len(JPEG) and second.t == epoch(3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"log": {"entries": [', "traffic/traffic.har line 1: not valid JSON"),
        ('{"log": {}}', "not a HAR file (no log.entries list)"),
        ("\xff\xfe", "not a HAR file"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        (
            '{"log": {"entries": [{"request": {"url": "https://a.de/"}},'
            ' {"request": {"url": "http://[::1/x"}}]}}',
            "traffic/traffic.har entry 1: unreadable request URL (Invalid IPv6 URL)",
        ),
    ],
)
def test_broken_har(tmp_path: Path, content: str, message: str) -> None:
    b = BundleBuilder(tmp_path).file("traffic/traffic.har", content.encode("latin-1"))
    b.manifest(traffic=["traffic/traffic.har"])
    with pytest.raises(BundleError) as info:
        load_bundle(b.write())
    assert message in str(info.value)


def test_har_entries_without_request_are_noted(tmp_path: Path) -> None:
    har = {"log": {"entries": [{"startedDateTime": at(0)}, har_entry("https://a.de/x")]}}
    b = BundleBuilder(tmp_path).file("t.har", json.dumps(har)).manifest(traffic=["t.har"])
    ev = load_bundle(b.write())
    assert [e.country for e in ev.egress] == ["DE"]
    assert ev.notes == ["t.har: 1 entries without a usable request skipped"]


# -- billing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("csv_format", [False, True])
def test_billing_json_and_csv(tmp_path: Path, csv_format: bool) -> None:
    events: list[dict[str, Any]] = [
        {"subscription_id": "s1", "event": "opt_in", "t": at(0), "amount": "", "currency": "",
         "auto_renew": "true"},
        {"subscription_id": "s1", "event": "renewal", "t": epoch(60), "amount": 9.9,
         "currency": "CNY", "auto_renew": False},
    ]  # fmt: skip
    ev = load_bundle(BundleBuilder(tmp_path).billing(events, csv_format=csv_format).write())
    first, second = ev.billing
    assert (first.event, first.auto_renew, first.amount, first.t) == (
        "opt_in",
        True,
        None,
        epoch(0),
    )
    assert (second.amount, second.currency, second.auto_renew) == (9.9, "CNY", False)
    assert second.ref.startswith("billing:billing.")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("b.csv", "subscription_id,event,when\n", "line 1: unknown column 'when'"),
        ("b.csv", "subscription_id,event,t\ns1,renewal,soon\n", "b.csv line 2: t: 'soon'"),
        ("b.csv", "subscription_id,event,t,auto_renew\ns1,renewal,1,maybe\n", "line 2: auto_renew"),
        ("b.json", '{"events": [{"event": "renewal"}]}', "b.json event #0: subscription_id"),
        ("b.json", '{"events": 3}', "expected a list of events"),
        ("b.json", "[1,", "b.json line 1: not valid JSON"),
    ],
)
def test_bad_billing(tmp_path: Path, name: str, content: str, message: str) -> None:
    b = BundleBuilder(tmp_path).file(name, content).manifest(billing=[name])
    with pytest.raises(BundleError) as info:
        load_bundle(b.write())
    assert message in str(info.value)


# -- documents ----------------------------------------------------------------------------------


def test_html_document_is_stripped_and_language_guessed(tmp_path: Path) -> None:
    html = (
        "<html><head><title>x</title><style>p {color: red}</style>"
        "<script>var email = 'not@counted.example';</script></head>\n<body>\n"
        "<h2>人脸信息</h2>\n<p>我们仅在设备本地处理人脸信息。</p>\n"
        "<p>联系我们：<a href='mailto:dpo@example.cn'>dpo@example.cn</a></p>\n</body></html>"
    )
    b = BundleBuilder(tmp_path).document("docs/notice.html", html, "biometric_notice")
    (doc,) = load_bundle(b.write()).documents
    assert doc.lang == "zh" and doc.doc_type == "biometric_notice"
    fields = {f.name: f for f in doc.fields}
    assert fields["biometric"].location == "docs/notice.html:3"  # the h2
    assert fields["contact"].location == "docs/notice.html:5"
    assert "not@counted" not in fields["contact"].excerpt and "<" not in fields["contact"].excerpt


def test_text_document_in_gb18030_and_unsupported_formats(tmp_path: Path) -> None:
    b = BundleBuilder(tmp_path).file("rules.txt", "联系邮箱：dpo@example.cn\n".encode("gb18030"))
    b.manifest(documents=[{"path": "rules.txt", "type": "processing_rules"}])
    (doc,) = load_bundle(b.write()).documents
    assert doc.lang == "zh" and doc.has("contact")
    b = BundleBuilder(tmp_path, "pdf").file("rules.pdf", b"%PDF-1.7")
    b.manifest(documents=[{"path": "rules.pdf", "type": "processing_rules"}])
    with pytest.raises(BundleError, match=r"rules\.pdf: unsupported document format '\.pdf'"):
        load_bundle(b.write())


def test_document_dates_and_language(tmp_path: Path) -> None:
    b = BundleBuilder(tmp_path).document("p.md", POLICY_EN, date="2026-01-15", public=False)
    (doc,) = load_bundle(b.write()).documents
    assert doc.lang == "en" and doc.t == 1768435200.0 and not doc.public


# -- pcap ----------------------------------------------------------------------------------------


def _ipv4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    total = 20 + len(payload)
    addresses = bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, proto, 0, *addresses)
    return header + payload


def _ether(packet: bytes) -> bytes:
    return b"\x00" * 12 + b"\x08\x00" + packet


def _tcp(sport: int, dport: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, 0, 0, 5 << 4, flags, 1024, 0, 0) + payload


def _client_hello(host: str) -> bytes:
    name = host.encode()
    sni = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack(">H", len(sni)) + sni
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


def _dns_response(name: str, ip: str) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes(map(int, ip.split(".")))
    return struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + qname + b"\x00\x01\x00\x01" + answer


def _pcap(packets: list[tuple[float, bytes]]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for t, frame in packets:
        sec = int(t)
        out += struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)) + frame
    return out


def test_pcap_flows_with_sni_and_dns(tmp_path: Path) -> None:
    dev, cloud, other = "192.168.1.20", "203.0.113.5", "198.51.100.9"
    hello, post = _client_hello("api.vendor.cn"), b"POST /x HTTP/1.1\r\n\r\nabc"
    udp_dns = struct.pack(">HHHH", 53, 40000, 0, 0) + _dns_response("face.cloud.sg", other)
    packets = [
        (epoch(0), _ether(_ipv4("192.168.1.1", dev, 17, udp_dns))),
        (epoch(1), _ether(_ipv4(dev, cloud, 6, _tcp(50000, 443, 0x02)))),
        (epoch(1.01), _ether(_ipv4(cloud, dev, 6, _tcp(443, 50000, 0x12)))),
        (epoch(1.02), _ether(_ipv4(dev, cloud, 6, _tcp(50000, 443, 0x18, hello)))),
        (epoch(2), _ether(_ipv4(dev, other, 6, _tcp(50001, 80, 0x02)))),
        (epoch(2.1), _ether(_ipv4(dev, other, 6, _tcp(50001, 80, 0x18, post)))),
    ]  # fmt: skip
    b = BundleBuilder(tmp_path).file("cap.pcap", _pcap(packets)).manifest(pcap=["cap.pcap"])
    ev = load_bundle(b.write())
    assert ev.has_traffic
    tls, plain = ev.egress
    assert (tls.host, tls.country, tls.ip, tls.tls, tls.t) == (
        "api.vendor.cn",
        "CN",
        cloud,
        True,
        epoch(1),
    )
    assert tls.bytes_sent == len(_client_hello("api.vendor.cn"))
    assert (plain.host, plain.country, plain.tls) == ("face.cloud.sg", "SG", False)
    assert plain.data_categories == frozenset() and plain.ref.startswith("pcap:cap.pcap#")


def _pcapng(packets: list[tuple[float, bytes]]) -> bytes:
    def block(btype: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        length = len(body) + 12
        return struct.pack("<II", btype, length) + body + struct.pack("<I", length)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    tsresol = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # nanoseconds
    out += block(1, struct.pack("<HHI", 1, 0, 65535) + tsresol)
    for t, frame in packets:
        ns = round(t * 1e9)
        out += block(6, struct.pack("<IIIII", 0, ns >> 32, ns & 0xFFFFFFFF, len(frame),
                                    len(frame)) + frame)  # fmt: skip
    return out


def test_pcapng_with_nanosecond_timestamps(tmp_path: Path) -> None:
    dev, cloud = "10.0.0.2", "203.0.113.80"
    hello = _client_hello("upload.vendor.de")
    packets = [
        (epoch(5), _ether(_ipv4(dev, cloud, 6, _tcp(40000, 8443, 0x02)))),
        (epoch(5.1), _ether(_ipv4(dev, cloud, 6, _tcp(40000, 8443, 0x18, hello)))),
    ]
    b = BundleBuilder(tmp_path).file("c.pcapng", _pcapng(packets)).manifest(pcap=["c.pcapng"])
    (flow,) = load_bundle(b.write()).egress
    assert (flow.host, flow.country, flow.tls) == ("upload.vendor.de", "DE", True)
    assert flow.t == pytest.approx(epoch(5), abs=1e-6)
    assert flow.findings == ("tcp/8443 flow, 2 packets",)
    broken = _pcapng(packets)[:-10]
    b = BundleBuilder(tmp_path, "broken").file("c.pcapng", broken).manifest(pcap=["c.pcapng"])
    with pytest.raises(BundleError, match=r"c\.pcapng: block 4: truncated"):
        load_bundle(b.write())


def test_not_a_pcap(tmp_path: Path) -> None:
    b = BundleBuilder(tmp_path).file("cap.pcap", b"hello world").manifest(pcap=["cap.pcap"])
    with pytest.raises(BundleError, match=r"cap\.pcap: not a pcap or pcapng file"):
        load_bundle(b.write())
    truncated = _pcap([(1.0, _ether(_ipv4("10.0.0.1", "10.0.0.2", 6, _tcp(1, 2, 2))))])[:-5]
    b = BundleBuilder(tmp_path, "t").file("cap.pcap", truncated).manifest(pcap=["cap.pcap"])
    with pytest.raises(BundleError, match="packet 1: truncated"):
        load_bundle(b.write())


# -- Bystander audit exports -------------------------------------------------------------------


def _audit_log(engine: Engine, tmp_path: Path) -> AuditLog:
    """A real audit log: consent store, a capture session, template, egress and retention."""
    log = AuditLog(engine, key=Ed25519PrivateKey.generate(), origin="test.example/audit")
    store = ConsentStore(engine, sink=log)
    bundled = store.grant("wearer-1", [Scope.RECORD_VIDEO, Scope.FACE_ENROLMENT])
    store.grant("wearer-1", [Scope.RECORD_VIDEO], kind=ConsentKind.EXPLICIT)
    store.withdraw(bundled.id)
    rig = Rig()
    rig.session.sink = log
    rig.session.start()
    rig.capture()
    for _ in range(5):
        rig.step()
    rig.session.stop()
    hotel = Rig(location=LocationType.HOTEL_ROOM)
    hotel.session.sink = log
    with pytest.raises(CaptureRefused):
        hotel.session.start()
    meta = {"consent_record_id": "rec-1", "purpose": "unlock"}
    log.append(AuditEvent(type=EventType.TEMPLATE_CREATED, subject_id="p1",
                          data={"template_id": "tpl-1", **meta}))  # fmt: skip
    log.append(AuditEvent(type=EventType.TEMPLATE_DELETED, subject_id="p1",
                          data={"template_id": "tpl-1", **meta}))  # fmt: skip
    for kind in (EventType.EGRESS_ALLOWED, EventType.EGRESS_DENIED):
        data = {
            "host": "api.cloud.sg",
            "country": "sg",
            "purpose": "storage",
            "data_kinds": ["face-image", "video"],
            "subjects": [],
            "consent_records": [],
        }
        log.append(AuditEvent(type=kind, reason="test", data=data))
    item = {"item_id": "clip-9", "data_category": "video", "purpose": "x"}
    log.append(AuditEvent(type=EventType.RETENTION_DELETED, reason="expired", data=item))
    log.checkpoint()
    return log


def test_audit_export_is_verified_and_mapped(engine: Engine, tmp_path: Path) -> None:
    log = _audit_log(engine, tmp_path)
    b = BundleBuilder(tmp_path).audit_from(log).manifest(audit_keys=[log.verifier().vkey()])
    ev = load_bundle(b.write())
    assert ev.has_audit_log and not [n for n in ev.notes if "pin" in n]
    consents = ev.consents
    assert [c.action for c in consents] == [
        ConsentAction.GRANTED, ConsentAction.GRANTED, ConsentAction.WITHDRAWN,
    ]  # fmt: skip
    assert consents[0].scopes == {"recording", "face.processing"} and consents[0].bundled
    assert consents[1].kind is ConsentKindName.EXPLICIT and not consents[1].bundled
    assert consents[2].record_id == consents[0].record_id
    cam, mic = sorted(ev.captures, key=lambda c: c.sensor != Sensor.CAMERA)
    assert (cam.sensor, mic.sensor) == (Sensor.CAMERA, Sensor.MICROPHONE)
    assert cam.t_start is not None and cam.t_end is not None and cam.t_start <= cam.t_end
    assert cam.consent_ids and cam.ref.startswith("audit:")
    states = [(i.state, i.sensor) for i in ev.indicators if i.sensor is Sensor.CAMERA]
    assert states == [("on", Sensor.CAMERA), ("off", Sensor.CAMERA)]
    on, off = (i for i in ev.indicators if i.sensor is Sensor.CAMERA)
    assert on.t is not None and off.t is not None
    assert on.t <= cam.t_start and cam.t_end <= off.t
    assert [z.zone_type for z in ev.zones] == [ZoneType.HOTEL_ROOM]
    assert [op.op for op in ev.biometric_ops] == [
        BiometricOpKind.TEMPLATE_CREATE, BiometricOpKind.TEMPLATE_DELETE,
    ]  # fmt: skip
    template = next(s for s in ev.stores if s.record_id == "tpl-1")
    assert template.data_category == "user.biometric.face.template"
    assert template.t_created is not None and template.t_deleted is not None
    clip = next(s for s in ev.stores if s.record_id == "clip-9")
    assert clip.data_category == "user.sensor.camera" and clip.t_deleted is not None
    allowed, denied = ev.egress
    assert (allowed.allowed, denied.allowed) == (True, False)
    assert allowed.country == "SG"
    assert allowed.data_categories == {"user.biometric.face.image", "user.sensor.camera"}


def test_unpinned_audit_export_is_noted(engine: Engine, tmp_path: Path) -> None:
    log = _audit_log(engine, tmp_path)
    ev = load_bundle(BundleBuilder(tmp_path).audit_from(log).write())
    assert any("signer key taken from the bundle itself" in n for n in ev.notes)


def test_tampered_audit_export_is_rejected(engine: Engine, tmp_path: Path) -> None:
    log = _audit_log(engine, tmp_path)
    folder = BundleBuilder(tmp_path).audit_from(log).write()
    export = folder / "audit" / "export.jsonl"
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if "egress.denied" in line)
    lines[target] = lines[target].replace("egress.denied", "egress.allowed")
    export.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(BundleError, match=r"audit/export.jsonl: audit export failed verification"):
        load_bundle(folder)


def test_audit_export_under_a_foreign_key_is_rejected(engine: Engine, tmp_path: Path) -> None:
    log = _audit_log(engine, tmp_path)
    other = AuditLog(engine, key=Ed25519PrivateKey.generate(), origin="test.example/audit")
    b = BundleBuilder(tmp_path).audit_from(log).manifest(audit_keys=[other.verifier().vkey()])
    with pytest.raises(BundleError, match="failed verification"):
        load_bundle(b.write())


def test_malformed_audit_export(tmp_path: Path) -> None:
    b = BundleBuilder(tmp_path).file("a.jsonl", '{"format":"other"}\n').manifest(audit=["a.jsonl"])
    with pytest.raises(BundleError, match=r"a\.jsonl: .*not a bystander audit bundle"):
        load_bundle(b.write())


def test_records_from_several_sources_are_sorted(tmp_path: Path) -> None:
    b = BundleBuilder(tmp_path).records([*recording(30), *recording(10, session="s0")])
    ev = load_bundle(b.write())
    starts = [c.t_start or 0.0 for c in ev.captures]
    assert starts == sorted(starts) and ev.captures[0].session_id == "s0"


# -- what issue 19 added to the format --------------------------------------------------------


def test_subjects_ages_roles_and_lead_times(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"type": "subject", "subject_id": "kid-1", "age": 9},
        {"type": "subject", "subject_id": "w-1", "role": "wearer"},
        {"type": "consent", "t": at(1), "action": "granted", "scopes": ["face.processing"],
         "subject_id": "kid-2", "under_14": True, "subject_role": "resident"},
        {"type": "consent", "t": at(1), "action": "granted", "scopes": ["recording"],
         "subject_id": "p-3", "age": 30, "subject_role": "bystander"},
        {"type": "capture", "t_start": at(2), "t_end": at(3), "t_lead_ms": 200, "bystanders": 0},
    ]  # fmt: skip
    ev = load_bundle(BundleBuilder(tmp_path).records(rows).write())
    assert ev.children() == {"kid-1", "kid-2"}
    assert [s.role for s in ev.subjects] == [None, "wearer"]
    assert ev.consents[1].subject_role == "bystander" and ev.consents[1].age == 30
    assert ev.captures[0].t_lead_ms == 200 and ev.captures[0].bystanders == 0
    bad = BundleBuilder(tmp_path, "bad").records([{"type": "subject", "age": 3}])
    with pytest.raises(BundleError, match="subject record lacks subject_id"):
        load_bundle(bad.write())


def test_json_documents_are_analysed(tmp_path: Path) -> None:
    policy = {
        "title": "Privacy",
        "sections": [
            {"heading": "Who we are", "text": "Example Ltd is the controller of your data."},
            {"heading": "Retention", "text": "We keep your recordings for 30 days."},
        ],
    }
    folder = (
        BundleBuilder(tmp_path)
        .document("docs/policy.json", json.dumps(policy, indent=2), lang="en")
        .write()
    )
    (doc,) = load_bundle(folder).documents
    assert {f.name: f.location for f in doc.fields} == {
        "processor": "docs/policy.json:6",
        "retention": "docs/policy.json:10",
    }
    broken = BundleBuilder(tmp_path, "broken").document("docs/p.json", "{nope", lang="en")
    with pytest.raises(BundleError, match=r"docs/p\.json: not valid JSON"):
        load_bundle(broken.write())


def test_audit_consents_carry_the_role_and_under_14_flag(engine: Engine, tmp_path: Path) -> None:
    from bystander.consent.models import SubjectRole

    log = AuditLog(engine, key=Ed25519PrivateKey.generate(), origin="test.example/audit")
    store = ConsentStore(engine, sink=log)
    store.grant("wearer-1", [Scope.RECORD_VIDEO], kind=ConsentKind.SEPARATE)
    store.grant(
        "kid-1", [Scope.FACE_ENROLMENT], kind=ConsentKind.GUARDIAN, guardian_id="mum-1",
        role=SubjectRole.ENROLLED, under_14=True,
    )  # fmt: skip
    log.checkpoint()
    ev = load_bundle(BundleBuilder(tmp_path).audit_from(log).write())
    wearer, kid = ev.consents
    assert (wearer.subject_role, wearer.under_14) == ("wearer", False)
    assert (kid.subject_role, kid.under_14) == ("enrolled", True)
    assert ev.children() == {"kid-1"}


def test_audit_sessions_keep_their_events_and_lead(engine: Engine, tmp_path: Path) -> None:
    log = _audit_log(engine, tmp_path)
    ev = load_bundle(BundleBuilder(tmp_path).audit_from(log).write())
    cam = next(c for c in ev.captures if c.sensor is Sensor.CAMERA)
    assert cam.t_lead_ms == 200
    kinds = {e.type.value for _, e in ev.guard_events}
    assert {"capture.armed", "capture.first_frame", "capture.stopped"} <= kinds
    assert all(ref.startswith("audit:") for ref, _ in ev.guard_events)
