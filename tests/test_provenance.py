"""C2PA provenance: the test PKI, signing and verifying each format, tampering, trust, expiry."""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import c2pa  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import pytest
import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID
from PIL import Image
from pydantic import ValidationError
from typer.testing import CliRunner

from bystander.cli import provenance_cmd
from bystander.errors import OutputError, UnsupportedFormatError
from bystander.evidence.checkpoint import NoteSigner, sign_checkpoint
from bystander.provenance import (
    AuditCheckpointAssertion,
    CallbackSigner,
    CaptureGuardAssertion,
    ConsentAssertion,
    ConsentReference,
    DeviceIdentity,
    Fault,
    IdentityError,
    KeyFileSigner,
    ProtectionAssertion,
    ProtectionTally,
    ProvenanceError,
    ProvenanceManifest,
    anonymized_action,
    capture_assertion,
    created_action,
    init_identity,
    load_identity,
    sign_capture,
    sign_file,
    verify_file,
)
from bystander.provenance.assertions import (
    AUDIT_CHECKPOINT,
    CAPTURE_GUARD,
    CONSENT,
    PROTECTION,
)
from bystander.provenance.pki import (
    DOCUMENT_SIGNING,
    issue_chain,
    leaf_problems,
    write_identity,
)

runner = CliRunner()
FORMATS = ["jpg", "png", "webp", "mp4", "mov"]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> DeviceIdentity:
    return init_identity(tmp_path_factory.mktemp("pki") / "id", common_name="glasses-0001")


@pytest.fixture(scope="module")
def other_identity(tmp_path_factory: pytest.TempPathFactory) -> DeviceIdentity:
    return init_identity(tmp_path_factory.mktemp("pki") / "other", common_name="glasses-9999")


def make_media(path: Path, frames: int = 12) -> Path:
    """A small image (PIL) or H.264 clip (PyAV) with noise, so every byte matters."""
    rng = np.random.default_rng(7)
    if path.suffix in (".mp4", ".mov"):
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(15))
            stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
            for _ in range(frames):
                rgb = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    else:
        rgb = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(path)
    return path


def full_manifest() -> ProvenanceManifest:
    protection = ProtectionAssertion.from_descriptions(
        {"detector": "centerface", "threshold": 0.2, "backend": "onnxruntime",
         "redaction": {"mode": "blur", "shape": "ellipse", "mask_scale": 1.5},
         "preset": "realtime", "keyframe_interval": 5},
        {"frames": 300, "faces_detected": 50, "regions_redacted": 47, "tracks": 3},
    )  # fmt: skip
    capture = CaptureGuardAssertion(
        session_id="sess-1",
        device_id="glasses-0001",
        indicator_confirmed_ns=1_000_000_000,
        first_frame_ns=1_120_000_000,
        last_frame_ns=11_120_000_000,
        frames_released=300,
        frames_withheld=0,
    )
    signer = NoteSigner("bystander.local/audit/test", _ed25519())
    checkpoint = sign_checkpoint("bystander.local/audit/test", 42, bytes(range(32)), signer)
    return ProvenanceManifest(
        actions=[created_action(), anonymized_action(protection, frame_ranges=[(0, 299)])],
        capture=capture,
        consent=ConsentAssertion.of(["rec-1", "rec-2", "ab" * 32]),
        protection=protection,
        checkpoint=AuditCheckpointAssertion.of(checkpoint),
    )


def _ed25519() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    provenance_cmd.register(app)
    return app


def flip_payload_byte(path: Path) -> None:
    """Change one byte of the media data (inside ``mdat`` for video, image data otherwise)."""
    data = bytearray(path.read_bytes())
    if path.suffix in (".mp4", ".mov"):
        at = data.index(b"mdat") + 200
    elif path.suffix == ".jpg":
        at = len(data) - 40  # entropy-coded scan data, before EOI
    else:
        at = len(data) - 200  # last image data chunk
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


# -- PKI ------------------------------------------------------------------------------------


def test_chain_has_the_extensions_c2pa_requires(identity: DeviceIdentity) -> None:
    folder = identity.directory
    root = x509.load_pem_x509_certificate((folder / "root-ca.pem").read_bytes())
    inter = x509.load_pem_x509_certificate((folder / "intermediate-ca.pem").read_bytes())
    leaf = identity.device
    for cert in (root, inter, leaf):
        assert "TEST" in cert.subject.rfc4514_string() or "TEST" in cert.issuer.rfc4514_string()
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    for cert, pathlen in ((root, 1), (inter, 0)):
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == pathlen
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.key_cert_sign and ku.crl_sign
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    leaf_ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert leaf_ku.critical and leaf_ku.value.digital_signature
    assert not leaf_ku.value.key_cert_sign
    eku = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert {ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING} <= eku
    assert ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
    leaf.verify_directly_issued_by(inter)
    inter.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    assert leaf_problems(leaf) == []
    chain = x509.load_pem_x509_certificates(identity.chain_path.read_bytes())
    assert [c.subject for c in chain] == [leaf.subject, inter.subject]  # leaf first, no root
    for name in ("root-ca.key.pem", "intermediate-ca.key.pem", "device.key.pem"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    first = init_identity(tmp_path / "id", common_name="dev-a")
    with pytest.raises(OutputError, match="--force"):
        init_identity(tmp_path / "id", common_name="dev-b")
    assert load_identity(tmp_path / "id").fingerprint == first.fingerprint
    second = init_identity(tmp_path / "id", common_name="dev-b", force=True)
    assert second.fingerprint != first.fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["id"]  # no staging folders left


def test_leaf_problems_names_what_c2pa_rejects() -> None:
    material = issue_chain("dev", days=30, now=datetime.now(UTC) - timedelta(days=60))
    assert any("expired" in p for p in leaf_problems(material.device))
    assert any("CA certificate" in p for p in leaf_problems(material.intermediate))


def test_missing_identity_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="keys init"):
        load_identity(tmp_path / "none")


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("ext", FORMATS)
def test_sign_and_verify_round_trip(ext: str, identity: DeviceIdentity, tmp_path: Path) -> None:
    source = make_media(tmp_path / f"in.{ext}")
    target = tmp_path / f"signed.{ext}"
    signer = KeyFileSigner.for_identity(identity)
    result = sign_file(source, target, full_manifest(), signer, trust=[identity.root_path])
    assert result.verification.state == "trusted"
    assert result.manifest_bytes > 1000

    trusted = verify_file(target, [identity.root_path])
    assert trusted.state == "trusted", trusted.failures
    assert trusted.failures == [] and trusted.missing == []
    assert {CAPTURE_GUARD, CONSENT, PROTECTION, AUDIT_CHECKPOINT} <= set(trusted.labels)
    assert trusted.signer == "glasses-0001"
    assert trusted.assertions[CONSENT]["records"][0] == {"record_id": "rec-1"}
    assert trusted.assertions[AUDIT_CHECKPOINT]["tree_size"] == 42
    text = "\n".join(trusted.statements)
    assert "Indicator confirmed on 120 ms before the first frame." in text
    assert "3 consent records referenced (1 by hash)." in text
    assert "47 face regions redacted in 300 frames by centerface" in text
    assert "Covered by audit checkpoint bystander.local/audit/test at tree size 42" in text
    assert "No trusted timestamp" in text
    assert not trusted.thumbnails and trusted.ingredients == 0

    untrusted = verify_file(target)
    assert untrusted.state == "valid"
    assert [f.code for f in untrusted.failures] == ["signingCredential.untrusted"]

    if ext in ("mp4", "mov"):
        with av.open(str(target)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 12
    else:
        with Image.open(target) as image, Image.open(source) as original:
            assert np.array_equal(np.asarray(image), np.asarray(original))


@pytest.mark.parametrize("ext", ["jpg", "png", "mp4", "mov"])
def test_one_changed_byte_is_detected(ext: str, identity: DeviceIdentity, tmp_path: Path) -> None:
    target = tmp_path / f"signed.{ext}"
    sign_file(
        make_media(tmp_path / f"in.{ext}"), target, full_manifest(),
        KeyFileSigner.for_identity(identity),
    )  # fmt: skip
    flip_payload_byte(target)
    result = verify_file(target, [identity.root_path])
    assert result.state == "invalid"
    codes = {f.code for f in result.failures}
    assert codes & {"assertion.dataHash.mismatch", "assertion.bmffHash.mismatch"}, codes
    out = runner.invoke(cli(), ["verify", str(target), "--trust", str(identity.root_path)])
    assert out.exit_code == 3
    assert "INVALID" in out.stdout and "changed after it was signed" in out.stdout


@pytest.mark.parametrize(
    ("needle", "offset", "code"),
    [
        (b"regions_redacted", 20, "assertion.hashedURI.mismatch"),
        (b"c2pa.signature", 60, "claimSignature.mismatch"),
        (b"jumb", 4, "manifest.unreadable"),
    ],
)
def test_changed_manifest_bytes_are_detected(
    needle: bytes, offset: int, code: str, identity: DeviceIdentity, tmp_path: Path
) -> None:
    target = tmp_path / "signed.jpg"
    sign_file(
        make_media(tmp_path / "in.jpg"), target, full_manifest(),
        KeyFileSigner.for_identity(identity),
    )  # fmt: skip
    data = bytearray(target.read_bytes())
    data[data.index(needle) + offset] ^= 0x01
    target.write_bytes(bytes(data))
    result = verify_file(target, [identity.root_path])
    assert result.state == "invalid"
    assert code in {f.code for f in result.failures}


def test_sign_in_place_replaces_the_old_manifest(identity: DeviceIdentity, tmp_path: Path) -> None:
    path = make_media(tmp_path / "a.jpg")
    signer = KeyFileSigner.for_identity(identity)
    sign_file(path, path, full_manifest(), signer)
    sign_file(path, path, full_manifest(), signer)
    with open(path, "rb") as stream, c2pa.Reader("image/jpeg", stream) as reader:
        store = json.loads(reader.json())
    assert len(store["manifests"]) == 1  # no ingredient, no parent manifest carried along
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_unsupported_formats_and_unsigned_files(identity: DeviceIdentity, tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    Image.new("RGB", (8, 8)).save(gif)
    with pytest.raises(UnsupportedFormatError, match="supports"):
        sign_file(gif, tmp_path / "b.gif", full_manifest(), KeyFileSigner.for_identity(identity))
    plain = make_media(tmp_path / "plain.jpg")
    assert verify_file(plain).state == "unsigned"
    out = runner.invoke(cli(), ["verify", str(plain)])
    assert out.exit_code == 3 and "UNSIGNED" in out.stdout


# -- trust and expiry -----------------------------------------------------------------------


def test_untrusted_root_is_valid_but_not_trusted(
    identity: DeviceIdentity, other_identity: DeviceIdentity, tmp_path: Path
) -> None:
    target = tmp_path / "signed.jpg"
    sign_file(
        make_media(tmp_path / "in.jpg"), target, full_manifest(),
        KeyFileSigner.for_identity(other_identity),
    )  # fmt: skip
    result = verify_file(target, [identity.root_path])
    assert result.state == "valid"
    assert "signingCredential.untrusted" in {f.code for f in result.failures}
    app = cli()
    wrong = runner.invoke(app, ["verify", str(target), "--trust", str(identity.root_path)])
    assert wrong.exit_code == 4 and "VALID" in wrong.stdout
    none = runner.invoke(app, ["verify", str(target)])
    assert none.exit_code == 4
    lenient = runner.invoke(app, ["verify", str(target), "--allow-untrusted"])
    assert lenient.exit_code == 0
    right = runner.invoke(app, ["verify", str(target), "--trust", str(other_identity.root_path)])
    assert right.exit_code == 0 and "TRUSTED" in right.stdout
    # Signing with a trust root the signer does not chain to is refused, leaving nothing.
    with pytest.raises(ProvenanceError, match="trust root"):
        sign_file(
            make_media(tmp_path / "x.jpg"), tmp_path / "y.jpg", full_manifest(),
            KeyFileSigner.for_identity(other_identity), trust=[identity.root_path],
        )  # fmt: skip
    assert not (tmp_path / "y.jpg").exists()


def test_expired_certificate_cannot_sign(tmp_path: Path) -> None:
    material = issue_chain("old-device", days=30, now=datetime.now(UTC) - timedelta(days=400))
    write_identity(material, tmp_path / "old")
    old = load_identity(tmp_path / "old")
    source = make_media(tmp_path / "in.jpg")
    with pytest.raises(IdentityError, match="expired on"):
        sign_file(source, tmp_path / "out.jpg", full_manifest(), KeyFileSigner.for_identity(old))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jpg", "old"]


@pytest.mark.slow
def test_manifest_without_timestamp_turns_invalid_when_the_leaf_expires(tmp_path: Path) -> None:
    # Valid from ~1 day ago (minus the 5-minute backdating) until ~3 s from now.
    start = datetime.now(UTC) - timedelta(days=1) + timedelta(minutes=5, seconds=3)
    write_identity(issue_chain("short-lived", days=1, now=start), tmp_path / "id")
    short = load_identity(tmp_path / "id")
    target = tmp_path / "signed.jpg"
    result = sign_file(
        make_media(tmp_path / "in.jpg"), target, full_manifest(),
        KeyFileSigner.for_identity(short), trust=[short.root_path],
    )  # fmt: skip
    assert result.verification.state == "trusted" and result.verification.timestamp is None
    time.sleep(max(0.0, (short.not_after - datetime.now(UTC)).total_seconds()) + 1.5)
    later = verify_file(target, [short.root_path])
    assert later.state == "invalid"
    assert "signingCredential.expired" in {f.code for f in later.failures}


# -- assertions -----------------------------------------------------------------------------


def test_missing_protection_assertion_is_reported(identity: DeviceIdentity, tmp_path: Path) -> None:
    manifest = full_manifest()
    manifest.protection = None
    target = tmp_path / "signed.png"
    sign_file(
        make_media(tmp_path / "in.png"), target, manifest, KeyFileSigner.for_identity(identity)
    )
    result = verify_file(target, [identity.root_path])
    assert result.state == "trusted" and result.missing == [PROTECTION]
    assert "Missing assertion: org.bystander.protection." in result.statements
    out = runner.invoke(cli(), ["verify", str(target), "--trust", str(identity.root_path)])
    assert out.exit_code == 4
    bare = ProvenanceManifest(actions=[created_action()], protection=full_manifest().protection)
    sign_file(make_media(tmp_path / "b.png"), tmp_path / "b2.png", bare,
              KeyFileSigner.for_identity(identity))  # fmt: skip
    args = ["verify", str(tmp_path / "b2.png"), "--trust", str(identity.root_path)]
    assert runner.invoke(cli(), args).exit_code == 0
    required = runner.invoke(cli(), [*args, "--require", "capture-guard", "--json"])
    assert required.exit_code == 4
    assert json.loads(required.stdout)[0]["missing"] == [CAPTURE_GUARD]


def test_consent_references_reject_personal_data() -> None:
    for bad in ("jane.doe@example.com", "Jane Doe", "+44 7700 900123", "15551234567", ""):
        with pytest.raises(ValidationError):
            ConsentReference(record_id=bad)
    with pytest.raises(ValidationError):
        ConsentReference(sha256="not-a-hash")
    with pytest.raises(ValidationError):
        ConsentReference(record_id="rec-1", scope="Jane's face")
    with pytest.raises(ValidationError):
        ConsentReference()
    with pytest.raises(ValidationError):
        Fault(rule="R10", reason="consent withdrawn by jane@example.com")
    with pytest.raises(ValidationError):
        CaptureGuardAssertion(
            session_id="s", device_id="Jane Doe's glasses", indicator_confirmed_ns=None,
            first_frame_ns=None, last_frame_ns=None,
        )  # fmt: skip
    ok = ConsentReference.of("urn:uuid:123e4567-e89b-12d3-a456-426614174000")
    assert ok.record_id is not None
    for _ in range(300):  # the consent store's ids are UUIDs: all must pass
        assert ConsentReference.of(str(uuid.uuid4())).record_id is not None
    by_hash = ConsentReference.of_record(b'{"record": 1}', record_id="rec-7")
    assert by_hash.sha256 is not None and len(by_hash.sha256) == 64
    with pytest.raises(ValidationError):
        ConsentAssertion(records=[])


def test_capture_assertion_from_a_session() -> None:
    from types import SimpleNamespace

    profile = SimpleNamespace(device_id="glasses-0001", indicator=SimpleNamespace(t_lead_ms=200))
    session = SimpleNamespace(
        session_id="s-1", profile=profile, confirmed_ns=5_000_000, last_released_ns=905_000_000,
        released=30, withheld=2, fault_rule="R3", fault_ns=906_000_000,
    )  # fmt: skip
    made = capture_assertion(session, first_frame_ns=255_000_000)
    assert made.indicator_lead_ms == 250.0 and made.last_frame_ns == 905_000_000
    assert made.faults == [Fault(rule="R3", at_ns=906_000_000)]
    assert made.to_c2pa()["created"] is True


def test_reserved_labels_are_refused(identity: DeviceIdentity, tmp_path: Path) -> None:
    manifest = full_manifest()
    manifest.extra_assertions.append({"label": "c2pa.private", "data": {}})
    with pytest.raises(ProvenanceError, match="reserved"):
        sign_file(make_media(tmp_path / "a.jpg"), tmp_path / "b.jpg", manifest,
                  KeyFileSigner.for_identity(identity))  # fmt: skip


# -- signers --------------------------------------------------------------------------------


def test_callback_signer_round_trip(identity: DeviceIdentity, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(identity.key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    calls: list[int] = []

    def secure_element(data: bytes) -> bytes:
        calls.append(len(data))
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    signer = CallbackSigner(secure_element, "es256", identity.chain_pem, tsa_url=None)
    target = tmp_path / "signed.mp4"
    sign_file(make_media(tmp_path / "in.mp4"), target, full_manifest(), signer)
    assert calls
    assert verify_file(target, [identity.root_path]).state == "trusted"

    def broken(data: bytes) -> bytes:
        raise RuntimeError("secure element locked")

    bad = CallbackSigner(broken, "es256", identity.chain_pem, tsa_url=None)
    with pytest.raises(ProvenanceError, match="secure element locked"):
        sign_file(make_media(tmp_path / "x.jpg"), tmp_path / "y.jpg", full_manifest(), bad)
    assert not (tmp_path / "y.jpg").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_tsa_url_comes_from_the_environment(
    identity: DeviceIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYSTANDER_TSA_URL", "http://tsa.example/rfc3161")
    assert KeyFileSigner.for_identity(identity).tsa_url == "http://tsa.example/rfc3161"
    monkeypatch.setenv("BYSTANDER_TSA_URL", "ftp://nope")
    with pytest.raises(Exception, match="http"):
        KeyFileSigner.for_identity(identity)


# -- CLI ------------------------------------------------------------------------------------


def test_cli_keys_sign_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path / "home"))
    app = cli()
    made = runner.invoke(app, ["keys", "init", "--name", "cam-7", "--days", "30"])
    assert made.exit_code == 0, made.output
    assert runner.invoke(app, ["keys", "init"]).exit_code == 1  # exists: refuse
    shown = runner.invoke(app, ["keys", "show", "--json"])
    info = json.loads(shown.stdout)
    assert info["problems"] == [] and "cam-7" in info["subject"]
    root = info["trust_root"]
    assert root.endswith("provenance/root-ca.pem")

    source = make_media(tmp_path / "in.jpg")
    signed = runner.invoke(app, ["sign", str(source), "-o", str(tmp_path / "out.jpg")])
    assert signed.exit_code == 0, signed.output
    again = runner.invoke(app, ["sign", str(source), "-o", str(tmp_path / "out.jpg")])
    assert again.exit_code == 1 and "exists" in again.output
    # No protection facts: valid signature, trusted signer, but not proven protected.
    out = runner.invoke(app, ["verify", str(tmp_path / "out.jpg"), "--trust", root, "--json"])
    assert out.exit_code == 4
    assert json.loads(out.stdout)[0]["state"] == "trusted"
    bad = runner.invoke(app, ["verify", str(tmp_path / "out.jpg"), "--trust", str(source)])
    assert bad.exit_code == 1 and "no PEM certificate" in bad.output


def test_cli_sign_with_a_protect_report(identity: DeviceIdentity, tmp_path: Path) -> None:
    from bystander.vision.report import (
        FrameRecord,
        ItemReport,
        ItemSummary,
        ProtectReport,
        RegionRecord,
    )

    source = make_media(tmp_path / "clip.png")
    region = RegionRecord(box=(10, 10, 30, 40), track_id=None, score=0.9, source="detected")
    item = ItemReport(
        input="in.png", output=str(source), kind="image", width=96, height=64,
        frame_rate=None, audio=False,
        summary=ItemSummary(frames=1, faces_detected=1, regions_redacted=1, tracks=0,
                            whole_frames_redacted=0, seconds=0.1, fps=10.0),
        frames=[FrameRecord(index=0, regions=[region])],
    )  # fmt: skip
    report = ProtectReport(
        bystander_version="test", detector={"name": "centerface", "threshold": 0.3},
        settings={"detector": "centerface", "redaction": {"mode": "pixelate"}}, items=[item],
    )  # fmt: skip
    (tmp_path / "report.json").write_text(report.to_json())
    app = cli()
    args = [
        "sign",
        str(source),
        "-o",
        str(tmp_path / "signed.png"),
        "--dir",
        str(identity.directory),
    ]
    signed = runner.invoke(app, [*args, "--report", str(tmp_path / "report.json")])
    assert signed.exit_code == 0, signed.output
    out = runner.invoke(
        app, ["verify", str(tmp_path / "signed.png"), "--trust", str(identity.root_path)]
    )
    assert out.exit_code == 0, out.output
    assert "1 face regions redacted in 1 frame by centerface (threshold 0.3, pixelate mask)" in (
        out.stdout
    )


def test_sign_capture_with_a_tally(identity: DeviceIdentity, tmp_path: Path) -> None:
    from types import SimpleNamespace

    tally = ProtectionTally()
    for index in range(12):
        regions = [object()] * (2 if 3 <= index <= 5 or index == 9 else 0)
        tally(SimpleNamespace(index=index, regions=regions, detected=len(regions),
                              whole_frame=index == 11))  # fmt: skip
    assert tally.ranges == [(3, 5), (9, 9), (11, 11)] and tally.regions_redacted == 8
    protection = tally.assertion(
        {"detector": "centerface", "threshold": 0.2, "redaction": {"mode": "blur"}}, tracks=1
    )
    capture = CaptureGuardAssertion(
        session_id=str(uuid.uuid4()), device_id="glasses-0001", indicator_confirmed_ns=10,
        first_frame_ns=300_000_010, last_frame_ns=1_100_000_010, required_lead_ms=200,
        faults=[Fault(rule="R3", at_ns=1_200_000_000, reason="indicator occluded during capture")],
    )  # fmt: skip
    path = make_media(tmp_path / "rec.mov")
    first_frame = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)
    result = sign_capture(
        path, identity, capture, protection, [str(uuid.uuid4())], frame_ranges=tally.ranges,
        captured_at=first_frame,
    )  # fmt: skip
    assert result.verification.state == "trusted"
    v = verify_file(path, [identity.root_path], require=[PROTECTION, CAPTURE_GUARD, CONSENT])
    assert v.missing == []
    created, edited = v.assertions["c2pa.actions"]["actions"]
    assert created["action"] == "c2pa.created" and created["when"] == "2026-03-01T09:30:05+00:00"
    assert created["digitalSourceType"].endswith("/digitalCapture")
    assert [c["region"][1]["frame"] for c in edited["changes"]] == [
        {"start": 3, "end": 5}, {"start": 9, "end": 9}, {"start": 11, "end": 11},
    ]  # fmt: skip
    fps = 15  # make_media's frame rate: each frame range's time range follows from it
    assert edited["changes"][0]["region"][0]["time"] == {
        "type": "npt", "start": f"{3 / fps:.3f}", "end": f"{6 / fps:.3f}"
    }  # fmt: skip
    guard = v.assertions[CAPTURE_GUARD]
    assert guard["media_frames"] == 12 and guard["duration_s"] == pytest.approx(12 / fps)
    text = "\n".join(v.statements)
    assert "Recording lasts 0.800 s in 12 frames (its frame timestamps)" in text
    text = "\n".join(v.statements)
    assert "Indicator confirmed on 300 ms before the first frame." in text
    assert "1 capture-guard fault(s): R3 indicator occluded during capture." in text
    assert "1 frames hidden whole after detector errors." in text


def test_each_output_is_signed_with_the_precision_that_searched_it(
    identity: DeviceIdentity, tmp_path: Path
) -> None:
    from bystander.jobs.protect import Protector, ProtectSettings
    from bystander.vision.detectors.quantize import video_precision

    protector = Protector(ProtectSettings(), identity=identity)
    clip, photo = make_media(tmp_path / "in.mp4"), make_media(tmp_path / "in.png")
    protector.protect_file(clip, tmp_path / "out.mp4")
    protector.protect_file(photo, tmp_path / "out.png")
    signed = {
        kind: verify_file(tmp_path / f"out.{kind}", [identity.root_path]).assertions[PROTECTION]
        for kind in ("mp4", "png")
    }
    video, still = (signed[kind]["detector"]["precision"] for kind in ("mp4", "png"))
    assert video == ("int8" if video_precision("auto", "auto") == "int8" else still)
    assert still in ("bf16", "f32")  # photos keep the float model
