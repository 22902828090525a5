"""The keyframe schedule: full-frame search every Nth frame, region search in between.

Scripted detectors exercise the pipeline's decisions (which search runs when, what is
carried back, what starts a track); the real model's region search is checked at the end.
"""

from __future__ import annotations

import numpy as np
import pytest

from bystander.measure.evaluation import box_coverage
from bystander.measure.synthetic import moving_face_frames
from bystander.vision.detections import SOURCE_LOOKBACK, Detections
from bystander.vision.detectors.centerface import ROI_SIDE, CenterFace
from bystander.vision.pipeline import FrameProtector, RegionDetector
from bystander.vision.redact import Redactor
from bystander.vision.tracker import FaceTracker

Box = list[float]


class MovingFaces:
    """A detector stand-in that knows where faces are in each frame (by frame number).

    ``detect`` reports every face; ``detect_regions`` only faces whose centre lies inside
    one of the searched regions (widened 3x, like CenterFace's crops).
    """

    name = "moving"
    region_pixels = 32 * 32

    def __init__(self, faces: dict[int, list[Box]]) -> None:
        self.faces = faces
        self.frame = -1
        self.full_calls: list[int] = []
        self.region_calls: list[tuple[int, int]] = []

    def at(self, frame: np.ndarray) -> int:
        return int(frame[0, 0, 0])  # the frame number is painted into its first pixel

    def detect(self, frame: np.ndarray) -> Detections:
        index = self.at(frame)
        self.full_calls.append(index)
        boxes = self.faces.get(index, [])
        return Detections.from_boxes(boxes, scores=[0.9] * len(boxes))

    def detect_regions(self, frame: np.ndarray, regions: np.ndarray) -> Detections:
        index = self.at(frame)
        self.region_calls.append((index, len(regions)))
        found = []
        for box in self.faces.get(index, []):
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            for x1, y1, x2, y2 in regions.tolist():
                w, h = x2 - x1, y2 - y1
                if x1 - w <= cx <= x2 + w and y1 - h <= cy <= y2 + h:
                    found.append(box)
                    break
        return Detections.from_boxes(found, scores=[0.9] * len(found))

    def describe(self) -> dict[str, object]:
        return {"name": self.name}


def numbered_frames(n: int) -> list[np.ndarray]:
    out = []
    for index in range(n):
        frame = np.full((120, 200, 3), 90, dtype=np.uint8)
        frame[0, 0, 0] = index
        out.append(frame)
    return out


def run(protector: FrameProtector, n: int) -> list:
    done = []
    for frame in numbered_frames(n):
        done.extend(protector.push_frames(frame))
    return done + protector.flush_frames()


def walking(first: int, last: int, step: float = 6.0) -> dict[int, list[Box]]:
    """One 20 px face walking right ``step`` px per frame from frame ``first`` on."""
    return {i: [[10 + step * i, 40, 30 + step * i, 60]] for i in range(first, last)}


def test_detector_protocol() -> None:
    assert isinstance(MovingFaces({}), RegionDetector)
    assert issubclass(CenterFace, object) and CenterFace.region_pixels == ROI_SIDE**2


def test_full_search_only_on_keyframes_and_regions_between() -> None:
    detector = MovingFaces(walking(0, 12))
    protector = FrameProtector(detector, tracker=FaceTracker(), lookback=3, keyframe_interval=4)
    done = run(protector, 12)
    assert detector.full_calls == [0, 4, 8, 11]  # and the stream's last frame, at its end
    assert [index for index, _ in detector.region_calls] == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    assert all(count == 1 for _, count in detector.region_calls)
    # the walking face is found in every frame, by one search or the other
    assert [f.detected for f in done] == [1] * 12


def test_face_appearing_between_keyframes_is_carried_back_along_its_motion() -> None:
    faces = walking(5, 12, step=8.0)  # appears at frame 5; keyframes are 0, 4, 8
    detector = MovingFaces(faces)
    protector = FrameProtector(detector, tracker=FaceTracker(), lookback=3, keyframe_interval=4)
    done = run(protector, 12)
    redactor = Redactor()
    for frame in done[5:]:
        mask = redactor.mask(frame.regions, frame.image.shape)
        coverage = box_coverage(mask, faces[frame.index][0])
        assert coverage is not None and coverage >= 0.99, frame.index
    # frames 5-7 were redacted by carrying the track back, at the re-found (moving) boxes
    for index in (5, 6, 7):
        sources = done[index].regions.sources
        assert SOURCE_LOOKBACK in sources
    carried = done[5].regions.xyxy[done[5].regions.sources.index(SOURCE_LOOKBACK)]
    assert carried.tolist() == pytest.approx(faces[5][0])
    # frames 5-7 had no track to search; the carry-back searched them, newest first
    assert [i for i, _ in detector.region_calls if i in (5, 6, 7)] == [7, 6, 5]


def test_region_detections_start_no_track() -> None:
    # frame 1 (a region frame) shows a second face next to the tracked one: it is
    # redacted there but no track starts until the keyframe finds it
    faces = {0: [[20, 40, 40, 60]], 1: [[20, 40, 40, 60], [44, 40, 64, 60]]}
    detector = MovingFaces(faces)
    tracker = FaceTracker()
    protector = FrameProtector(detector, tracker=tracker, lookback=2, keyframe_interval=3)
    done = run(protector, 2)
    assert done[1].detected == 2 and len(done[1].regions) >= 2
    assert tracker.total_tracks == 1


def test_many_tracks_switch_to_a_full_search() -> None:
    faces = {i: [[x, 40, x + 10, 50] for x in range(0, 200, 12)] for i in range(4)}
    detector = MovingFaces(faces)
    detector.region_pixels = 120 * 200  # one region costs a whole frame here
    protector = FrameProtector(detector, tracker=FaceTracker(), lookback=3, keyframe_interval=4)
    run(protector, 4)
    assert detector.full_calls == [0, 1, 2, 3] and detector.region_calls == []


def test_lookback_must_cover_the_keyframe_gap() -> None:
    with pytest.raises(ValueError, match="lookback"):
        FrameProtector(MovingFaces({}), tracker=FaceTracker(), lookback=2, keyframe_interval=4)


def test_without_a_tracker_every_frame_is_a_keyframe() -> None:
    detector = MovingFaces(walking(0, 3))
    protector = FrameProtector(detector, keyframe_interval=4)
    run(protector, 3)
    assert detector.full_calls == [0, 1, 2] and detector.region_calls == []


def test_region_search_failure_redacts_the_frame() -> None:
    class Failing(MovingFaces):
        def detect_regions(self, frame: np.ndarray, regions: np.ndarray) -> Detections:
            raise RuntimeError("region model crashed")

    protector = FrameProtector(
        Failing(walking(0, 3)), tracker=FaceTracker(), lookback=1, keyframe_interval=2
    )
    done = run(protector, 3)
    assert not done[0].whole_frame and done[1].whole_frame and not done[2].whole_frame
    assert "region model crashed" in (done[1].error or "")


# ------------------------------------------------------------------ the real model


@pytest.fixture(scope="module")
def centerface() -> CenterFace:
    return CenterFace()


def test_real_region_search_matches_the_full_search(centerface: CenterFace) -> None:
    images, boxes = moving_face_frames(1280, 720, 6, min_face=24, max_face=160)
    for image, truth in zip(images[1:], boxes[1:], strict=True):
        full = centerface.detect(image)
        near = centerface.detect_regions(image, np.array([truth], dtype=np.float32))
        assert len(full) == 1 and len(near) == 1
        assert np.abs(full.xyxy[0] - near.xyxy[0]).max() <= 0.1 * (truth[3] - truth[1]) + 4


def test_real_region_search_far_from_the_face_finds_nothing(centerface: CenterFace) -> None:
    images, boxes = moving_face_frames(1280, 720, 3, min_face=40, max_face=41)
    x1, y1, x2, y2 = boxes[1]
    elsewhere = np.array([[x1 + 600, y1 + 300, x2 + 600, y2 + 300]], dtype=np.float32)
    assert len(centerface.detect_regions(images[1], elsewhere)) == 0


def test_real_region_search_drops_faces_cut_by_the_crop(centerface: CenterFace) -> None:
    images, boxes = moving_face_frames(1280, 720, 3, min_face=60, max_face=61)
    x1, y1, x2, _y2 = boxes[1]
    # a small region beside the face: its crop holds only part of the face
    beside = np.array([[x2 + 70, y1, x2 + 80, y1 + 10]], dtype=np.float32)
    found = centerface.detect_regions(images[1], beside)
    assert all(box[0] >= x1 - 8 for box in found.xyxy)
    assert all((box[2] - box[0]) >= 0.8 * (x2 - x1) for box in found.xyxy)


def test_cli_rejects_a_lookback_shorter_than_the_keyframe_gap(tmp_path) -> None:
    from bystander.cli.app import app
    from tests.helpers import runner

    result = runner.invoke(
        app,
        [
            "protect",
            str(tmp_path / "in.mp4"),
            "-o",
            str(tmp_path / "out.mp4"),
            "--keyframe-interval",
            "8",
            "--lookback",
            "3",
        ],
    )
    assert result.exit_code == 1
    assert "--lookback must be at least 7" in result.output


def test_presets_map_to_keyframe_intervals() -> None:
    from bystander.jobs.protect import DEFAULT_PRESET, Preset, ProtectSettings

    assert [p.keyframe_interval for p in Preset] == [1, 3, 5]
    assert ProtectSettings().keyframe_interval == DEFAULT_PRESET.keyframe_interval
    assert ProtectSettings().preset == DEFAULT_PRESET.value == "realtime"
    slow = ProtectSettings.from_preset("accurate")
    assert slow.keyframe_interval == 1 and slow.describe()["preset"] == "accurate"
    assert ProtectSettings(keyframe_interval=7, lookback=6).preset is None


def test_a_face_that_appears_after_the_last_keyframe_is_found_at_the_end() -> None:
    # 13 frames, keyframes 0, 5, 10: a face appears at frame 11 and no keyframe follows
    box = [60.0, 40.0, 90.0, 80.0]
    faces = {i: [box] for i in (11, 12)}
    detector = MovingFaces(faces)
    protector = FrameProtector(
        detector, tracker=FaceTracker(), lookback=4, keyframe_interval=5
    )
    done = run(protector, 13)
    assert [f.index for f in done] == list(range(13))
    assert 12 in detector.full_calls  # the stream's end was searched in full
    for frame in done[11:]:
        assert len(frame.regions) >= 1
        assert box_coverage(Redactor().mask(frame.regions, frame.image.shape), box) > 0.99
    assert all(len(f.regions) == 0 for f in done[:11])


def test_a_detector_failure_at_the_end_redacts_the_unsearched_frames() -> None:
    class FailsAtTheEnd(MovingFaces):
        def detect(self, frame: np.ndarray) -> Detections:
            if self.at(frame) == 12:
                raise RuntimeError("boom")
            return super().detect(frame)

    protector = FrameProtector(
        FailsAtTheEnd({}), tracker=FaceTracker(), lookback=4, keyframe_interval=5
    )
    done = run(protector, 13)
    assert [f.whole_frame for f in done] == [False] * 11 + [True, True]


def test_a_cut_is_searched_in_full_at_once() -> None:
    # frames 0-6 dark, 7-12 bright (a cut at 7, between keyframes 5 and 10)
    frames = numbered_frames(13)
    for frame in frames[7:]:
        frame[1:] = 220
    box = [60.0, 40.0, 90.0, 80.0]
    detector = MovingFaces({i: [box] for i in range(7, 13)})
    protector = FrameProtector(detector, tracker=FaceTracker(), lookback=4, keyframe_interval=5)
    done = []
    for frame in frames:
        done.extend(protector.push_frames(frame))
    done += protector.flush_frames()
    assert detector.full_calls[:3] == [0, 5, 7] and protector.cuts == 1
    for frame in done[7:]:
        assert box_coverage(Redactor().mask(frame.regions, frame.image.shape), box) > 0.99
