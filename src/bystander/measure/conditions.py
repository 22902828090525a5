"""Hard conditions made from real, annotated faces: the frames of the hard-conditions benchmark.

Each face of the library is cut out with its surroundings (hair, shoulders, neighbours),
resized so the face is ``h`` px high, changed the way real glasses footage changes faces,
and pasted into 1280x720 scenes. Ground truth is a polygon per face (a rotated box after a
tilt, clipped to the frame at an edge), so coverage is measured on exactly the face's
pixels. Every choice (positions, angles, blur lengths, noise) comes from a seeded random
generator: the same library and seed give the same frames.

Conditions (``CONDITIONS``):

* ``clean``: the face as photographed (the reference).
* ``edge``: the frame edge cuts the face, leaving 40-75% of it (left, right, top, bottom).
* ``motion``: motion blur 25-50% of the face height long, in any direction (per face).
* ``dark``: low light: 12-25% of the light (in linear terms), sensor noise, JPEG.
* ``lowq``: heavy compression: downscaled 2x and back, JPEG quality 8-15.
* ``tilt``: the head rolled 20-40 degrees either way.
* ``covered``: the lower face behind a mask, scarf or hand (40-55% of the face height).
* ``profile``: real faces turned three-quarter to profile (no other change).
* ``tiny``: faces 16 and 20 px high (LFW crops and the library's faces).
* ``crowd``: rows of faces 24-40 px high packed edge to edge, each row over the one behind.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from bystander.measure.datasets import FaceBox
from bystander.measure.facelib import FaceLibrary, LibraryFace, LibraryImage

Frame = npt.NDArray[np.uint8]
Polygon = npt.NDArray[np.float32]  # (4, 2) corners, frame pixels

CONDITIONS: tuple[str, ...] = (
    "clean", "edge", "motion", "dark", "lowq", "tilt", "covered", "profile", "tiny", "crowd",
)  # fmt: skip
#: Face heights (px) of the conditions other than ``tiny`` and ``crowd``.
DEFAULT_HEIGHTS: tuple[int, ...] = (24, 32, 48, 64)
TINY_HEIGHTS: tuple[int, ...] = (16, 20)
FRAME_SIZE = (1280, 720)
#: A face's surroundings cut with it, in face heights (each way from the face's centre).
CONTEXT = 1.6
_SCENES = ("coffee", "rocket", "brick", "grass", "gravel", "retina")


@dataclass
class TruthFace:
    """One face in a generated frame: its outline, nominal height, pose and source."""

    polygon: Polygon
    height: float
    source: str
    pose: str = "frontal"
    ignore: bool = False


@dataclass
class ConditionFrame:
    """A generated frame and the faces in it."""

    condition: str
    name: str
    image: Frame
    faces: list[TruthFace] = field(default_factory=list)


@dataclass
class _Patch:
    image: Frame
    faces: list[TruthFace]  # polygons in patch pixels
    main: int  # index of the face the patch was cut for


def _rect(box: FaceBox) -> Polygon:
    x1, y1, x2, y2 = box.xyxy
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)


def cut_patch(
    image: LibraryImage, rgb: Frame, face: LibraryFace, height: float, context: float = CONTEXT
) -> _Patch:
    """The face and its surroundings, resized so the face is ``height`` px high."""
    box = face.box
    scale = height / max(box.height, 1.0)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2 + 0.15 * box.height
    half = context * box.height
    x0, y0 = max(0, math.floor(cx - half)), max(0, math.floor(cy - half))
    x1, y1 = min(rgb.shape[1], math.ceil(cx + half)), min(rgb.shape[0], math.ceil(cy + half))
    crop = rgb[y0:y1, x0:x1]
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    patch = np.ascontiguousarray(cv2.resize(crop, size, interpolation=interpolation))
    sx, sy = size[0] / crop.shape[1], size[1] / crop.shape[0]
    faces: list[TruthFace] = []
    main = 0
    for other in image.faces:
        poly = (_rect(other.box) - np.array([x0, y0], dtype=np.float32)) * np.array(
            [sx, sy], dtype=np.float32
        )
        inside = _inside_share(poly, patch.shape)
        if inside <= 0:
            continue
        if other is face:
            main = len(faces)
        # a neighbour mostly outside the cut is a partial face: not scored, not off-face
        partial = other is not face and inside < 0.8
        faces.append(
            TruthFace(poly, other.box.height * sy, image.name, other.pose, other.ignore or partial)
        )
    return _Patch(patch.astype(np.uint8), faces, main)


def _inside_share(poly: Polygon, shape: tuple[int, ...]) -> float:
    x1, y1 = poly.min(axis=0)
    x2, y2 = poly.max(axis=0)
    area = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
    if area <= 0:
        return 0.0
    ix = max(0.0, min(float(x2), shape[1]) - max(float(x1), 0.0))
    iy = max(0.0, min(float(y2), shape[0]) - max(float(y1), 0.0))
    return ix * iy / area


# --------------------------------------------------------------------------- patch changes


def tilt(patch: _Patch, degrees: float, keep: float) -> _Patch:
    """Roll the patch about its main face's centre, then keep ``keep`` face heights around it.

    The patch is cut wider than it is kept, so the rotated corners (filled by reflection)
    fall outside what is kept.
    """
    main = patch.faces[patch.main]
    center = main.polygon.mean(axis=0)
    height, width = patch.image.shape[:2]
    matrix = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), degrees, 1.0)
    rotated = cv2.warpAffine(
        patch.image, matrix, (width, height), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )  # fmt: skip
    half = keep * main.height
    x0, y0 = max(0, int(center[0] - half)), max(0, int(center[1] - half + 0.15 * main.height))
    x1, y1 = min(width, int(center[0] + half)), min(height, int(center[1] + half))
    kept = np.ascontiguousarray(rotated[y0:y1, x0:x1], dtype=np.uint8)
    offset = np.array([x0, y0], dtype=np.float32)
    faces: list[TruthFace] = []
    index = 0
    for number, face in enumerate(patch.faces):
        poly = (face.polygon @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32) - offset
        inside = _inside_share(poly, kept.shape)
        if inside <= 0:
            continue
        if number == patch.main:
            index = len(faces)
        partial = number != patch.main and inside < 0.8
        faces.append(TruthFace(poly, face.height, face.source, face.pose, face.ignore or partial))
    return _Patch(kept, faces, index)


def cover_lower_face(patch: _Patch, rng: np.random.Generator) -> _Patch:
    """A mask, scarf or hand over the lower 40-55% of the main face."""
    image = patch.image.copy()
    poly = patch.faces[patch.main].polygon
    x1, y1 = poly.min(axis=0)
    x2, y2 = poly.max(axis=0)
    h, w = y2 - y1, x2 - x1
    top = y1 + h * (1.0 - float(rng.uniform(0.40, 0.55)))
    kind = rng.choice(["mask", "scarf", "hand"])
    cx = (x1 + x2) / 2
    if kind == "hand":
        color = np.array(rng.choice([[224, 172, 138], [198, 134, 98], [141, 85, 54]]), np.float32)
        axes = (int(w * 0.55), int((y2 - top) * 0.75))
        center = (int(cx), int(top + axes[1]))
        layer = np.zeros(image.shape[:2], np.uint8)
        cv2.ellipse(layer, center, axes, 0, 0, 360, 255, -1)
        for finger in range(4):  # finger gaps
            fx = int(x1 + w * (0.2 + 0.2 * finger))
            cv2.line(image, (fx, int(top)), (fx, int(y2)), (90, 60, 45), 1)
    else:
        color = np.array(
            rng.choice([[235, 235, 235], [70, 110, 170], [30, 30, 35], [150, 40, 50]]), np.float32
        )
        layer = np.zeros(image.shape[:2], np.uint8)
        left, right = int(x1 - 0.1 * w), int(x2 + 0.1 * w)
        bottom = int(y2 + (0.25 if kind == "scarf" else 0.05) * h)
        cv2.rectangle(layer, (left, int(top)), (right, bottom), 255, -1)
    texture = rng.normal(0, 10, image.shape).astype(np.float32)
    fill = np.clip(color + texture, 0, 255)
    if kind != "hand":  # folds of cloth
        rows = np.arange(image.shape[0], dtype=np.float32)[:, None, None]
        fill = np.clip(fill * (0.9 + 0.1 * np.sin(rows / max(2.0, h / 10))), 0, 255)
    alpha = cv2.GaussianBlur(layer, (3, 3), 0).astype(np.float32)[:, :, None] / 255.0
    blended = (image * (1 - alpha) + fill * alpha).astype(np.uint8)
    return _Patch(blended, patch.faces, patch.main)


# --------------------------------------------------------------------------- frame changes


def motion_blur(frame: Frame, length: float, angle: float) -> Frame:
    """Linear motion blur ``length`` px long at ``angle`` degrees."""
    size = max(3, math.ceil(length) | 1)
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cv2.line(
        kernel,
        (round(c - dx * length / 2), round(c - dy * length / 2)),
        (round(c + dx * length / 2), round(c + dy * length / 2)),
        1.0, 1,
    )  # fmt: skip
    kernel /= max(kernel.sum(), 1e-6)
    return np.asarray(cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REFLECT))


def low_light(frame: Frame, light: float, noise: float, rng: np.random.Generator) -> Frame:
    """``light`` of the light (linear), then shot and read noise, then JPEG at quality 80."""
    linear = (frame.astype(np.float32) / 255.0) ** 2.2 * light
    electrons = 400.0 * light
    shot = rng.poisson(np.clip(linear * electrons / max(light, 1e-3), 0, None)).astype(np.float32)
    linear = shot / (electrons / max(light, 1e-3))
    out = np.clip(linear, 0, 1) ** (1 / 2.2) * 255.0 + rng.normal(0, noise, frame.shape)
    return jpeg(np.clip(out, 0, 255).astype(np.uint8), 80)


def jpeg(frame: Frame, quality: int) -> Frame:
    ok, data = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return np.ascontiguousarray(decoded[:, :, ::-1], dtype=np.uint8)


def low_quality(frame: Frame, factor: float, quality: int) -> Frame:
    """Downscale by ``factor`` and back, then JPEG at ``quality`` (a heavily compressed stream)."""
    height, width = frame.shape[:2]
    small = cv2.resize(
        frame, (round(width / factor), round(height / factor)), interpolation=cv2.INTER_AREA
    )
    restored = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return jpeg(np.asarray(restored, dtype=np.uint8), quality)


# --------------------------------------------------------------------------- scenes


def scene(index: int, size: tuple[int, int] = FRAME_SIZE) -> Frame:
    """One of scikit-image's face-free photos, stretched to ``size``."""
    from typing import Any, cast

    import skimage.data

    data = cast(Any, skimage.data)
    picture = np.asarray(getattr(data, _SCENES[index % len(_SCENES)])())
    if picture.ndim == 2:
        picture = np.repeat(picture[:, :, None], 3, axis=2)
    picture = picture[:, :, :3]
    return np.ascontiguousarray(cv2.resize(picture, size, interpolation=cv2.INTER_AREA))


def _paste(frame: Frame, patch: Frame, x: int, y: int) -> tuple[int, int]:
    """Paste ``patch`` with its top-left at (x, y), clipped to the frame; returns (x, y)."""
    height, width = frame.shape[:2]
    ph, pw = patch.shape[:2]
    fx1, fy1 = max(0, x), max(0, y)
    fx2, fy2 = min(width, x + pw), min(height, y + ph)
    if fx2 > fx1 and fy2 > fy1:
        frame[fy1:fy2, fx1:fx2] = patch[fy1 - y : fy2 - y, fx1 - x : fx2 - x]
    return x, y


def _placed(patch: _Patch, x: int, y: int) -> list[TruthFace]:
    offset = np.array([x, y], dtype=np.float32)
    return [
        TruthFace(f.polygon + offset, f.height, f.source, f.pose, f.ignore) for f in patch.faces
    ]


class _Shelf:
    """Packs patches left to right, row by row, into frames; yields full frames."""

    def __init__(self, condition: str, seed: int, margin: int = 12) -> None:
        self.condition, self.seed, self.margin = condition, seed, margin
        self.count = 0
        self._new()

    def _new(self) -> None:
        self.frame = scene(self.seed + self.count)
        self.faces: list[TruthFace] = []
        self.x, self.y, self.row = self.margin, self.margin, 0

    def add(self, patch: _Patch) -> ConditionFrame | None:
        """Place ``patch``; returns the previous frame when this one did not fit in it."""
        done = None
        ph, pw = patch.image.shape[:2]
        width, height = FRAME_SIZE
        if self.x + pw + self.margin > width:
            self.x, self.y, self.row = self.margin, self.y + self.row + self.margin, 0
        if self.y + ph + self.margin > height and self.faces:
            done = self.finish()
        _paste(self.frame, patch.image, self.x, self.y)
        self.faces.extend(_placed(patch, self.x, self.y))
        self.x += pw + self.margin
        self.row = max(self.row, ph)
        return done

    def finish(self) -> ConditionFrame | None:
        if not self.faces:
            return None
        done = ConditionFrame(
            self.condition, f"{self.condition}#{self.count}", self.frame, self.faces
        )
        self.count += 1
        self._new()
        return done


# --------------------------------------------------------------------------- generators


def generate(
    library: FaceLibrary,
    condition: str,
    heights: Sequence[int] = DEFAULT_HEIGHTS,
    seed: int = 0,
    variants: int = 1,
) -> Iterator[ConditionFrame]:
    """The frames of one condition, from every counted face of ``library``.

    ``variants`` repeats each face with other random draws (angles, blur, cut side).
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r} (choose from {', '.join(CONDITIONS)})")
    rng = np.random.default_rng([seed, CONDITIONS.index(condition)])
    if condition == "crowd":
        yield from _crowd(library, rng, seed, variants)
        return
    if condition == "edge":
        yield from _edge(library, heights, rng, seed, variants)
        return
    faces = library.faces(["three-quarter", "profile"] if condition == "profile" else None)
    sizes: Sequence[int] = TINY_HEIGHTS if condition == "tiny" else heights
    sources = list(faces)
    if condition == "tiny":
        sources += [(image, image.faces[0]) for image in library.tiny]
    shelf = _Shelf(condition, seed)
    cache: dict[str, Frame] = {}
    for height in sizes:
        for _ in range(variants):
            for image, face in sources:
                rgb = cache.setdefault(image.name, image.load())
                if condition == "tilt":
                    patch = cut_patch(image, rgb, face, height, context=CONTEXT * 1.5)
                    sign = 1 if rng.random() < 0.5 else -1
                    patch = tilt(patch, sign * float(rng.uniform(20, 40)), CONTEXT)
                else:
                    patch = cut_patch(image, rgb, face, height)
                if condition == "covered":
                    patch = cover_lower_face(patch, rng)
                elif condition == "motion":
                    length = height * float(rng.uniform(0.25, 0.5))
                    blurred = motion_blur(patch.image, length, float(rng.uniform(0, 180)))
                    patch = _Patch(blurred, patch.faces, patch.main)
                done = shelf.add(patch)
                if done is not None:
                    yield _frame_change(done, rng, condition)
    done = shelf.finish()
    if done is not None:
        yield _frame_change(done, rng, condition)


def _frame_change(
    frame: ConditionFrame, rng: np.random.Generator, condition: str
) -> ConditionFrame:
    """Frame-wide conditions (light and compression)."""
    if condition == "dark":
        frame.image = low_light(
            frame.image, float(rng.uniform(0.12, 0.25)), float(rng.uniform(3, 6)), rng
        )
    elif condition == "lowq":
        frame.image = low_quality(frame.image, 2.0, int(rng.integers(8, 16)))
    return frame


def _edge(
    library: FaceLibrary,
    heights: Sequence[int],
    rng: np.random.Generator,
    seed: int,
    variants: int,
) -> Iterator[ConditionFrame]:
    """Faces cut by the frame's edges: eight per frame, two on each side."""
    _width, _height_px = FRAME_SIZE
    slots = [(side, part) for part in (0, 1) for side in ("left", "right", "top", "bottom")]
    count, slot = 0, 0
    frame: ConditionFrame | None = None
    cache: dict[str, Frame] = {}
    for height in heights:
        for _ in range(variants):
            for image, face in library.faces():
                rgb = cache.setdefault(image.name, image.load())
                patch = cut_patch(image, rgb, face, height)
                if frame is None:
                    frame = ConditionFrame("edge", f"edge#{count}", scene(seed + count))
                side, part = slots[slot % len(slots)]
                x, y = _edge_position(patch, side, part, float(rng.uniform(0.40, 0.75)), rng)
                _paste(frame.image, patch.image, x, y)
                frame.faces.extend(_placed(patch, x, y))
                slot += 1
                if slot % len(slots) == 0:
                    yield frame
                    frame, count = None, count + 1
    if frame is not None:
        yield frame


def _edge_position(
    patch: _Patch, side: str, part: int, visible: float, rng: np.random.Generator
) -> tuple[int, int]:
    """Where to paste ``patch`` so ``visible`` of its main face stays inside the frame.

    ``part`` 0 or 1 picks one half of that side (left/right: upper or lower half; top/bottom:
    left or right half) so two faces share a side without touching.
    """
    width, height = FRAME_SIZE
    poly = patch.faces[patch.main].polygon
    fx1, fy1 = poly.min(axis=0)
    fx2, fy2 = poly.max(axis=0)
    fw, fh = float(fx2 - fx1), float(fy2 - fy1)
    ph, pw = patch.image.shape[:2]
    along = float(rng.uniform(0.1, 0.9))
    if side in ("left", "right"):
        band = (height // 2) * part, (height // 2) * (part + 1)
        y = int(band[0] + along * max(0, band[1] - band[0] - ph))
        if side == "left":
            return round(-(fx1 + fw * (1 - visible))), y
        return round(width - (fx1 + fw * visible)), y
    band = (int(width * 0.12) + (width // 2) * part, int(width * 0.38) + (width // 2) * part)
    x = int(band[0] + along * max(0, band[1] - band[0] - pw))
    if side == "top":
        return x, round(-(fy1 + fh * (1 - visible)))
    return x, round(height - (fy1 + fh * visible))


def _crowd(
    library: FaceLibrary, rng: np.random.Generator, seed: int, variants: int
) -> Iterator[ConditionFrame]:
    """Rows of 24-40 px faces, each row a little in front of (and over) the one above."""
    faces = library.faces()
    if not faces:
        return
    cache: dict[str, Frame] = {}
    order = [faces[i] for i in rng.permutation(len(faces))] * max(1, variants)
    width, height_px = FRAME_SIZE
    count, cursor = 0, 0
    while cursor < len(order):
        frame = ConditionFrame("crowd", f"crowd#{count}", scene(seed + count + 3))
        y, row = 8, 0
        while cursor < len(order):
            face_h = min(40.0, float(rng.uniform(24, 28)) + row * 3.0)
            x, row_height = int(rng.integers(0, 20)), 0
            if y + 1.8 * face_h > height_px:
                break
            while x < width - face_h and cursor < len(order):
                image, face = order[cursor]
                cursor += 1
                rgb = cache.setdefault(image.name, image.load())
                patch = cut_patch(image, rgb, face, face_h, context=0.9)
                ph, pw = patch.image.shape[:2]
                # a nearer row covers the shoulders of the row above; any face a new patch
                # covers even a little is no longer scored
                _cover_existing(frame.faces, patch.image.shape, x, y)
                _paste(frame.image, patch.image, x, y)
                frame.faces.extend(_placed(patch, x, y))
                x += int(pw * float(rng.uniform(0.85, 1.0)))
                row_height = max(row_height, ph)
            y += int(row_height * 0.85)
            row += 1
        count += 1
        yield frame


def _cover_existing(faces: list[TruthFace], shape: tuple[int, ...], x: int, y: int) -> None:
    h, w = shape[:2]
    for face in faces:
        if face.ignore:
            continue
        x1, y1 = face.polygon.min(axis=0)
        x2, y2 = face.polygon.max(axis=0)
        ix = max(0.0, min(float(x2), x + w) - max(float(x1), x))
        iy = max(0.0, min(float(y2), y + h) - max(float(y1), y))
        area = max(1e-6, float((x2 - x1) * (y2 - y1)))
        if ix * iy / area > 0.05:
            face.ignore = True
