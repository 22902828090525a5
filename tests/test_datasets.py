"""Annotation readers (dlib XML, WIDER FACE txt) and the synthetic small-face set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bystander.errors import InputError
from bystander.measure.datasets import (
    AnnotatedImage,
    FaceBox,
    FaceDataset,
    median_face_height,
    paste_into,
    place,
    read_dataset,
    read_dlib_xml,
    read_wider_txt,
)
from bystander.measure.synthetic import astronaut_head


def _save(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def _astronaut(path: Path) -> Path:
    head, _ = astronaut_head()
    return _save(path, head)


def _lfw_face(path: Path, index: int = 0) -> Path:
    from skimage import data

    face = (data.lfw_subset()[index] * 255).astype(np.uint8)
    return _save(path, np.repeat(face[:, :, None], 3, axis=2))


DLIB_XML = """<?xml version='1.0' encoding='ISO-8859-1'?>
<dataset>
<name>tiny</name>
<images>
  <image file='astronaut.png'>
    <box top='40' left='30' width='90' height='118'>
      <part name='00' x='35' y='60'/>
    </box>
    <box top='1' left='2' width='10' height='12' ignore='1'/>
    <box top='5' left='5' width='0' height='10'/>
  </image>
  <image file='sub/lfw.png'>
    <box top='0' left='0' width='25' height='25'/>
  </image>
</images>
</dataset>
"""


@pytest.fixture
def dlib_set(tmp_path: Path) -> Path:
    _astronaut(tmp_path / "astronaut.png")
    _lfw_face(tmp_path / "sub" / "lfw.png")
    xml = tmp_path / "faces.xml"
    xml.write_text(DLIB_XML, encoding="iso-8859-1")
    return xml


def test_dlib_xml_reads_boxes_ignore_flags_and_relative_paths(dlib_set: Path) -> None:
    data = read_dlib_xml(dlib_set)
    assert data.format == "dlib-xml" and data.name == "faces"
    assert [i.name for i in data.images] == ["astronaut.png", "sub/lfw.png"]
    first, second = data.images
    assert first.path == dlib_set.parent / "astronaut.png"
    assert second.path == dlib_set.parent / "sub" / "lfw.png"
    # the zero-width box is skipped; the ignored one is kept but flagged
    assert [b.xyxy for b in first.boxes] == [(30, 40, 120, 158), (2, 1, 12, 13)]
    assert [b.ignore for b in first.boxes] == [False, True]
    assert len(first.faces) == 1 and data.face_count == 2
    assert first.load().shape == (190, 150, 3)


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        (
            "<dataset><images>\n<image file='a.png'>\n<box top='1' left='x' width='3' height='4'/>",
            3,
            "not a number",
        ),
        (
            "<dataset><images>\n<image file='a.png'>\n\n<box top='1' left='2' width='3'/>",
            4,
            "without a height",
        ),
        ("<dataset>\n<box top='1' left='2' width='3' height='4'/>", 2, "outside an <image>"),
        ("<dataset>\n<images>\n<image file='a.png'>\n</images>", 4, "malformed XML"),
        ("<dataset><images>\n<image>", 2, "without a file"),
    ],
)
def test_dlib_xml_errors_name_the_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    _astronaut(tmp_path / "a.png")
    xml = tmp_path / "bad.xml"
    xml.write_text(body)
    with pytest.raises(InputError, match=rf"bad\.xml:{line}: .*{words}"):
        read_dlib_xml(xml)


def test_dlib_xml_missing_image_is_named(tmp_path: Path) -> None:
    xml = tmp_path / "faces.xml"
    xml.write_text("<dataset><images>\n<image file='gone.jpg'/>\n</images></dataset>")
    with pytest.raises(InputError, match=r"faces\.xml:2: image file not found: .*gone\.jpg"):
        read_dlib_xml(xml)


WIDER_TXT = """0--Parade/astronaut.png
3
30 40 90 118 0 0 0 0 0 0
2 1 10 12 2 0 0 1 0 0
5 5 0 10 0 0 0 0 0 0
1--Empty/lfw.png
0
0 0 0 0 0 0 0 0 0 0
1--Empty/lfw2.png
1
0 0 25 25
"""


@pytest.fixture
def wider_set(tmp_path: Path) -> Path:
    _astronaut(tmp_path / "images" / "0--Parade" / "astronaut.png")
    _lfw_face(tmp_path / "images" / "1--Empty" / "lfw.png", 0)
    _lfw_face(tmp_path / "images" / "1--Empty" / "lfw2.png", 1)
    txt = tmp_path / "wider_face_val_bbx_gt.txt"
    txt.write_text(WIDER_TXT)
    return txt


def test_wider_txt_reads_blocks_count_zero_and_invalid_faces(wider_set: Path) -> None:
    data = read_wider_txt(wider_set)
    assert data.format == "wider-txt"
    assert [i.name for i in data.images] == [
        "0--Parade/astronaut.png",
        "1--Empty/lfw.png",
        "1--Empty/lfw2.png",
    ]
    astronaut, empty, lfw = data.images
    assert astronaut.path == wider_set.parent / "images" / "0--Parade" / "astronaut.png"
    assert [b.xyxy for b in astronaut.boxes] == [(30, 40, 120, 158), (2, 1, 12, 13)]
    assert [b.ignore for b in astronaut.boxes] == [False, True]  # "invalid" flag -> ignored
    assert empty.boxes == []
    assert lfw.boxes == [FaceBox(0, 0, 25, 25)]  # four numbers are enough
    assert data.face_count == 2


def test_wider_images_option_and_autodetect(wider_set: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    (tmp_path / "images").rename(moved)
    with pytest.raises(InputError, match=r"image file not found: .*astronaut\.png"):
        read_dataset(wider_set)
    data = read_dataset(wider_set, images_dir=moved)
    assert len(data.images) == 3 and data.format == "wider-txt"
    with pytest.raises(InputError, match="unknown annotation format"):
        read_dataset(tmp_path / "faces.json")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("0--Parade/astronaut.png\nthree\n", 2, "expected the number of faces"),
        ("0--Parade/astronaut.png\n-1\n", 2, "negative face count"),
        ("0--Parade/astronaut.png\n1\n1 2 3\n", 3, "expected 'x y w h"),
        ("0--Parade/astronaut.png\n1\n1 2 a 4\n", 3, "expected numbers"),
        ("0--Parade/astronaut.png\n2\n1 2 3 4\n", 1, "file ends before its 2 face"),
        ("0--Parade/astronaut.png\n", 1, "no face count"),
        ("0--Parade/astronaut.png\n1\n1 2 3 4\n\n7\n", 5, "expected an image path"),
        ("0--Parade/astronaut.png\n2\n1 2 3 4\n1--E/x.jpg\n0\n", 4, "expected numbers"),
    ],
)
def test_wider_txt_errors_name_the_line(wider_set: Path, text: str, line: int, words: str) -> None:
    bad = wider_set.with_name("bad.txt")
    bad.write_text(text)
    with pytest.raises(InputError, match=rf"bad\.txt:{line}: .*{words}"):
        read_wider_txt(bad)


def test_wider_missing_image_is_named(wider_set: Path) -> None:
    bad = wider_set.with_name("bad.txt")
    bad.write_text("0--Parade/astronaut.png\n0\n0 0 0 0\n9--Gone/nobody.jpg\n0\n")
    with pytest.raises(InputError, match=r"bad\.txt:4: image file not found: .*nobody\.jpg"):
        read_wider_txt(bad)


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such annotation file"):
        read_dataset(tmp_path / "nothing.xml")


def test_median_face_height_prefers_counted_faces() -> None:
    boxes = [FaceBox(0, 0, 10, 10), FaceBox(0, 0, 20, 30), FaceBox(0, 0, 5, 100, ignore=True)]
    assert median_face_height(boxes) == 20.0
    assert median_face_height([FaceBox(0, 0, 5, 8, ignore=True)]) == 8.0
    assert median_face_height([]) is None


def test_place_centres_and_refuses_what_does_not_fit() -> None:
    spot = place((500, 400), median_face=50, face_height=16, frame=(1280, 720))
    assert spot is not None
    assert (spot.width, spot.height) == (160, 128)
    assert (spot.x, spot.y) == ((1280 - 160) // 2, (720 - 128) // 2)
    assert place((500, 400), median_face=20, face_height=64, frame=(1280, 720)) is None


def _marked_photo(tmp_path: Path) -> FaceDataset:
    """A black photo with a white 'face' square at a known box, as a one-image dataset."""
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[100:160, 200:260] = 255
    path = _save(tmp_path / "marked.png", photo)
    image = AnnotatedImage("marked.png", [FaceBox(200, 100, 260, 160)], path)
    return FaceDataset("marked", path, "dlib-xml", [image])


def test_paste_into_transforms_boxes_exactly(tmp_path: Path) -> None:
    pasted = paste_into(_marked_photo(tmp_path), (640, 360), (16, 30, 64), background="grey")
    # 64 px: the photo becomes 427x320 and still fits 640x360; all three sizes are kept
    names = [i.name for i in pasted.images]
    assert names == ["marked.png@16px", "marked.png@30px", "marked.png@64px"]
    for image, expected in zip(pasted.images, (16, 30, 64), strict=True):
        frame = image.load()
        assert frame.shape == (360, 640, 3)
        (box,) = image.boxes
        assert box.height == pytest.approx(expected, abs=0.6)
        x1, y1, x2, y2 = (round(v) for v in box.xyxy)
        inner = frame[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2]
        assert inner.min() > 200  # the white square is exactly where the box says
        assert frame[y1 - 3, x1 - 3].max() < 60  # just outside: the black photo
        assert tuple(frame[0, 0]) == (128, 128, 128)  # grey background


def test_paste_into_skips_sizes_that_do_not_fit(tmp_path: Path) -> None:
    pasted = paste_into(_marked_photo(tmp_path), (320, 240), (16, 50))
    assert [i.name for i in pasted.images] == ["marked.png@16px"]
    assert pasted.images[0].load().shape == (240, 320, 3)


def test_limited_keeps_the_first_images(dlib_set: Path) -> None:
    data = read_dlib_xml(dlib_set)
    assert [i.name for i in data.limited(1).images] == ["astronaut.png"]
    assert data.limited(None) is data
