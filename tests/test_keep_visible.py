"""People who consented stay visible; everyone else is redacted (``--keep-visible``).

Real faces (the astronaut, enrolled or wearing a badge, and the cameraman as a stranger, both
from scikit-image), the real detector, tracker, dlib embedder, vault, consent store and badge
registry, through the pipeline, ``bystander protect`` and ``bystander capture``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from sqlalchemy import Engine

from bystander.badges.policy import BadgeConsent
from bystander.badges.render import render_badge
from bystander.badges.tokens import BadgeRegistry, signing_key
from bystander.cli.app import app
from bystander.consent.models import ConsentKind, ConsentRecord, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.events import EventType
from bystander.evidence.vault import TemplateExportRefused, TemplateVault, VaultKeyring
from bystander.guard import live
from bystander.guard.egress import DataKind, Destination, EgressDenied, EgressGate, Purpose
from bystander.measure.synthetic import astronaut_head, background, paste, write_clip
from bystander.recognition import ConsentedFaces, EmbedderError, FaceEmbedder, enroll
from bystander.recognition.worker import ProcessEmbedder
from bystander.visibility import (
    FILE_MAX_LAG,
    AnyOf,
    BadgeGate,
    EnrolledFaceGate,
    KeepVisible,
    parse_keep_visible,
)
from bystander.vision.detections import Detections
from bystander.vision.detectors import create_detector
from bystander.vision.pipeline import FrameProtector, KeptVisible, ProtectedFrame
from bystander.vision.redact import Redactor
from bystander.vision.tracker import FaceTracker
from tests.helpers import PROFILE, align, crop, decode_frames, runner, sharpness

Frame = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]
ASTRONAUT = "ds-astro"
PURPOSE = "consent_recognition"
#: The cameraman's head in ``skimage.data.camera()`` and the face box inside that crop.
_CAMERA_HEAD = (160, 80, 300, 240)
_CAMERA_FACE = (197, 120, 263, 196)


# --- scenes ----------------------------------------------------------------------------------


def _cameraman_head() -> tuple[Frame, Box]:
    import skimage.data

    grey = cast(Any, skimage.data).camera()
    x1, y1, x2, y2 = _CAMERA_HEAD
    head = np.ascontiguousarray(np.stack([grey[y1:y2, x1:x2]] * 3, axis=-1), dtype=np.uint8)
    fx1, fy1, fx2, fy2 = _CAMERA_FACE
    return head, (fx1 - x1, fy1 - y1, fx2 - x1, fy2 - y1)


def two_people(shift: int = 0, scale: float = 1.0) -> tuple[Frame, Box, Box]:
    """The astronaut (left) and the cameraman (right) on a 640x360 scene; their face boxes."""
    frame = background(640, 360)
    boxes = []
    for (head, face), x in ((astronaut_head(), 60 + shift), (_cameraman_head(), 400 - shift)):
        if scale != 1.0:
            head = np.ascontiguousarray(cv2.resize(head, None, fx=scale, fy=scale))
            face = (face[0] * scale, face[1] * scale, face[2] * scale, face[3] * scale)
        paste(frame, head, x, 60)
        boxes.append((x + face[0], 60 + face[1], x + face[2], 60 + face[3]))
    return frame, boxes[0], boxes[1]


def is_visible(out: Frame, original: Frame, box: Box) -> bool:
    """The face keeps (nearly) all of its detail: not blurred."""
    return sharpness(crop(out, box)) > 0.6 * sharpness(crop(original, box))


def is_redacted(out: Frame, original: Frame, box: Box) -> bool:
    return sharpness(crop(out, box)) < 0.25 * sharpness(crop(original, box))


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder()


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("centerface")


@pytest.fixture()
def sink(engine: Engine) -> AuditLog:
    return AuditLog(engine)


@pytest.fixture()
def store(engine: Engine, sink: AuditLog) -> ConsentStore:
    return ConsentStore(engine, sink)


@pytest.fixture()
def vault(engine: Engine, sink: AuditLog) -> TemplateVault:
    return TemplateVault(engine, sink=sink)


@pytest.fixture()
def enrolled(
    store: ConsentStore, vault: TemplateVault, embedder: FaceEmbedder, detector: Any
) -> ConsentRecord:
    """The astronaut, enrolled under separate face-enrolment consent."""
    record = store.grant(ASTRONAUT, [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE)
    head, _ = astronaut_head()
    enroll(
        ASTRONAUT,
        [np.ascontiguousarray(head)],
        store,
        vault,
        embedder,
        lambda frame: np.asarray(detector.detect(frame).xyxy, dtype=np.float32),
    )
    return record


def pipeline(detector: Any, gate: Any) -> FrameProtector:
    """The live (every-frame) schedule, so each frame's decision is visible at once."""
    return FrameProtector(detector, Redactor(), FaceTracker(), visibility=gate)


def enrolled_gate(
    vault: TemplateVault, store: ConsentStore, embedder: FaceEmbedder
) -> EnrolledFaceGate:
    return EnrolledFaceGate(ConsentedFaces(vault, store, PURPOSE), embedder)


# --- enrolled faces --------------------------------------------------------------------------


def test_enrolled_person_stays_visible_and_the_stranger_is_redacted(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    enrolled: ConsentRecord,
) -> None:
    """Redacted until three consistent samples of her track are in, visible from then on."""
    frames = pipeline(detector, enrolled_gate(vault, store, embedder))
    for index, shift in enumerate(range(0, 24, 3)):
        original, astro, stranger = two_people(shift)
        out = frames.protect(original.copy())
        assert is_redacted(out.image, original, stranger)
        assert out.visibility_error is None
        if index < 2:  # not enough evidence yet
            assert not out.kept and is_redacted(out.image, original, astro)
            continue
        assert is_visible(out.image, original, astro)
        assert out.kept == (KeptVisible(f"enrolled {ASTRONAUT}", enrolled.id),)
        assert len(out.visible) == 1 and len(out.regions) == 1


def test_withdrawal_redacts_from_the_next_frame_on(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    enrolled: ConsentRecord,
) -> None:
    frames = pipeline(detector, enrolled_gate(vault, store, embedder))
    seen: list[bool] = []
    for index in range(7):
        original, astro, _ = two_people(index * 2)
        if index == 4:
            store.withdraw(enrolled.id)
        out = frames.protect(original.copy())
        seen.append(is_visible(out.image, original, astro))
        if index >= 4:
            assert is_redacted(out.image, original, astro) and not out.kept
    assert seen == [False, False, True, True, False, False, False]


def test_strangers_leave_no_trace(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    sink: AuditLog,
    enrolled: ConsentRecord,
) -> None:
    """Nobody but the enrolled person is kept; nothing about the others is stored or logged."""
    before_log, before_vault = sink.size(), vault.count()
    frames = pipeline(detector, enrolled_gate(vault, store, embedder))
    original, _, stranger = two_people()
    alone = background(640, 360)
    head, _ = _cameraman_head()
    paste(alone, head, 400, 60)
    for image in (alone, original):
        out = frames.protect(image.copy())
        assert is_redacted(out.image, image, stranger)
    assert sink.size() == before_log and vault.count() == before_vault


def test_small_faces_are_never_recognised(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    enrolled: ConsentRecord,
) -> None:
    original, _, _ = two_people(scale=0.3)  # faces about 35 px tall
    gate = EnrolledFaceGate(ConsentedFaces(vault, store, PURPOSE), embedder)
    out = pipeline(detector, gate).protect(original.copy())
    assert out.detected == 2 and not out.kept
    assert len(out.regions) == 2


def test_a_failing_consent_check_redacts_every_face(
    detector: Any,
    embedder: FaceEmbedder,
    engine: Engine,
    store: ConsentStore,
    enrolled: ConsentRecord,
) -> None:
    """The vault opened with the wrong key cannot answer: nobody stays visible."""
    wrong = TemplateVault(engine, VaultKeyring.from_key(b"k" * 32))
    gate = EnrolledFaceGate(ConsentedFaces(wrong, store, PURPOSE), embedder)
    frames = pipeline(detector, gate)
    for shift in range(3):  # the third sample calls for a decision: the vault cannot open
        original, astro, stranger = two_people(shift)
        out = frames.protect(original.copy())
    assert out.visibility_error and "Vault" in out.visibility_error
    assert not out.kept and is_redacted(out.image, original, astro)
    assert is_redacted(out.image, original, stranger)


# --- the pipeline's rules, with scripted gates -----------------------------------------------


class KeepAll:
    """Keeps every face offered: only detections may ever be offered."""

    def __init__(self) -> None:
        self.offered: list[int] = []

    def visible(self, frame: Frame, faces: Detections, index: int) -> Mapping[int, KeptVisible]:
        self.offered.append(len(faces))
        return {i: KeptVisible("scripted", "consent-1") for i in range(len(faces))}


class Gap:
    """Finds one face in every frame except those listed (a detection gap)."""

    def __init__(self, box: Box, missing: set[int]) -> None:
        self.box, self.missing, self.calls = box, missing, -1

    def detect(self, frame: Frame) -> Detections:
        self.calls += 1
        if self.calls in self.missing:
            return Detections.empty()
        return Detections.from_boxes([self.box], scores=[0.9])

    def describe(self) -> dict[str, object]:
        return {"name": "gap"}


def test_predicted_boxes_are_redacted_even_for_kept_tracks() -> None:
    frames = FrameProtector(
        cast(Any, Gap((40, 30, 90, 100), {2})), Redactor(), FaceTracker(), visibility=KeepAll()
    )
    out = [frames.protect(np.full((160, 200, 3), 120, np.uint8)) for _ in range(4)]
    assert [len(f.kept) for f in out] == [1, 1, 0, 1]
    assert [f.regions.sources for f in out] == [[], [], ["predicted"], []]


def test_lookback_boxes_are_redacted_even_for_kept_tracks() -> None:
    frames = FrameProtector(
        cast(Any, Gap((40, 30, 90, 100), {0, 1})),
        Redactor(),
        FaceTracker(),
        lookback=2,
        visibility=KeepAll(),
    )
    done: list[ProtectedFrame] = []
    for _ in range(4):
        done += frames.push_frames(np.full((160, 200, 3), 120, np.uint8))
    done += frames.flush_frames()
    assert [f.regions.sources for f in done] == [["lookback"], ["lookback"], [], []]
    assert [len(f.kept) for f in done] == [0, 0, 1, 1]


class Wrong:
    def __init__(self, answer: Mapping[int, Any]) -> None:
        self.answer = answer

    def visible(self, frame: Frame, faces: Detections, index: int) -> Mapping[int, Any]:
        return self.answer


@pytest.mark.parametrize("answer", [{3: KeptVisible("x")}, {0: KeptVisible("")}])
def test_a_gate_answer_that_makes_no_sense_redacts_every_face(answer: Mapping[int, Any]) -> None:
    frames = FrameProtector(
        cast(Any, Gap((40, 30, 90, 100), set())), Redactor(), visibility=Wrong(answer)
    )
    out = frames.protect(np.full((160, 200, 3), 120, np.uint8))
    assert not out.kept and len(out.regions) == 1 and out.visibility_error


def test_keep_visible_option_parsing() -> None:
    assert parse_keep_visible(["enrolled,badges", "enrolled"]) == (
        KeepVisible.ENROLLED,
        KeepVisible.BADGES,
    )
    with pytest.raises(Exception, match="unknown 'faces'"):
        parse_keep_visible(["faces"])


# --- badges ----------------------------------------------------------------------------------


def badge_scene(badge: Frame) -> tuple[Frame, Box, Box]:
    """Two astronauts at 2x on a 1280x720 scene, the badge worn by the right one."""
    frame = background(1280, 720)
    head, face = astronaut_head()
    big = np.ascontiguousarray(cv2.resize(head, None, fx=2, fy=2))
    boxes = []
    for x in (150, 800):
        paste(frame, big, x, 20)
        boxes.append((x + face[0] * 2, 20 + face[1] * 2, x + face[2] * 2, 20 + face[3] * 2))
    chin = int(boxes[1][3])
    width = 220
    height = round(badge.shape[0] * width / badge.shape[1])
    small = cv2.resize(badge, (width, height), interpolation=cv2.INTER_AREA)
    centre = round((boxes[1][0] + boxes[1][2]) / 2)
    paste(frame, np.ascontiguousarray(small), centre - width // 2, chin + 30)
    return frame, boxes[0], boxes[1]


@pytest.mark.parametrize("kind", ["qr", "aruco"])
def test_badge_shown_stays_visible_and_revocation_applies_next_frame(
    kind: str, detector: Any, store: ConsentStore, sink: AuditLog, tmp_path: Path
) -> None:
    record = store.grant("ds-badge", [Scope.RECORD_VIDEO])
    registry = BadgeRegistry(tmp_path / "badges.json", sink=sink)
    token = registry.issue(record.id, kind=kind)  # type: ignore[arg-type]
    key = signing_key()
    original, stranger, wearer = badge_scene(render_badge(token, key))
    gate = BadgeGate(BadgeConsent(store, registry, key.public_key()))
    frames = pipeline(detector, gate)
    for index in range(4):
        if index == 2:
            registry.revoke(token.token_id)
        out = frames.protect(original.copy())
        assert is_redacted(out.image, original, stranger)
        if index < 2:
            assert is_visible(out.image, original, wearer)
            assert [k.consent_id for k in out.kept] == [record.id]
        else:
            assert is_redacted(out.image, original, wearer) and not out.kept
    assert gate.searches == 1  # the frame was searched once; the token checked every frame
    types = [e.event.type for e in sink.entries()]
    assert EventType.BADGE_ISSUED in types and EventType.BADGE_REVOKED in types


def test_either_way_of_consenting_is_enough(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    enrolled: ConsentRecord,
    tmp_path: Path,
) -> None:
    """With both gates, the enrolled astronaut stays visible though she wears no badge."""
    registry = BadgeRegistry(tmp_path / "badges.json")
    badges = BadgeGate(BadgeConsent(store, registry, signing_key().public_key()))
    gate = AnyOf([badges, enrolled_gate(vault, store, embedder)])
    frames = pipeline(detector, gate)
    for shift in range(4):
        original, astro, stranger = two_people(shift)
        out = frames.protect(original.copy())
    assert is_visible(out.image, original, astro) and is_redacted(out.image, original, stranger)


# --- face data never leaves the device -------------------------------------------------------


def test_an_enrolled_template_cannot_leave_the_device(
    vault: TemplateVault, store: ConsentStore, sink: AuditLog, enrolled: ConsentRecord
) -> None:
    (template,) = vault.templates()
    with pytest.raises(TemplateExportRefused):
        vault.export(template.template_id, destination="https://cloud.example.com")
    gate = EgressGate(store, sink, home_country="CN")
    sent: list[bool] = []
    cloud = Destination("faces.example.cn", "CN", Purpose.STORAGE)
    with pytest.raises(EgressDenied, match="face-cloud-transfer"):
        gate.send(cloud, [DataKind.FACE_TEMPLATE], [ASTRONAUT], lambda: sent.append(True))
    assert not sent
    types = [e.event.type for e in sink.entries()]
    assert EventType.TEMPLATE_ACCESS_REFUSED in types and EventType.EGRESS_DENIED in types


# --- the commands ----------------------------------------------------------------------------


@pytest.fixture()
def cli_enrolled(home: Path, tmp_path: Path) -> Iterator[str]:
    """The astronaut enrolled through the CLI in the default store; yields the consent id."""
    engine = make_engine()
    init_db(engine)
    record = ConsentStore(engine).grant(
        ASTRONAUT, [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE
    )
    engine.dispose()
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut_head()[0]).save(photo)
    result = runner.invoke(app, ["enroll", "add", ASTRONAUT, "--photo", str(photo)])
    assert result.exit_code == 0, result.output
    yield record.id


def test_protect_keeps_the_enrolled_person_visible_and_says_why(
    home: Path, tmp_path: Path, cli_enrolled: str
) -> None:
    scenes = [two_people(shift) for shift in range(0, 40, 2)]
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [s[0] for s in scenes], fps=12, audio=False)
    out, report = tmp_path / "out.mp4", tmp_path / "report.json"
    args = ["protect", str(clip), "-o", str(out), "--keep-visible", "enrolled"]
    result = runner.invoke(app, [*args, "--report", str(report), "--preset", "accurate"])
    assert result.exit_code == 0, result.output
    assert "kept visible" in result.output

    item = json.loads(report.read_text())["items"][0]
    assert item["consents"] == [cli_enrolled]
    # three samples of her track, embedded in the child while frames go on (at most
    # FILE_MAX_LAG frames late each), before she is kept visible
    assert item["summary"]["faces_kept_visible"] >= len(scenes) - 3 * (FILE_MAX_LAG + 1)
    assert {v["reason"] for f in item["frames"] for v in f["visible"]} == {f"enrolled {ASTRONAUT}"}
    recorded = decode_frames(out)
    source = decode_frames(clip)
    both = list(zip(recorded, source, scenes, strict=True))
    for frame, original, (_, _, stranger) in both:
        assert is_redacted(frame, original, stranger)
    kept = item["summary"]["faces_kept_visible"]
    shown = sum(is_visible(frame, original, astro) for frame, original, (_, astro, _) in both)
    assert shown == kept

    # the signed manifest names the consent and counts the faces kept visible
    root = home / "provenance" / "root-ca.pem"
    verify = runner.invoke(app, ["verify", str(out), "--trust", str(root), "--json"])
    assert verify.exit_code == 0, verify.output
    (signed,) = json.loads(verify.stdout)
    protection = signed["assertions"]["org.bystander.protection"]
    assert protection["keep_visible"] == ["enrolled"]
    assert protection["faces_kept_visible"] == item["summary"]["faces_kept_visible"]
    records = signed["assertions"]["org.bystander.consent"]["records"]
    assert [r.get("record_id") for r in records] == [cli_enrolled]


def test_protect_rejects_an_unknown_keep_visible(home: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [two_people()[0]] * 2, fps=12, audio=False)
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["protect", str(clip), "-o", str(out), "--keep-visible", "all"])
    assert result.exit_code != 0 and "--keep-visible" in result.output
    assert not out.exists()


def test_capture_keeps_the_enrolled_person_visible(
    home: Path, tmp_path: Path, cli_enrolled: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recognition loads its models at the first face (seconds): a live feed would drop the
    # frames behind it. This test is about who stays visible, so the clip is never dropped.
    monkeypatch.setattr(live, "MAX_AGE_FRAMES", 10**6)
    monkeypatch.setattr(live, "QUEUE_SIZE", 10**4)
    engine = make_engine()
    ConsentStore(engine).grant("wearer-1", [Scope.RECORD_VIDEO], kind=ConsentKind.EXPLICIT)
    engine.dispose()
    scenes = [two_people(shift) for shift in range(0, 40, 1)]
    clip = tmp_path / "scene.mp4"
    write_clip(clip, [s[0] for s in scenes], fps=20, audio=False)
    out = tmp_path / "rec.mp4"
    args = ["capture", "--profile", str(PROFILE), "--source", str(clip), "-o", str(out)]
    result = runner.invoke(app, [*args, "--keep-visible", "enrolled"])
    assert result.exit_code == 0, result.output
    source = decode_frames(clip)
    pairs = align(out, clip, fps=20)
    for frame, index in pairs[-5:]:  # live capture may drop frames
        _, astro, stranger = scenes[index]
        assert is_visible(frame, source[index], astro)
        assert is_redacted(frame, source[index], stranger)

    root = home / "provenance" / "root-ca.pem"
    verify = runner.invoke(app, ["verify", str(out), "--trust", str(root), "--json"])
    (signed,) = json.loads(verify.stdout)
    assert signed["assertions"]["org.bystander.protection"]["faces_kept_visible"] > 0
    ids = [r.get("record_id") for r in signed["assertions"]["org.bystander.consent"]["records"]]
    assert cli_enrolled in ids


def test_badge_commands_are_audit_events(home: Path, tmp_path: Path) -> None:
    engine = make_engine()
    init_db(engine)
    record = ConsentStore(engine).grant("ds-b", [Scope.RECORD_VIDEO])
    issued = runner.invoke(
        app, ["badge", "issue", record.id, "-o", str(tmp_path / "b.png"), "--json"]
    )
    assert issued.exit_code == 0, issued.output
    token = json.loads(issued.stdout)["token_id"]
    revoked = runner.invoke(app, ["badge", "revoke", token])
    assert revoked.exit_code == 0, revoked.output
    events = [e.event for e in AuditLog(engine).entries()]
    engine.dispose()
    badge = [(e.type, e.data["token_id"]) for e in events if e.type.startswith("badge.")]
    assert badge == [(EventType.BADGE_ISSUED, token), (EventType.BADGE_REVOKED, token)]
    assert all(e.data["consent_id"] == record.id for e in events if e.type.startswith("badge."))


def test_frames_are_judged_at_their_own_time(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    enrolled: ConsentRecord,
) -> None:
    """A clock before the consent was given keeps nobody visible."""
    before = datetime.now(UTC) - timedelta(days=1)
    gate = EnrolledFaceGate(ConsentedFaces(vault, store, PURPOSE), embedder, clock=lambda: before)
    original, astro, _ = two_people()
    out = pipeline(detector, gate).protect(original.copy())
    assert not out.kept and is_redacted(out.image, original, astro)


def test_the_embedder_process_agrees_with_in_process_and_recovers(
    detector: Any, embedder: FaceEmbedder
) -> None:
    """dlib runs in a child (it never releases the GIL); a dead child is replaced."""
    frame, _, _ = two_people()
    boxes = detector.detect(frame).xyxy
    local = embedder.embed(frame, boxes)
    with ProcessEmbedder() as remote:
        assert np.linalg.norm(remote.embed(frame, boxes) - local, axis=1).max() < 0.01
        process = remote._process
        assert process is not None
        process.kill()
        process.join()
        assert np.linalg.norm(remote.embed(frame, boxes) - local, axis=1).max() < 0.01
        assert remote._process is not None and remote._process.pid != process.pid
        with pytest.raises(EmbedderError, match="outside the frame"):
            remote.embed(frame, [[700, 400, 800, 500]])


def test_a_decided_track_is_not_embedded_again_until_a_doubt(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    enrolled: ConsentRecord,
) -> None:
    """Once decided, a track costs no embedding while it holds; a cut to a stranger in the
    same place (the tracker keeps the track) is a doubt: redacted at once, and the
    stranger's own samples never make the track acceptable again."""
    gate = enrolled_gate(vault, store, embedder)
    frames = pipeline(detector, gate)
    for shift in range(12):
        original, astro, _ = two_people(shift)
        out = frames.protect(original.copy())
        assert is_visible(out.image, original, astro) == (shift >= 2)
    (astro_track,) = out.visible.track_ids.tolist()
    # her track: 3 samples, then decided; the stranger's: 3 samples, then far from everyone
    # enrolled (sampled again only every 30 frames) -- never accepted
    assert gate.embedded == 3 + 3
    before = gate.embedded

    cut = background(640, 360)
    head, _ = _cameraman_head()
    # the stranger's face lands where the astronaut's was: same track, different person
    x = round(astro[0] - _CAMERA_FACE[0] + _CAMERA_HEAD[0])
    y = round(astro[1] - _CAMERA_FACE[1] + _CAMERA_HEAD[1])
    paste(cut, head, x, y)
    for _ in range(8):
        out = frames.protect(cut.copy())
        assert not out.kept and out.detected == 1
    sources = zip(out.regions.track_ids, out.regions.sources, strict=True)
    detected = [t for t, s in sources if s == "detected"]
    assert detected == [astro_track]  # the tracker took the stranger for the same track
    assert gate.embedded > before  # the doubted track was sampled afresh


def test_several_untracked_faces_are_judged_one_by_one(
    detector: Any,
    embedder: FaceEmbedder,
    vault: TemplateVault,
    store: ConsentStore,
    enrolled: ConsentRecord,
) -> None:
    """Images have no tracker: each face gets its own answer."""
    original, astro, stranger = two_people()
    gate = enrolled_gate(vault, store, embedder)
    out = FrameProtector(detector, Redactor(), visibility=gate).protect(original.copy())
    assert is_visible(out.image, original, astro) and is_redacted(out.image, original, stranger)
