"""Screening uploads: real signed captures, stripped and tampered copies, unsigned clips with a
visible face, corrupt files, policies; through the Python API and `bystander screen`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from bystander.cli.app import app
from bystander.errors import InputError
from bystander.measure.synthetic import SyntheticClip, astronaut_head, background, paste
from bystander.screening.faces import census, face_detail
from bystander.screening.policy import Decision, FaceRules, load_policy
from bystander.screening.screen import COVERT, PORTRAIT, Screener
from bystander.vision.detections import Detections
from bystander.vision.detectors import create_detector
from bystander.vision.redact import RedactionSettings, Redactor
from tests.helpers import capture, grant_recording, runner


@dataclass(frozen=True)
class Uploads:
    """A compliant signed capture, copies of it, and the trust root that vouches for it."""

    compliant: Path
    stripped: Path
    tampered: Path
    trust: Path
    signed_raw: Path  # the unprotected demo clip, signed by the same trusted device


def _strip(source: Path, target: Path) -> None:
    """Re-mux without the C2PA manifest (what re-uploading through most tools does)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out
            dst.mux(packet)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploads]:
    folder = tmp_path_factory.mktemp("uploads")
    home = folder / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BYSTANDER_HOME", str(home))
        patch.delenv("BYSTANDER_DATABASE_URL", raising=False)
        from bystander.measure.synthetic import make_demo_clip

        clip = make_demo_clip(folder / "scene.mp4", width=320, height=180, frames=30)
        grant_recording(home)
        compliant = folder / "capture.mp4"
        code, output = capture("--source", str(clip.path), "-o", str(compliant))
        assert code == 0, output
        signed_raw = folder / "signed-raw.mp4"
        signed = runner.invoke(app, ["sign", str(clip.path), "-o", str(signed_raw)])
        assert signed.exit_code == 0, signed.output
    stripped = folder / "stripped.mp4"
    _strip(compliant, stripped)
    tampered = folder / "tampered.mp4"
    data = bytearray(compliant.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the media, after signing
    tampered.write_bytes(bytes(data))
    yield Uploads(compliant, stripped, tampered, home / "provenance" / "root-ca.pem", signed_raw)


@pytest.fixture(scope="module")
def screener(uploads: Uploads, tmp_path_factory: pytest.TempPathFactory) -> Screener:
    return Screener(
        load_policy(None),
        trust_roots=[uploads.trust],
        anonymized_dir=tmp_path_factory.mktemp("anonymized"),
    )


def test_a_signed_compliant_upload_is_accepted(uploads: Uploads, screener: Screener) -> None:
    outcome = screener.screen(uploads.compliant)
    assert outcome.decision is Decision.ACCEPT, outcome.to_dict()
    assert outcome.upload_class == "compliant"
    facts = outcome.provenance
    assert facts is not None and facts.state == "trusted" and facts.indicator_on
    assert facts.consent_count >= 1 and facts.protected and not facts.violations
    assert outcome.faces is not None and outcome.faces.identifiable_faces == 0
    assert outcome.sha256 and len(outcome.sha256) == 64


@pytest.mark.parametrize("copy", ["stripped", "tampered"])
def test_the_same_clip_stripped_or_tampered_is_held(
    uploads: Uploads, screener: Screener, copy: str
) -> None:
    outcome = screener.screen(getattr(uploads, copy))
    assert outcome.decision is Decision.HOLD, outcome.to_dict()
    assert outcome.provenance is not None
    expected = {"stripped": "unsigned", "tampered": "invalid"}[copy]
    assert outcome.provenance.state == expected
    assert outcome.upload_class == {"stripped": "unsigned_without_faces", "tampered": "tampered"}[
        copy
    ]


def test_an_untrusted_signer_counts_as_unsigned(uploads: Uploads) -> None:
    outcome = Screener(load_policy(None)).screen(uploads.compliant)  # no trust roots
    assert outcome.provenance is not None and outcome.provenance.state == "valid"
    assert outcome.decision is Decision.HOLD
    assert "outside the trust list" in outcome.reasons[0].text


def test_a_trusted_signature_on_a_covert_clip_is_rejected(
    uploads: Uploads, screener: Screener
) -> None:
    """Signed by a trusted device but no capture guard, consent or protection: a stranger's
    face in the clear."""
    outcome = screener.screen(uploads.signed_raw)
    assert outcome.decision is Decision.REJECT, outcome.to_dict()
    assert outcome.upload_class == "noncompliant_with_faces"
    rules = set(outcome.to_dict()["rules"])
    assert set(COVERT) <= rules and set(PORTRAIT) <= rules
    assert outcome.provenance is not None and len(outcome.provenance.violations) == 3


def test_visible_strangers_without_provenance_are_anonymized(
    demo_clip: SyntheticClip, screener: Screener
) -> None:
    outcome = screener.screen(demo_clip.path)
    assert outcome.decision is Decision.ANONYMIZE, outcome.to_dict()
    assert outcome.faces is not None and outcome.faces.identifiable_faces >= 1
    assert outcome.faces.distinct_people == 1
    assert outcome.anonymized_path is not None
    anonymized = Path(outcome.anonymized_path)
    again = census(anonymized, screener.detector, screener.policy.faces)
    assert again.identifiable_faces == 0  # the published version identifies nobody
    assert set(PORTRAIT) <= set(outcome.to_dict()["rules"])


def test_a_policy_can_reject_them_instead(
    demo_clip: SyntheticClip, screener: Screener, tmp_path: Path
) -> None:
    policy = tmp_path / "strict.yaml"
    policy.write_text("decisions:\n  unsigned_with_faces: reject\n")
    strict = Screener(load_policy(policy), detector=screener.detector)
    outcome = strict.screen(demo_clip.path)
    assert outcome.decision is Decision.REJECT and outcome.anonymized_path is None
    assert outcome.policy == str(policy)


def test_too_many_people_to_anonymize_go_to_review(
    demo_clip: SyntheticClip, screener: Screener, tmp_path: Path
) -> None:
    policy = tmp_path / "small.yaml"
    policy.write_text("max_people_to_anonymize: 0\n")
    outcome = Screener(load_policy(policy), detector=screener.detector).screen(demo_clip.path)
    assert outcome.decision is Decision.HOLD
    assert "without review" in outcome.reasons[-1].text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200, "cannot open video"),
        (b"", "empty file"),
    ],
)
def test_an_unreadable_upload_is_an_outcome_not_a_crash(
    screener: Screener, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "upload.mp4"
    bad.write_bytes(content)
    outcome = screener.screen(bad)
    assert outcome.decision is Decision.REJECT and outcome.upload_class == "unreadable"
    assert outcome.error is not None and message in outcome.error


def test_a_truncated_video_is_unreadable(demo_clip: SyntheticClip, screener: Screener,
                                         tmp_path: Path) -> None:  # fmt: skip
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo_clip.path.read_bytes()[: demo_clip.path.stat().st_size * 2 // 3])
    outcome = screener.screen(cut)
    assert outcome.upload_class == "unreadable" and outcome.error


def test_redacted_faces_are_not_identifiable() -> None:
    """Texture tells a real face from our blur, pixelation and solid masks."""
    detector = create_detector("centerface")
    head, _ = astronaut_head()
    frame = background(640, 360)
    paste(frame, head, 200, 80)
    faces = detector.detect(frame)
    assert len(faces) == 1
    assert face_detail(frame, faces.xyxy[0]) >= FaceRules().min_detail
    for mode in ("blur", "pixelate", "solid"):
        hidden = frame.copy()
        Redactor(RedactionSettings(mode=mode)).apply(hidden, faces)
        assert face_detail(hidden, faces.xyxy[0]) < FaceRules().min_detail, mode


def test_small_or_unsure_faces_do_not_count() -> None:
    from bystander.screening.faces import identifiable

    head, _ = astronaut_head()
    frame = background(640, 360)
    paste(frame, head, 200, 80)
    box = [[230, 140, 320, 258]]
    rules = FaceRules()
    assert identifiable(frame, Detections.from_boxes(box, scores=[0.9]), rules).tolist() == [True]
    assert identifiable(frame, Detections.from_boxes(box, scores=[0.3]), rules).tolist() == [False]
    small = Detections.from_boxes([[230, 140, 250, 160]], scores=[0.9])
    assert identifiable(frame, small, rules).tolist() == [False]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("decisions:\n  compliant: publish\n", "decisions.compliant"),
        ("faces:\n  min_face_px: 2\n", "faces.min_face_px"),
        ("surprise: 1\n", "surprise: unknown key"),
        ("decisions: [1, 2\n", "not valid YAML"),
        ("- a list\n", "must be a mapping"),
    ],
)
def test_bad_policies_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    with pytest.raises(InputError, match=message) as error:
        load_policy(policy)
    assert "\n" not in str(error.value) and str(policy) in str(error.value)


# --- the command ------------------------------------------------------------------------------


def test_screen_command_decides_each_upload_and_queues_it(
    home: Path, uploads: Uploads, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(demo_clip.path.read_bytes()[:4000])
    files = [uploads.compliant, broken, demo_clip.path, uploads.tampered]
    args = ["screen", *map(str, files)]
    args += ["--trust", str(uploads.trust), "--anonymized-dir", str(tmp_path / "anon"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output  # something was held or rejected
    rows = json.loads(result.stdout)
    assert [r["decision"] for r in rows] == ["accept", "reject", "anonymize", "hold"]
    assert all(r["item_id"] for r in rows)

    listed = runner.invoke(app, ["moderation", "list", "--status", "held", "--json"])
    assert listed.exit_code == 0, listed.output
    (held,) = json.loads(listed.stdout)
    assert held["id"] == rows[3]["item_id"] and held["class"] == "tampered"


def test_screen_command_exits_zero_when_all_pass(home: Path, uploads: Uploads) -> None:
    args = ["screen", str(uploads.compliant), "--trust", str(uploads.trust), "--no-queue"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("accept")


def test_screen_command_refuses_a_bad_policy_before_screening(
    home: Path, uploads: Uploads, tmp_path: Path
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text("decisions:\n  tampered: maybe\n")
    result = runner.invoke(app, ["screen", str(uploads.compliant), "--policy", str(policy)])
    assert result.exit_code == 1 and "decisions.tampered" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_frame_with_a_face_in_an_image_upload(tmp_path: Path, screener: Screener) -> None:
    head, _ = astronaut_head()
    frame = background(640, 360)
    paste(frame, head, 200, 80)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    outcome = screener.screen(photo)
    assert outcome.decision is Decision.ANONYMIZE and outcome.anonymized_path
    assert outcome.faces is not None and outcome.faces.identifiable_faces == 1
    protected = cv2.imread(outcome.anonymized_path)
    assert protected is not None and protected.shape == frame.shape
    assert not np.array_equal(protected[140:258, 230:320], frame[140:258, 230:320, ::-1])
