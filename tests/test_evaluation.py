"""Coverage-recall metrics, the eval runner and `bystander eval`, on real face photos."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from bystander.cli.eval_cmd import parse_heights, parse_size, register
from bystander.errors import InputError
from bystander.jobs.protect import ProtectSettings
from bystander.measure.datasets import (
    AnnotatedImage,
    FaceBox,
    FaceDataset,
    paste_into,
    read_dataset,
)
from bystander.measure.evaluation import (
    BUCKETS,
    EvalResult,
    FaceScore,
    box_coverage,
    bucket_recalls,
    evaluate,
    face_mask,
    height_bucket,
    off_face_pixels,
    redaction_mask,
    score_faces,
)
from bystander.measure.synthetic import astronaut_head, background, paste
from bystander.vision.detections import Detections
from bystander.vision.detectors import FaceDetector, create_detector
from bystander.vision.pipeline import ProtectedFrame
from bystander.vision.redact import RedactionSettings, Redactor

DLIB_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "dlib-faces"
Frame = npt.NDArray[np.uint8]

# --------------------------------------------------------------------------- metric math


def test_half_covered_box_has_coverage_one_half() -> None:
    mask = np.zeros((40, 40), bool)
    mask[:, :20] = True
    box = FaceBox(10, 10, 30, 30)
    assert box_coverage(mask, box.xyxy) == pytest.approx(0.5)
    (strict,) = score_faces([box], mask, min_coverage=0.9)
    assert strict.coverage == pytest.approx(0.5) and not strict.covered
    (lenient,) = score_faces([box], mask, min_coverage=0.5)
    assert lenient.covered


def test_coverage_weighs_fractional_edges_and_clips_to_the_frame() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:, 0] = True
    assert box_coverage(mask, (0.5, 0, 1.5, 1)) == pytest.approx(0.5)
    assert box_coverage(mask, (0.75, 0, 1.75, 1)) == pytest.approx(0.25)
    full = np.ones((10, 10), bool)
    assert box_coverage(full, (-5, -5, 5, 5)) == pytest.approx(1.0)  # only the visible part
    assert box_coverage(full, (20, 20, 30, 30)) is None
    assert score_faces([FaceBox(20, 20, 30, 30)], full) == []  # not in the frame: not counted


def test_ignored_faces_do_not_count_for_recall_nor_as_off_face() -> None:
    redacted = np.zeros((50, 50), bool)
    redacted[0:10, 0:10] = True  # on the ignored face
    redacted[20:30, 20:30] = True  # on no face
    boxes = [FaceBox(0, 0, 10, 10, ignore=True), FaceBox(40, 40, 50, 50)]
    scores = score_faces(boxes, redacted)
    assert len(scores) == 1 and not scores[0].covered
    assert off_face_pixels(redacted, boxes) == 100
    assert face_mask(boxes, redacted.shape).sum() == 200


def test_face_mask_uses_pixel_centres() -> None:
    assert face_mask([(0.6, 0, 2.4, 1)], (1, 4)).tolist() == [[False, True, False, False]]
    assert face_mask([(0.4, 0, 2.6, 1)], (1, 4)).tolist() == [[True, True, True, False]]


@pytest.mark.parametrize(
    ("height", "bucket"),
    [
        (3, "<16"),
        (15.99, "<16"),
        (16, "16-24"),
        (23.9, "16-24"),
        (24, "24-32"),
        (32, "32-64"),
        (63.9, "32-64"),
        (64, "64+"),
        (500, "64+"),
    ],
)
def test_height_buckets_are_half_open(height: float, bucket: str) -> None:
    assert height_bucket(height) == bucket


def test_bucket_recalls_count_per_bucket() -> None:
    scores = [
        FaceScore(FaceBox(0, 0, 10, 12), 1.0, True),
        FaceScore(FaceBox(0, 0, 10, 14), 0.2, False),
        FaceScore(FaceBox(0, 0, 10, 70), 0.95, True),
    ]
    records = {r.bucket: r for r in bucket_recalls(scores)}
    assert [r.bucket for r in bucket_recalls(scores)] == [name for name, _, _ in BUCKETS]
    assert (records["<16"].faces, records["<16"].covered, records["<16"].recall) == (2, 1, 0.5)
    assert (records["64+"].recall, records["64+"].max_height) == (1.0, None)
    assert records["16-24"].faces == 0 and records["16-24"].recall is None


def test_whole_frame_redaction_masks_everything() -> None:
    frame = ProtectedFrame(0, np.zeros((4, 6, 3), np.uint8), Detections.empty(), whole_frame=True)
    assert redaction_mask(frame, Redactor(), (4, 6, 3)).all()
    normal = ProtectedFrame(0, np.zeros((4, 6, 3), np.uint8), Detections.empty())
    assert not redaction_mask(normal, Redactor(), (4, 6, 3)).any()


# --------------------------------------------------------------------------- runner, fake detectors


class BoxDetector:
    """Reports fixed boxes, or raises when ``boxes`` is None."""

    name = "fixed"

    def __init__(self, boxes: list[list[float]] | None) -> None:
        self.boxes = boxes

    def detect(self, frame: Frame) -> Detections:
        if self.boxes is None:
            raise RuntimeError("model exploded")
        return Detections.from_boxes(self.boxes, scores=[0.9] * len(self.boxes))

    def describe(self) -> dict[str, object]:
        return {"name": self.name}


def _grey_dataset(boxes: list[FaceBox]) -> FaceDataset:
    def load() -> Frame:
        return np.full((100, 200, 3), 128, np.uint8)

    image = AnnotatedImage("grey.png", boxes, loader=load)
    return FaceDataset("grey", Path("grey.xml"), "dlib-xml", [image])


def test_evaluate_uses_the_redaction_mask_of_the_pipeline() -> None:
    data = _grey_dataset([FaceBox(10, 10, 30, 30), FaceBox(100, 40, 140, 80)])
    settings = ProtectSettings(redaction=RedactionSettings(shape="box", mask_scale=1.0))
    detector: FaceDetector = BoxDetector([[10, 10, 30, 30], [100, 40, 120, 80], [150, 0, 160, 10]])
    result = evaluate(data, settings, detector=detector)
    assert (result.images, result.faces, result.covered, result.detections) == (1, 2, 1, 3)
    assert result.recall == 0.5
    (miss,) = result.missed
    assert miss.image == "grey.png" and miss.coverage == pytest.approx(0.5)
    assert result.redacted_pixels == 400 + 800 + 100
    assert result.off_face_pixels == 100
    assert result.off_face_share == pytest.approx(100 / 1300, abs=1e-4)
    assert result.bucket("16-24").covered == 1 and result.bucket("32-64").covered == 0
    assert result.throughput.protect_images_per_s > 0
    assert EvalResult.model_validate_json(result.to_json()).recall == 0.5
    assert json.loads(result.to_json())["schema"] == "bystander.eval-result/1"


def test_detector_failure_counts_as_whole_frame_redaction() -> None:
    data = _grey_dataset([FaceBox(10, 10, 30, 30)])
    result = evaluate(data, ProtectSettings(), detector=BoxDetector(None))
    assert result.whole_frames == 1 and result.recall == 1.0
    assert result.off_face_share == pytest.approx(1 - 400 / 20000, abs=1e-4)


def test_min_coverage_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="min_coverage"):
        evaluate(_grey_dataset([]), min_coverage=0.0, detector=BoxDetector([]))


# --------------------------------------------------------------------------- real faces, CenterFace


@pytest.fixture(scope="module")
def centerface() -> FaceDetector:
    return create_detector("centerface", threshold=0.2)


def _scene_with_astronaut(path: Path) -> tuple[float, float, float, float]:
    """A 480x320 coffee scene with the astronaut's head pasted in; returns the face box."""
    head, (fx1, fy1, fx2, fy2) = astronaut_head()
    scene = background(480, 320)
    x, y = 200, 60
    paste(scene, head, x, y)
    Image.fromarray(scene).save(path)
    return (x + fx1, y + fy1, x + fx2, y + fy2)


def _scene_with_lfw_faces(path: Path) -> list[tuple[float, float, float, float]]:
    """Two upscaled LFW faces on grey; returns their boxes."""
    from skimage import data

    faces = (data.lfw_subset()[:2] * 255).astype(np.uint8)
    scene = np.full((240, 320, 3), 128, np.uint8)
    boxes = []
    for i, face in enumerate(faces):
        big = np.array(Image.fromarray(face).resize((75, 75), Image.Resampling.BICUBIC))
        x, y = 40 + 150 * i, 80
        scene[y : y + 75, x : x + 75] = big[:, :, None]
        boxes.append((float(x), float(y), float(x + 75), float(y + 75)))
    Image.fromarray(scene).save(path)
    return boxes


def _dlib_xml(folder: Path) -> tuple[Path, tuple[float, float, float, float]]:
    face = _scene_with_astronaut(folder / "astronaut.png")
    lfw = _scene_with_lfw_faces(folder / "lfw.png")

    def box(b: tuple[float, float, float, float], extra: str = "") -> str:
        x1, y1, x2, y2 = b
        return (
            f"<box top='{y1:.0f}' left='{x1:.0f}' width='{x2 - x1:.0f}' "
            f"height='{y2 - y1:.0f}'{extra}/>"
        )

    ignored = box((0, 0, 20, 20), " ignore='1'")
    xml = folder / "faces.xml"
    xml.write_text(
        "<dataset><images>\n"
        f"<image file='astronaut.png'>{box(face)}{ignored}</image>\n"
        f"<image file='lfw.png'>{''.join(box(b) for b in lfw)}</image>\n"
        "</images></dataset>\n"
    )
    return xml, face


def test_evaluate_real_faces_covers_the_astronaut(tmp_path: Path, centerface: FaceDetector) -> None:
    xml, _ = _dlib_xml(tmp_path)
    result = evaluate(read_dataset(xml), detector=centerface)
    assert (result.images, result.faces, result.ignored_faces) == (2, 3, 1)
    astronaut = result.per_image[0]
    assert astronaut.image == "astronaut.png" and astronaut.covered == 1
    assert astronaut.detections >= 1 and not astronaut.whole_frame
    assert all(m.image != "astronaut.png" for m in result.missed)
    assert result.off_face_share is not None and 0 <= result.off_face_share < 1


def test_evaluate_pasted_astronaut_at_small_sizes(tmp_path: Path, centerface: FaceDetector) -> None:
    xml, _ = _dlib_xml(tmp_path)
    data = paste_into(read_dataset(xml).limited(1), (640, 360), (28, 48))
    result = evaluate(data, detector=centerface)
    assert result.images == 2 and result.faces == 2
    assert result.bucket("24-32").faces == 1 and result.bucket("32-64").faces == 1
    assert result.covered == 2


# --------------------------------------------------------------------------- CLI


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    register(app)
    return app


def test_cli_eval_json_on_wider_txt_with_paste_into(tmp_path: Path) -> None:
    (tmp_path / "images" / "0--Scene").mkdir(parents=True)
    _scene_with_astronaut(tmp_path / "images" / "0--Scene" / "astronaut.png")
    txt = tmp_path / "gt.txt"
    txt.write_text("0--Scene/astronaut.png\n1\n230 100 90 118 0 0 0 0 0 0\n")
    out = tmp_path / "result.json"
    result = CliRunner().invoke(
        _app(),
        [
            "eval",
            str(txt),
            "--json",
            "--output",
            str(out),
            "--paste-into",
            "640x360",
            "--face-heights",
            "32,64",
            "--shape",
            "box",
            "--limit",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["images"] == 2 and data["faces"] == 2 and data["format"] == "wider-txt"
    assert data["synthetic"] == {
        "frame_size": [640, 360],
        "face_heights": [32.0, 64.0],
        "background": "coffee",
        "motion": None,
    }
    assert data["settings"]["shape"] == "box" and data["covered"] == 2
    assert json.loads(out.read_text())["recall"] == data["recall"] == 1.0


def test_cli_eval_table(tmp_path: Path) -> None:
    xml, _ = _dlib_xml(tmp_path)
    result = CliRunner().invoke(_app(), ["eval", str(xml), "--limit", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "recall" in result.stdout and "images/s" in result.stdout
    assert "faces: 1 (+1 ignored)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing.xml"], "no such annotation file"),
        (["bad.txt"], r"bad\.txt:2: expected the number of faces"),
        (["ok.txt", "--paste-into", "big"], "--paste-into must look like 1280x720"),
    ],
)
def test_cli_eval_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.txt").write_text("a.jpg\nmany\n")
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "ok.txt").write_text("a.jpg\n0\n0 0 0 0\n")
    args = [str(tmp_path / args[0]), *args[1:]]
    result = CliRunner().invoke(_app(), ["eval", *args])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert re.search(message, lines[0])


def test_parse_options() -> None:
    assert parse_size("1280x720") == (1280, 720)
    assert parse_heights("16, 24,32") == [16.0, 24.0, 32.0]
    with pytest.raises(InputError):
        parse_size("1280")
    with pytest.raises(InputError):
        parse_heights("16,huge")


# --------------------------------------------------------------------------- shared data


@pytest.mark.shared_data
def test_dlib_testing_set_native_and_pasted(centerface: FaceDetector) -> None:
    xml = DLIB_FACES / "testing.xml"
    if not xml.is_file():
        pytest.skip(f"{xml} is not available")
    native = evaluate(read_dataset(xml).limited(2), detector=centerface)
    assert native.images == 2 and native.faces == 9
    assert native.recall is not None and native.recall >= 0.6
    pasted = paste_into(read_dataset(xml).limited(1), face_heights=(24, 64))
    result = evaluate(pasted, detector=centerface)
    assert result.images == 2 and result.faces == 12
    assert result.recall is not None and result.recall >= 0.6
