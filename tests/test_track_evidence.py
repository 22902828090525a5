"""Per-track decisions: evidence from several samples, doubts, sampling schedule, and
enrolment from several photos or a short video.

Real faces (scikit-image's astronaut, enrolled; the cameraman, a stranger), the real dlib
embedder, vault and consent store; the frames of the crossing test go through the real
detector and tracker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from sqlalchemy import Engine

from bystander.cli.app import app
from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.db import init_db, make_engine
from bystander.evidence.vault import TemplateVault, VaultKeyring
from bystander.measure.synthetic import astronaut_head, background, paste, write_clip
from bystander.recognition import ConsentedFaces, EmbedderError, FaceEmbedder
from bystander.recognition.background import BackgroundSamples, InlineSamples
from bystander.recognition.enrolment import (
    EnrolmentError,
    Samples,
    enroll_samples,
    photo_samples,
    video_samples,
)
from bystander.recognition.quality import FaceQuality, yaw_of
from bystander.recognition.tracks import TrackJudge, TrackRules, near
from bystander.recognition.worker import ProcessEmbedder
from bystander.visibility import EnrolledFaceGate
from bystander.vision.detections import Detections
from bystander.vision.detectors import create_detector
from bystander.vision.pipeline import FrameProtector
from bystander.vision.redact import Redactor
from bystander.vision.tracker import FaceTracker
from tests.helpers import crop, runner, sharpness
from tests.test_keep_visible import _cameraman_head, is_redacted, is_visible, two_people

Frame = npt.NDArray[np.uint8]
PURPOSE = "consent_recognition"
ASTRONAUT = "ds-astro"


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder()


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("centerface")


def _find(detector: Any) -> Any:
    return lambda frame: np.asarray(detector.detect(frame).xyxy, dtype=np.float32)


class World:
    def __init__(self, engine: Engine) -> None:
        self.consents = ConsentStore(engine)
        self.vault = TemplateVault(engine, VaultKeyring.from_key(bytes(range(32))))
        self.faces = ConsentedFaces(self.vault, self.consents, PURPOSE)

    def enroll(self, subject: str, samples: Samples) -> str:
        record = self.consents.grant(subject, [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE)
        enroll_samples(subject, samples, self.consents, self.vault, purpose=PURPOSE)
        return record.id


@pytest.fixture()
def world(engine: Engine) -> World:
    return World(engine)


def _astro_samples(embedder: FaceEmbedder, detector: Any) -> list[tuple[Frame, Detections]]:
    """The astronaut's scene moved a little each time: (frame, her face as a detection)."""
    out = []
    for shift in range(0, 24, 3):
        frame, astro, _ = two_people(shift)
        found = detector.detect(frame)
        row = int(np.argmin(np.abs(found.xyxy[:, 0] - astro[0])))
        out.append((frame, found[np.array([row])]))
    return out


def _enrolled_astronaut(world: World, embedder: FaceEmbedder, detector: Any) -> str:
    head, _ = astronaut_head()
    return world.enroll(ASTRONAUT, photo_samples([head], embedder, _find(detector)))


# --- quality -------------------------------------------------------------------------------


def test_quality_weighs_size_sharpness_and_pose() -> None:
    assert FaceQuality(120, 300, 0.0).weight == pytest.approx(1.0)
    assert FaceQuality(40, 300, 0.0).weight == pytest.approx(0.1)
    assert FaceQuality(120, 300, 0.25).weight == pytest.approx(0.5)
    assert FaceQuality(120, 300, -0.6).weight == 0.0  # a profile view does not count
    assert FaceQuality(120, 5, 0.0).weight == pytest.approx(0.1)  # blurred (or redacted)
    # the nose half an eye distance to the side: turned
    eyes_nose = np.array([[10, 0], [20, 0], [40, 0], [50, 0], [45, 20]], float)
    assert yaw_of(eyes_nose) == pytest.approx(0.5)


def test_a_redacted_or_blurred_face_weighs_little(embedder: FaceEmbedder, detector: Any) -> None:
    """A face redacted by the pipeline (or badly out of focus) is no evidence of anyone."""
    frame, astro, _ = two_people()
    faces = detector.detect(frame)
    faces = faces[np.array([int(np.argmin(np.abs(faces.xyxy[:, 0] - astro[0])))])]
    _, sharp = embedder.embed_samples(frame, faces.xyxy)
    redacted = frame.copy()
    Redactor().apply(redacted, faces)
    _, hidden = embedder.embed_samples(redacted, faces.xyxy)
    _, blurred = embedder.embed_samples(cv2.GaussianBlur(frame, (31, 31), 0), faces.xyxy)
    assert FaceQuality.from_row(sharp[0]).weight > 0.5
    assert FaceQuality.from_row(hidden[0]).weight < TrackRules().min_weight
    assert FaceQuality.from_row(blurred[0]).weight < 0.5 * FaceQuality.from_row(sharp[0]).weight


# --- evidence --------------------------------------------------------------------------------


def _feed(
    judge: TrackJudge, embedder: FaceEmbedder, frame: Frame, faces: Detections, index: int
) -> None:
    judge.observe(frame, faces, [0], index)
    rows = judge.due([0], faces, index)
    if rows:
        tags = judge.tags(rows, faces, index)
        vectors, quality = embedder.embed_samples(frame, faces.xyxy[rows])
        judge.add(tags, vectors, quality, index)


def _tracked(faces: Detections, track: int = 7) -> Detections:
    return Detections(faces.xyxy, faces.scores, np.array([track]), ["detected"])


def test_accepted_after_three_consistent_samples(
    world: World, embedder: FaceEmbedder, detector: Any
) -> None:
    record = _enrolled_astronaut(world, embedder, detector)
    judge = TrackJudge(world.faces)
    decided = []
    for index, (frame, face) in enumerate(_astro_samples(embedder, detector)):
        _feed(judge, embedder, frame, _tracked(face), index)
        decided.append(bool(judge.verdicts([0], _tracked(face))))
    assert decided == [False, False] + [True] * (len(decided) - 2)
    (verdict,) = judge.verdicts([0], _tracked(face)).values()
    assert verdict.subject_id == ASTRONAUT and verdict.consent_id == record
    assert verdict.samples == 3 and verdict.distance < TrackRules().accept_distance


def test_a_stranger_track_is_never_accepted(
    world: World, embedder: FaceEmbedder, detector: Any
) -> None:
    _enrolled_astronaut(world, embedder, detector)
    judge = TrackJudge(world.faces)
    for index, shift in enumerate(range(0, 40, 2)):
        frame, _, stranger = two_people(shift)
        found = detector.detect(frame)
        row = int(np.argmin(np.abs(found.xyxy[:, 0] - stranger[0])))
        face = _tracked(found[np.array([row])])
        _feed(judge, embedder, frame, face, index)
        assert not judge.verdicts([0], face)
    assert judge.decisions >= 1  # he was looked at, refused, and is now a clear stranger
    assert [t.stranger for t in judge._tracks.values()] == [True]


def test_mixed_evidence_is_not_enough(world: World, embedder: FaceEmbedder, detector: Any) -> None:
    """Two samples of her and one of someone else on the same track: no decision."""
    _enrolled_astronaut(world, embedder, detector)
    judge = TrackJudge(world.faces, TrackRules(agree_share=1.0))
    (f0, a0), (f1, a1) = _astro_samples(embedder, detector)[:2]
    frame, _, stranger = two_people()
    found = detector.detect(frame)
    other = found[np.array([int(np.argmin(np.abs(found.xyxy[:, 0] - stranger[0])))])]
    face = _tracked(a0)
    judge.observe(f0, face, [0], 0)
    tags = judge.tags([0], face, 0) * 3
    vectors, quality = zip(
        *(embedder.embed_samples(f, d.xyxy) for f, d in ((f0, a0), (f1, a1), (frame, other))),
        strict=True,
    )
    judge.add(tags, np.concatenate(vectors), np.concatenate(quality), 0)
    assert not judge.verdicts([0], face)


def test_two_look_alike_subjects_accept_nobody(
    world: World, embedder: FaceEmbedder, detector: Any
) -> None:
    """A second enrolled subject as close as the first: when unsure, redact."""
    head, _ = astronaut_head()
    samples = photo_samples([head], embedder, _find(detector))
    world.enroll(ASTRONAUT, samples)
    twin = Samples(samples.vectors + np.float32(0.005), samples.weights)
    world.enroll("ds-twin", twin)
    judge = TrackJudge(world.faces)
    for index, (frame, face) in enumerate(_astro_samples(embedder, detector)):
        _feed(judge, embedder, frame, _tracked(face), index)
    assert judge.decisions > 0 and not judge.verdicts([0], _tracked(face))


def test_doubts_throw_the_evidence_away(
    world: World, embedder: FaceEmbedder, detector: Any
) -> None:
    _enrolled_astronaut(world, embedder, detector)
    scenes = _astro_samples(embedder, detector)
    judge = TrackJudge(world.faces)
    for index, (frame, face) in enumerate(scenes[:4]):
        _feed(judge, embedder, frame, _tracked(face), index)
    assert judge.verdicts([0], _tracked(face))

    # a gap (frame 4 missing): doubt, and a sample taken before it arrives too late
    stale = judge.tags([0], _tracked(face), 3)
    frame, face = scenes[4]
    judge.observe(frame, _tracked(face), [0], 5)
    assert judge.doubts["gap"] == 1 and not judge.verdicts([0], _tracked(face))
    vectors, quality = embedder.embed_samples(frame, face.xyxy)
    judge.add(stale, vectors, quality, 5)
    judge.add(stale, vectors, quality, 5)
    judge.add(stale, vectors, quality, 5)
    assert not judge.verdicts([0], _tracked(face))  # samples of the doubted stretch: dropped

    # another face of a similar size right next to it: doubt
    box = face.xyxy[0]
    neighbour = box + np.array([box[2] - box[0] + 5, 0, box[2] - box[0] + 5, 0], np.float32)
    both = Detections(np.stack([box, neighbour]), np.array([0.9, 0.9]), np.array([7, 8]),
                      ["detected", "detected"])
    judge.observe(frame, both, [0, 1], 6)
    assert judge.doubts["near"] == 1

    # a cut: a different picture in the same box
    judge.observe(cv2.flip(frame, 0), _tracked(face), [0], 7)
    assert judge.doubts["look"] == 1

    # a much smaller face takes the track over (a face behind it, a false detection)
    judge.observe(cv2.flip(frame, 0), _tracked(face), [0], 8)
    small = face.xyxy[0].copy()
    small[2:] = small[:2] + (small[2:] - small[:2]) * 0.4
    taken = Detections(small[None, :], np.array([0.9]), np.array([7]), ["detected"])
    judge.observe(cv2.flip(frame, 0), taken, [0], 9)
    assert judge.doubts["size"] == 1


def test_near_only_counts_faces_the_tracker_could_swap() -> None:
    face = np.array([100, 100, 200, 220], np.float32)
    assert near(face, np.array([210, 100, 310, 220], np.float32))  # same size, close
    assert near(face, np.array([150, 120, 250, 250], np.float32))  # same size, overlapping
    assert not near(face, np.array([210, 100, 240, 130], np.float32))  # small, apart
    assert not near(face, np.array([400, 100, 500, 220], np.float32))  # far
    # a small detection inside the face (a flower behind it): if it took the track over,
    # the track's size would change, a doubt of its own
    assert not near(face, np.array([180, 180, 210, 210], np.float32))


@pytest.mark.parametrize(
    "rules, expected",
    [
        # undecided: every frame until three samples, every other one until the window is
        # full, then every slow_every frames
        (TrackRules(window=5, slow_every=4, reject_distance=1.9), [0, 1, 2, 4, 6, 10, 14]),
        # far from everyone enrolled after three samples: a stranger, sampled rarely
        (TrackRules(window=5, slow_every=4, stranger_every=6), [0, 1, 2, 8, 14]),
    ],
)
def test_sampling_schedule(
    world: World, embedder: FaceEmbedder, detector: Any, rules: TrackRules, expected: list[int]
) -> None:
    _enrolled_astronaut(world, embedder, detector)
    frame, _, stranger = two_people()
    found = detector.detect(frame)
    face = _tracked(found[np.array([int(np.argmin(np.abs(found.xyxy[:, 0] - stranger[0])))])])
    judge = TrackJudge(world.faces, rules)
    sampled = []
    for index in range(16):
        judge.observe(frame, face, [0], index)
        if judge.due([0], face, index):
            sampled.append(index)
            tags = judge.tags([0], face, index)
            vectors, quality = embedder.embed_samples(frame, face.xyxy)
            judge.add(tags, vectors, quality, index)
    assert sampled == expected


# --- the gate, end to end --------------------------------------------------------------------


def crossing(step: int) -> tuple[Frame, tuple[float, ...], tuple[float, ...]]:
    """The astronaut walks right and the cameraman left; they cross in the middle (his head
    passes in front of hers)."""
    frame = background(640, 360)
    boxes = []
    ax, mx = 20 + step * 12, 470 - step * 12
    for (head, face), x in ((astronaut_head(), ax), (_cameraman_head(), mx)):
        paste(frame, head, x, 80)
        boxes.append((x + face[0], 80 + face[1], x + face[2], 80 + face[3]))
    return frame, boxes[0], boxes[1]


def test_crossing_faces_never_leave_the_stranger_visible(
    world: World, embedder: FaceEmbedder, detector: Any
) -> None:
    """Where the tracker may swap the two tracks, the stranger is never kept visible; the
    enrolled person is redacted while they overlap, and visible again afterwards."""
    _enrolled_astronaut(world, embedder, detector)
    gate = EnrolledFaceGate(world.faces, embedder)
    frames = FrameProtector(detector, Redactor(), FaceTracker(), visibility=gate)
    visible_astro = []
    for step in range(38):
        original, astro, man = crossing(step)
        out = frames.protect(original.copy())
        man_shown = sharpness(crop(out.image, man)) > 0.6 * sharpness(crop(original, man))
        assert not man_shown, f"the stranger was left visible in frame {step}"
        for kept in out.visible.xyxy:
            cx = (kept[0] + kept[2]) / 2
            assert abs(cx - (astro[0] + astro[2]) / 2) < abs(cx - (man[0] + man[2]) / 2)
        visible_astro.append(bool(len(out.visible)))
    assert any(visible_astro[:10]), "she was accepted before the crossing"
    assert any(visible_astro[-8:]), "and again after it"
    assert sum(gate.judge.doubts.values()) >= 1


def test_background_sampling_decides_like_inline(
    world: World, embedder: FaceEmbedder, detector: Any
) -> None:
    """Samples embedded in the child while frames go on; a batch awaited after max_lag."""
    _enrolled_astronaut(world, embedder, detector)
    with ProcessEmbedder() as child:
        gate = EnrolledFaceGate(world.faces, child, max_lag=0)
        assert isinstance(gate.samples, BackgroundSamples)
        frames = FrameProtector(detector, Redactor(), FaceTracker(), visibility=gate)
        seen = []
        for shift in range(8):
            original, astro, stranger = two_people(shift)
            out = frames.protect(original.copy())
            assert is_redacted(out.image, original, stranger)
            seen.append(is_visible(out.image, original, astro))
        # each batch is answered on the next frame: three samples by frame 3
        assert seen == [False, False, False] + [True] * 5


def test_background_samples_answer_later_and_survive_a_dead_child(embedder: FaceEmbedder) -> None:
    frame, _, _ = two_people()
    boxes = np.array([[60.0, 80.0, 200.0, 240.0]])
    local, _ = embedder.embed_samples(frame, boxes)
    with ProcessEmbedder() as child:
        queue: BackgroundSamples[str] = BackgroundSamples(child)
        assert queue.submit(frame, boxes, ["a"]) and queue.busy
        assert not queue.submit(frame, boxes, ["b"])  # one batch at a time
        answers = []
        while not answers:
            answers = queue.collect(wait_s=5.0)
        (answer,) = answers
        assert answer.tags == ("a",) and not queue.busy
        assert np.linalg.norm(answer.vectors - local) < 0.01
        assert queue.submit(frame, boxes, ["c"])
        process = child._process
        assert process is not None
        process.kill()
        process.join()
        with pytest.raises(EmbedderError):
            while not queue.collect(wait_s=1.0):
                pass
        assert not queue.busy and queue.submit(frame, boxes, ["d"])
        assert queue.collect(wait_s=30.0)[0].tags == ("d",)
    inline: InlineSamples[str] = InlineSamples(embedder)
    assert inline.submit(frame, boxes, ["e"]) and inline.collect()[0].tags == ("e",)


# --- enrolment from several samples ----------------------------------------------------------


def _astro_video(frames: int = 30) -> list[Frame]:
    head, _ = astronaut_head()
    out = []
    for index in range(frames):
        frame = background(480, 360)
        scale = 1.0 + 0.01 * index
        moved = np.ascontiguousarray(cv2.resize(head, None, fx=scale, fy=scale))
        paste(frame, moved, 100 + 3 * index, 60)
        out.append(frame)
    return out


def test_video_enrolment_keeps_the_best_samples_of_one_person(
    world: World, embedder: FaceEmbedder, detector: Any
) -> None:
    samples = video_samples(iter(_astro_video()), embedder, _find(detector))
    assert 3 <= len(samples.vectors) <= 12 and (samples.weights > 0.3).all()
    world.enroll(ASTRONAUT, samples)
    assert len(world.vault.templates()) == 1
    frame, _, _ = two_people()
    probe = embedder.embed(frame, detector.detect(frame).xyxy[:1])
    assert world.faces.identify(probe) == [ASTRONAUT]


def test_video_enrolment_refuses_a_second_person(embedder: FaceEmbedder, detector: Any) -> None:
    frames = _astro_video(12)
    frames[6] = two_people()[0]
    with pytest.raises(EnrolmentError, match="shows 2 faces"):
        video_samples(iter(frames), embedder, _find(detector))
    with pytest.raises(EnrolmentError, match="usable face frames"):
        video_samples(iter([background(320, 240)] * 9), embedder, _find(detector))


def test_video_enrolment_refuses_someone_else_in_some_frames(
    embedder: FaceEmbedder, detector: Any
) -> None:
    frames = _astro_video(30)
    man, _ = _cameraman_head()
    # large and sharp enough that his frames pass the sample-quality bar (a sample under it
    # is never used, so it could not end up in the template anyway)
    big = np.ascontiguousarray(cv2.resize(man, None, fx=1.5, fy=1.5))
    for index in range(0, 30, 2):  # the cameraman alone in every other frame
        frame = background(480, 360)
        paste(frame, big, 150, 60)
        frames[index] = frame
    with pytest.raises(EnrolmentError, match="look like another person"):
        video_samples(iter(frames), embedder, _find(detector))


def test_cli_enrolls_from_a_video(home: Path, tmp_path: Path) -> None:
    engine = make_engine()
    init_db(engine)
    ConsentStore(engine).grant(ASTRONAUT, [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE)
    engine.dispose()
    clip = tmp_path / "selfie.mp4"
    write_clip(clip, _astro_video(), fps=15, audio=False)
    photo = tmp_path / "astro.png"
    Image.fromarray(astronaut_head()[0]).save(photo)
    result = runner.invoke(
        app, ["enroll", "add", ASTRONAUT, "--video", str(clip), "--photo", str(photo), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"photos": ' in result.output
    missing = runner.invoke(app, ["enroll", "add", ASTRONAUT])
    assert missing.exit_code != 0 and "--photo or a --video" in missing.output
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    broken = runner.invoke(app, ["enroll", "add", ASTRONAUT, "--video", str(bad)])
    assert broken.exit_code != 0 and "--video" in broken.output
