"""Signing real `protect` outputs: no thumbnail or ingredient of the original; faces stay hidden."""

from __future__ import annotations

import json
from pathlib import Path

import c2pa  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from bystander.evidence.checkpoint import NoteSigner, sign_checkpoint
from bystander.jobs.protect import Protector
from bystander.measure.synthetic import SyntheticClip, astronaut_head, background, paste
from bystander.provenance import (
    CaptureGuardAssertion,
    DeviceIdentity,
    init_identity,
    sign_protected,
    verify_file,
)
from bystander.provenance.assertions import ACTIONS, AUDIT_CHECKPOINT, CONSENT, PROTECTION
from tests.helpers import crop, decode_frames, sharpness


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> DeviceIdentity:
    return init_identity(tmp_path_factory.mktemp("pki") / "id", common_name="glasses-0001")


def _reader_store(path: Path, fmt: str) -> dict[str, object]:
    with open(path, "rb") as stream, c2pa.Reader(fmt, stream) as reader:
        return dict(json.loads(reader.json()))


def test_signed_photo_holds_no_pixels_of_the_original_face(
    protector: Protector, identity: DeviceIdentity, tmp_path: Path
) -> None:
    head, (fx1, fy1, fx2, fy2) = astronaut_head()
    original = background(400, 300)
    paste(original, head, 120, 60)
    box = (120 + fx1, 60 + fy1, 120 + fx2, 60 + fy2)
    source = tmp_path / "photo.jpg"
    Image.fromarray(original).save(source, quality=95)
    target = tmp_path / "out.jpg"
    item = protector.protect_file(source, target)
    with Image.open(target) as unsigned:
        protected = np.asarray(unsigned.convert("RGB"))

    result = sign_protected(
        target, item, protector.settings.describe(), identity,
        consent_refs=["rec-1"], detector_description=protector.detector.describe(),
    )  # fmt: skip
    assert result.verification.state == "trusted"

    # The signed file is the protected pixels plus a manifest: nothing of the original.
    with Image.open(target) as signed_image:
        signed = np.asarray(signed_image.convert("RGB"))
    assert np.array_equal(signed, protected)
    assert sharpness(crop(signed, box)) < 0.25 * sharpness(crop(original, box))
    data = target.read_bytes()
    assert data.count(b"\xff\xd8\xff") == 1  # one JPEG: no embedded thumbnail image
    store = _reader_store(target, "image/jpeg")
    text = json.dumps(store)
    assert "thumbnail" not in text
    assert "photo.jpg" not in text  # the input's name is not disclosed either
    manifests = store["manifests"]
    assert isinstance(manifests, dict) and len(manifests) == 1
    (manifest,) = manifests.values()
    assert not manifest.get("resources") or not manifest["resources"].get("resources")

    verification = verify_file(target, [identity.root_path])
    assert verification.state == "trusted" and verification.missing == []
    protection = verification.assertions[PROTECTION]
    assert protection["detector"]["name"] == "centerface"
    assert protection["regions_redacted"] == item.summary.regions_redacted >= 1
    opened, edited = verification.assertions[ACTIONS]["actions"]
    assert opened["action"] == "c2pa.opened"  # protect never claims a capture
    assert manifest["ingredients"] == [
        {"title": "input", "format": "image/jpeg", "relationship": "parentOf",
         "label": "c2pa.ingredient.v3"}
    ]  # fmt: skip
    assert edited["action"] == "c2pa.redacted" and edited["reason"] == "c2pa.PII.present"
    region = edited["changes"][0]["region"][0]
    assert region["type"] == "spatial" and "role" not in region
    boxes = [r.box for f in item.frames for r in f.regions]
    assert [c["region"][0]["shape"]["origin"] for c in edited["changes"]] == [
        {"x": round(b[0], 1), "y": round(b[1], 1)} for b in boxes
    ]
    assert verification.assertions[CONSENT]["records"] == [{"record_id": "rec-1"}]


def test_signed_protected_video_with_capture_facts(
    protector: Protector, identity: DeviceIdentity, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    target = tmp_path / "out.mp4"
    item = protector.protect_file(demo_clip.path, target)
    frames_before = decode_frames(target)
    note_signer = NoteSigner("bystander.local/audit/t", _key())
    checkpoint = sign_checkpoint("bystander.local/audit/t", 9, bytes(32), note_signer)
    capture = CaptureGuardAssertion(
        session_id="sess-9", device_id="glasses-0001", indicator_confirmed_ns=0,
        first_frame_ns=250_000_000, last_frame_ns=2_250_000_000, frames_released=30,
    )  # fmt: skip
    result = sign_protected(
        target, item, protector.settings.describe(), identity,
        consent_refs=["rec-1", "rec-2"], checkpoint=checkpoint, capture=capture,
    )  # fmt: skip
    assert result.verification.state == "trusted"
    assert len(decode_frames(target)) == len(frames_before)
    v = verify_file(target, [identity.root_path])
    assert v.assertions[AUDIT_CHECKPOINT]["tree_size"] == 9
    opened, edited = v.assertions[ACTIONS]["actions"]
    assert opened["action"] == "c2pa.opened" and edited["action"] == "c2pa.redacted"
    temporal, frames = edited["changes"][0]["region"]
    assert temporal["type"] == "temporal" and frames["type"] == "frame"
    first = frames["frame"]["start"]
    assert float(temporal["time"]["start"]) == pytest.approx(first / item.frame_rate, abs=1e-3)
    assert "digitalCapture" not in json.dumps(v.assertions[ACTIONS])
    text = "\n".join(v.statements)
    assert "Indicator confirmed on 250 ms before the first frame." in text
    assert f"{item.summary.regions_redacted} face regions redacted in 30 frames" in text
    assert "2 consent records referenced." in text


def _key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_cli_protect_signs_every_output_unless_told_not_to(
    home: Path, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    from bystander.cli.app import app
    from tests.helpers import runner

    signed, unsigned = tmp_path / "signed.mp4", tmp_path / "unsigned.mp4"
    result = runner.invoke(app, ["protect", str(demo_clip.path), "-o", str(signed), "-q"])
    assert result.exit_code == 0, result.output
    assert "TEST device identity" in result.output  # created on first use, and said so
    verified = verify_file(signed, [home / "provenance" / "root-ca.pem"])
    assert verified.state == "trusted" and not verified.missing
    assert verified.title == "signed.mp4"  # the published name, not the temporary one
    protection = verified.assertions[PROTECTION]
    assert protection["regions_redacted"] > 0 and protection["preset"] == "realtime"
    result = runner.invoke(
        app, ["protect", str(demo_clip.path), "-o", str(unsigned), "-q", "--no-sign"]
    )
    assert result.exit_code == 0, result.output
    assert verify_file(unsigned).state == "unsigned"
