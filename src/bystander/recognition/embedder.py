"""Face embeddings: dlib's 5-point aligner and ResNet (128-d) from ``face-recognition-models``.

The model files ship in the ``face_recognition_models`` wheel and are found without
importing it (nothing is ever downloaded). Boxes come in CenterFace style (x1, y1, x2, y2,
widened 1.2x around the centre); dlib's aligner wants its own, tighter box, so each box is
narrowed back before landmarks are fitted::

    embedder = FaceEmbedder()
    vectors = embedder.embed(frame_rgb, detections.xyxy)   # (N, 128) float32, in memory only
    vectors, quality = embedder.embed_samples(frame_rgb, boxes)   # and (N, 3) quality rows

A quality row is (height px, sharpness, yaw), see ``bystander.recognition.quality``.
"""

from __future__ import annotations

from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
import numpy.typing as npt

from bystander.errors import BystanderError
from bystander.recognition.quality import face_quality
from bystander.vision.detectors.onnx_graph import packaged_file

MODELS_PACKAGE = "face_recognition_models"
SHAPE_MODEL = "models/shape_predictor_5_face_landmarks.dat"
RESNET_MODEL = "models/dlib_face_recognition_resnet_model_v1.dat"
EMBEDDING_SIZE = 128
#: CenterFace boxes are widened this much (``CenterFace.width_scale``); undone here.
CENTERFACE_WIDTH_SCALE = 1.2


class EmbedderError(BystanderError):
    """A face could not be embedded (bad frame, bad box, missing model)."""


def _model(filename: str) -> Path:
    try:
        return packaged_file(MODELS_PACKAGE, filename)
    except BystanderError as exc:
        raise EmbedderError(str(exc)) from None


def dlib_box(
    box: npt.ArrayLike, width_scale: float = CENTERFACE_WIDTH_SCALE
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) for dlib from a detector box widened by ``width_scale``."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    if not all(np.isfinite([x1, y1, x2, y2])) or x2 <= x1 or y2 <= y1:
        raise EmbedderError(f"invalid face box {[x1, y1, x2, y2]}")
    cx, half = (x1 + x2) / 2, (x2 - x1) / 2 / width_scale
    return round(cx - half), round(y1), round(cx + half), round(y2)


class FaceEmbedder:
    """128-d face descriptors; Euclidean distance below about 0.6 means "same person".

    ``width_scale`` is the widening of the incoming boxes (1.0 for tight boxes such as
    dlib's own annotations). ``jitter`` > 0 averages that many random re-crops (slower).
    """

    def __init__(self, width_scale: float = CENTERFACE_WIDTH_SCALE, jitter: int = 0) -> None:
        import dlib  # type: ignore[import-untyped,unused-ignore]

        if not 0.5 <= width_scale <= 2.0:
            raise EmbedderError(f"width_scale must be between 0.5 and 2, got {width_scale}")
        self.width_scale = width_scale
        self.jitter = max(0, int(jitter))
        self._dlib: Any = dlib
        self._shape: Any = dlib.shape_predictor(str(_model(SHAPE_MODEL)))
        self._resnet: Any = dlib.face_recognition_model_v1(str(_model(RESNET_MODEL)))
        self._lock = Lock()  # dlib's network is not safe to share between threads

    def embed(
        self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
    ) -> npt.NDArray[np.float32]:
        """One 128-d descriptor per box, (N, 128) float32. Raises on any bad input."""
        return self.embed_samples(frame_rgb, boxes_xyxy)[0]

    def embed_samples(
        self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Descriptors (N, 128) and quality rows (N, 3): height, sharpness, yaw."""
        frame = _check_frame(frame_rgb)
        boxes = np.asarray(boxes_xyxy, dtype=np.float64)
        if boxes.size == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32), np.zeros((0, 3), np.float32)
        if boxes.ndim != 2 or boxes.shape[1] < 4:
            raise EmbedderError(f"boxes must be (N, 4) xyxy, got shape {boxes.shape}")
        height, width = frame.shape[:2]
        out = np.empty((len(boxes), EMBEDDING_SIZE), dtype=np.float32)
        quality = np.empty((len(boxes), 3), dtype=np.float32)
        with self._lock:
            for index, box in enumerate(boxes[:, :4]):
                left, top, right, bottom = dlib_box(box, self.width_scale)
                if right <= 0 or bottom <= 0 or left >= width or top >= height:
                    raise EmbedderError(f"face box {box.tolist()} lies outside the frame")
                rect = self._dlib.rectangle(left, top, right, bottom)
                shape = self._shape(frame, rect)
                vector = self._resnet.compute_face_descriptor(frame, shape, self.jitter)
                out[index] = np.asarray(vector, dtype=np.float32)
                points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
                quality[index] = face_quality(frame, (left, top, right, bottom), points).as_row()
        if not np.isfinite(out).all():
            raise EmbedderError("the face model returned a non-finite descriptor")
        return out, quality


def _check_frame(frame: Any) -> npt.NDArray[np.uint8]:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise EmbedderError("frame must be a uint8 numpy array (H, W, 3) in RGB order")
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 8:
        raise EmbedderError(f"frame must be (H, W, 3) RGB, got shape {frame.shape}")
    return np.ascontiguousarray(frame)
