"""Face-box datasets for ``bystander eval``: dlib XML and WIDER FACE readers, synthetic frames.

A dataset is a list of :class:`AnnotatedImage` values, each able to load its RGB pixels on
demand, with ground-truth :class:`FaceBox` values in that image's pixel coordinates.

>>> box = FaceBox(10, 20, 30, 50)
>>> box.width, box.height, box.area
(20.0, 30.0, 600.0)
"""

from __future__ import annotations

import statistics
import xml.parsers.expat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from bystander.errors import InputError
from bystander.vision.image_io import read_image

Frame = npt.NDArray[np.uint8]
Background = Literal["coffee", "grey"]
DatasetFormat = Literal["dlib-xml", "wider-txt"]

#: Face heights (px) of the project's synthetic small-face benchmark.
DEFAULT_FACE_HEIGHTS: tuple[int, ...] = (16, 24, 32, 48, 64)
#: Frame size (width, height) the benchmark pastes photos into.
DEFAULT_PASTE_SIZE: tuple[int, int] = (1280, 720)


@dataclass(frozen=True)
class FaceBox:
    """A ground-truth face box (x1, y1, x2, y2 in pixels); ``ignore`` excludes it from recall."""

    x1: float
    y1: float
    x2: float
    y2: float
    ignore: bool = False

    @property
    def width(self) -> float:
        return float(self.x2 - self.x1)

    @property
    def height(self) -> float:
        return float(self.y2 - self.y1)

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (float(self.x1), float(self.y1), float(self.x2), float(self.y2))

    def transformed(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> FaceBox:
        """The box scaled by ``sx``/``sy`` about the origin, then moved by ``dx``/``dy``."""
        return FaceBox(
            self.x1 * sx + dx, self.y1 * sy + dy, self.x2 * sx + dx, self.y2 * sy + dy, self.ignore
        )


def _load_file(path: Path) -> Frame:
    return read_image(path).rgb


@dataclass
class AnnotatedImage:
    """One image of a dataset: a name, its face boxes, and a way to load its RGB pixels."""

    name: str
    boxes: list[FaceBox]
    path: Path | None = None
    loader: Callable[[], Frame] | None = field(default=None, repr=False)

    def load(self) -> Frame:
        """Decode (or compose) the image as an ``(H, W, 3)`` uint8 RGB array."""
        if self.loader is not None:
            return self.loader()
        if self.path is None:
            raise InputError(f"image {self.name} has no pixels")
        return _load_file(self.path)

    @property
    def faces(self) -> list[FaceBox]:
        """The boxes that count for recall (not ignored)."""
        return [b for b in self.boxes if not b.ignore]


@dataclass
class FaceDataset:
    """Annotated images read from ``source`` (``format`` names the annotation format)."""

    name: str
    source: Path
    format: str
    images: list[AnnotatedImage]

    @property
    def face_count(self) -> int:
        return sum(len(image.faces) for image in self.images)

    def limited(self, limit: int | None) -> FaceDataset:
        """The first ``limit`` images (all of them when ``limit`` is None)."""
        if limit is None:
            return self
        return FaceDataset(self.name, self.source, self.format, self.images[: max(0, limit)])


# --------------------------------------------------------------------------- readers


def read_dataset(path: Path, images_dir: Path | None = None) -> FaceDataset:
    """Read a dlib imglab ``.xml`` or WIDER FACE ``.txt`` annotation file (chosen by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return read_dlib_xml(path, images_dir)
    if suffix == ".txt":
        return read_wider_txt(path, images_dir)
    raise InputError(
        f"unknown annotation format {suffix or '(no extension)'}: {path} "
        "(expected a dlib .xml or a WIDER FACE .txt)"
    )


def _check_annotation_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"no such annotation file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")


class _DlibParser:
    """Streaming expat handler for dlib imglab XML, keeping line numbers for errors."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.images: list[AnnotatedImage] = []
        self._current: AnnotatedImage | None = None
        self._parser = xml.parsers.expat.ParserCreate()
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end

    def parse(self) -> list[AnnotatedImage]:
        try:
            with self.path.open("rb") as handle:
                self._parser.ParseFile(handle)
        except xml.parsers.expat.ExpatError as exc:
            reason = xml.parsers.expat.ErrorString(exc.code)
            raise InputError(f"{self.path}:{exc.lineno}: malformed XML: {reason}") from None
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        return self.images

    def _error(self, message: str) -> InputError:
        return InputError(f"{self.path}:{self._parser.CurrentLineNumber}: {message}")

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "image":
            if self._current is not None:
                raise self._error("<image> inside another <image>")
            file = attrs.get("file", "").strip()
            if not file:
                raise self._error("<image> without a file attribute")
            image_path = _resolve_image(self.root, file, self._error)
            self._current = AnnotatedImage(name=file, boxes=[], path=image_path)
        elif tag == "box":
            if self._current is None:
                raise self._error("<box> outside an <image>")
            box = self._box(attrs)
            if box is not None:
                self._current.boxes.append(box)

    def _end(self, tag: str) -> None:
        if tag == "image" and self._current is not None:
            self.images.append(self._current)
            self._current = None

    def _box(self, attrs: dict[str, str]) -> FaceBox | None:
        values: dict[str, float] = {}
        for key in ("top", "left", "width", "height"):
            if key not in attrs:
                raise self._error(f"<box> without a {key} attribute")
            try:
                values[key] = float(attrs[key])
            except ValueError:
                raise self._error(f"<box> {key}={attrs[key]!r} is not a number") from None
        if values["width"] <= 0 or values["height"] <= 0:
            return None
        ignore = attrs.get("ignore", "0").strip().lower() in ("1", "true")
        left, top = values["left"], values["top"]
        return FaceBox(left, top, left + values["width"], top + values["height"], ignore)


def _resolve_image(
    root: Path | Sequence[Path], relative: str, error: Callable[[str], InputError]
) -> Path:
    """The first existing ``root / relative``; raise ``error`` naming the file otherwise."""
    roots = [root] if isinstance(root, Path) else list(root)
    candidates = [r / relative for r in roots]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return _raise_missing(candidates, error)


def _raise_missing(candidates: list[Path], error: Callable[[str], InputError]) -> Path:
    tried = " or ".join(str(c) for c in candidates)
    raise error(f"image file not found: {tried}")


def read_dlib_xml(path: Path, images_dir: Path | None = None) -> FaceDataset:
    """Read a dlib imglab XML file; image paths are relative to the XML's folder.

    Boxes with ``ignore='1'`` are kept with ``ignore=True``; boxes with a non-positive size
    are skipped. ``<part>`` landmarks are ignored.
    """
    path = Path(path)
    _check_annotation_file(path)
    root = Path(images_dir) if images_dir is not None else path.parent
    images = _DlibParser(path, root).parse()
    return FaceDataset(name=path.stem, source=path, format="dlib-xml", images=images)


def _wider_roots(path: Path, images_dir: Path | None) -> list[Path]:
    root = Path(images_dir) if images_dir is not None else path.parent
    return [root, root / "images"]


def _numbers(text: str, path: Path, lineno: int) -> list[float]:
    try:
        return [float(v) for v in text.split()]
    except ValueError:
        raise InputError(f"{path}:{lineno}: expected numbers, got {text.strip()[:60]!r}") from None


def _wider_box(text: str, path: Path, lineno: int) -> FaceBox | None:
    values = _numbers(text, path, lineno)
    if len(values) < 4:
        raise InputError(f"{path}:{lineno}: expected 'x y w h ...', got {text.strip()[:60]!r}")
    x, y, w, h = values[:4]
    if w <= 0 or h <= 0:
        return None
    invalid = len(values) >= 8 and values[7] != 0
    return FaceBox(x, y, x + w, y + h, ignore=invalid)


def _parse_count(text: str, path: Path, lineno: int) -> int:
    try:
        count = int(text.strip())
    except ValueError:
        raise InputError(
            f"{path}:{lineno}: expected the number of faces, got {text.strip()[:60]!r}"
        ) from None
    if count < 0:
        raise InputError(f"{path}:{lineno}: negative face count {count}")
    return count


def _content_lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _is_numeric(text: str) -> bool:
    try:
        [float(v) for v in text.split()]
    except ValueError:
        return False
    return True


def read_wider_txt(path: Path, images_dir: Path | None = None) -> FaceDataset:
    """Read WIDER FACE ground truth (``wider_face_*_bbx_gt.txt`` layout).

    Each block is an image path, a face count, then that many ``x y w h blur expression
    illumination invalid occlusion pose`` lines (only ``x y w h`` are required); a count of 0
    is followed by one line of zeros. Images are looked up under ``images_dir`` (default:
    the txt's folder) and its ``images`` subfolder. Faces flagged invalid are kept as
    ignored; boxes with a non-positive size are skipped.
    """
    path = Path(path)
    _check_annotation_file(path)
    roots = _wider_roots(path, images_dir)
    lines = _content_lines(path)
    images: list[AnnotatedImage] = []
    index = 0
    while index < len(lines):
        image, index = _wider_block(path, lines, index, roots)
        images.append(image)
    return FaceDataset(name=path.stem, source=path, format="wider-txt", images=images)


def _wider_block(
    path: Path, lines: list[tuple[int, str]], index: int, roots: list[Path]
) -> tuple[AnnotatedImage, int]:
    """Parse the block starting at ``lines[index]``; return it and the next block's index."""
    lineno, relative = lines[index]

    def error(message: str) -> InputError:
        return InputError(f"{path}:{lineno}: {message}")

    if _is_numeric(relative):
        raise error(f"expected an image path, got {relative[:60]!r}")
    if index + 1 >= len(lines):
        raise error(f"image {relative} has no face count (file ends)")
    count = _parse_count(lines[index + 1][1], path, lines[index + 1][0])
    index += 2
    if count == 0:
        # The official files follow a 0 count with one line of zeros; tolerate its absence.
        if index < len(lines) and _is_numeric(lines[index][1]):
            index += 1
        return AnnotatedImage(relative, [], _resolve_image(roots, relative, error)), index
    if index + count > len(lines):
        raise error(f"image {relative}: file ends before its {count} face line(s)")
    boxes = [_wider_box(text, path, n) for n, text in lines[index : index + count]]
    image_path = _resolve_image(roots, relative, error)
    return AnnotatedImage(relative, [b for b in boxes if b is not None], image_path), index + count


# --------------------------------------------------------------------------- synthetic set


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as ``read_image`` would decode it (EXIF-upright)."""
    try:
        with Image.open(path) as opened:
            width, height = opened.size
            orientation = opened.getexif().get(274, 1)
    except Exception as exc:
        raise InputError(f"cannot decode image {path}: {exc}") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def make_background(width: int, height: int, kind: Background = "coffee") -> Frame:
    """A ``kind`` background frame: scikit-image's coffee photo, or plain mid-grey."""
    if kind == "grey":
        return np.full((height, width, 3), 128, dtype=np.uint8)
    if kind == "coffee":
        from bystander.measure.synthetic import background  # PyAV only when needed

        return background(width, height)
    raise ValueError(f"unknown background {kind!r}")


@dataclass(frozen=True)
class Placement:
    """Where a source photo goes in the synthetic frame: its new size and top-left corner."""

    width: int
    height: int
    x: int
    y: int
    sx: float
    sy: float


def place(
    photo_size: tuple[int, int], median_face: float, face_height: float, frame: tuple[int, int]
) -> Placement | None:
    """Resize so the median face is ``face_height`` px and centre it; None if it does not fit."""
    width, height = photo_size
    scale = face_height / median_face
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    if new_w > frame[0] or new_h > frame[1]:
        return None
    x, y = (frame[0] - new_w) // 2, (frame[1] - new_h) // 2
    return Placement(new_w, new_h, x, y, new_w / width, new_h / height)


def compose(photo: Frame, placement: Placement, canvas: Frame) -> Frame:
    """``photo`` resized per ``placement`` and pasted into a copy of ``canvas``."""
    shrinking = placement.width < photo.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(photo, (placement.width, placement.height), interpolation=interpolation)
    frame = canvas.copy()
    x, y = placement.x, placement.y
    frame[y : y + placement.height, x : x + placement.width] = resized
    return frame


def median_face_height(boxes: Iterable[FaceBox]) -> float | None:
    """Median height of the non-ignored boxes (all boxes if every one is ignored)."""
    boxes = list(boxes)
    counted = [b.height for b in boxes if not b.ignore] or [b.height for b in boxes]
    return statistics.median(counted) if counted else None


def paste_into(
    dataset: FaceDataset,
    size: tuple[int, int] = DEFAULT_PASTE_SIZE,
    face_heights: Sequence[float] = DEFAULT_FACE_HEIGHTS,
    background: Background = "coffee",
) -> FaceDataset:
    """The synthetic small-face set: each photo at each median face height, in a larger frame.

    Every annotated image is resized so its median face height is ``h`` for each ``h`` in
    ``face_heights``, and pasted at the centre of a ``size`` (width, height) frame; boxes are
    transformed exactly. Sizes where the resized photo does not fit are skipped, as are
    images without boxes. Frames are composed when loaded.
    """
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid frame size {width}x{height}")
    canvas = make_background(width, height, background)
    canvas.setflags(write=False)
    images: list[AnnotatedImage] = []
    for source in dataset.images:
        images.extend(_pasted_variants(source, canvas, face_heights))
    return FaceDataset(
        name=f"{dataset.name}@{width}x{height}",
        source=dataset.source,
        format=dataset.format,
        images=images,
    )


def _pasted_variants(
    source: AnnotatedImage, canvas: Frame, face_heights: Sequence[float]
) -> list[AnnotatedImage]:
    median = median_face_height(source.boxes)
    if median is None or median <= 0:
        return []
    photo_size = image_size(source.path) if source.path is not None else _loaded_size(source)
    frame_size = (canvas.shape[1], canvas.shape[0])
    out: list[AnnotatedImage] = []
    for face_height in face_heights:
        placement = place(photo_size, median, face_height, frame_size)
        if placement is None:
            continue
        p = placement
        boxes = [b.transformed(p.sx, p.sy, p.x, p.y) for b in source.boxes]
        out.append(
            AnnotatedImage(
                name=f"{source.name}@{face_height:g}px",
                boxes=boxes,
                path=source.path,
                loader=_composer(source, placement, canvas),
            )
        )
    return out


def _loaded_size(source: AnnotatedImage) -> tuple[int, int]:
    rgb = source.load()
    return rgb.shape[1], rgb.shape[0]


def _composer(source: AnnotatedImage, placement: Placement, canvas: Frame) -> Callable[[], Frame]:
    def load() -> Frame:
        return compose(source.load(), placement, canvas)

    return load


def astronaut_dataset() -> FaceDataset:
    """scikit-image's astronaut photo with its annotated face: a one-image face set that is
    always available (``bystander bench`` pastes it at small sizes to measure recall)."""
    from skimage import data

    from bystander.measure.synthetic import ASTRONAUT_FACE

    photo: Frame = np.ascontiguousarray(cast(Any, data).astronaut(), dtype=np.uint8)
    photo.setflags(write=False)
    x1, y1, x2, y2 = (float(v) for v in ASTRONAUT_FACE)
    image = AnnotatedImage(name="astronaut", boxes=[FaceBox(x1, y1, x2, y2)], loader=photo.copy)
    return FaceDataset(
        name="astronaut", source=Path("skimage.data.astronaut"), format="synthetic", images=[image]
    )
