"""What is measured: Bystander's image pipeline, and deface as the baseline, frame by frame.

A contender turns an RGB frame into the mask of pixels it hides. Bystander's is exactly
what ``bystander protect`` hides in an image; deface's is what ``deface`` (its defaults:
CenterFace on onnxruntime, threshold 0.2, mask scale 1.3, ellipses) hides, computed with
deface's own detector and box scaling.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bystander.jobs.protect import Protector, ProtectSettings
from bystander.measure.evaluation import redaction_mask
from bystander.vision.detectors import FaceDetector
from bystander.vision.redact import Redactor

Frame = npt.NDArray[np.uint8]
BoolMask = npt.NDArray[np.bool_]


class Contender(Protocol):
    name: str

    def mask(self, frame: Frame) -> BoolMask:
        """The pixels this tool hides in ``frame``."""
        ...

    def describe(self) -> dict[str, object]: ...


class BystanderContender:
    """``bystander protect`` on a still image, with ``settings``."""

    name = "bystander"

    def __init__(
        self, settings: ProtectSettings | None = None, detector: FaceDetector | None = None
    ) -> None:
        self.protector = Protector(settings, detector)
        self._frames = self.protector.frame_protector(video=False)
        self._redactor = Redactor(self.protector.settings.redaction)

    def mask(self, frame: Frame) -> BoolMask:
        protected = self._frames.protect(frame.copy())
        return redaction_mask(protected, self._redactor, frame.shape)

    def describe(self) -> dict[str, object]:
        return {
            "detector": self.protector.detector.describe(),
            "threshold": self.protector.settings.threshold,
            "mask_scale": self.protector.settings.redaction.mask_scale,
            "shape": self.protector.settings.redaction.shape,
        }


class DefaceContender:
    """deface 1.5 with its defaults, on the same frames."""

    name = "deface"

    def __init__(self, threshold: float = 0.2, mask_scale: float = 1.3) -> None:
        from deface.centerface import CenterFace as DefaceCenterFace

        self.threshold, self.mask_scale = threshold, mask_scale
        # deface prints its execution provider on stdout, which would break ``--json``
        with contextlib.redirect_stdout(sys.stderr):
            self._model = DefaceCenterFace(backend="onnxrt")

    def mask(self, frame: Frame) -> BoolMask:
        from deface.deface import scale_bb
        from skimage.draw import ellipse

        dets, _ = self._model(frame, threshold=self.threshold)
        height, width = frame.shape[:2]
        out = np.zeros((height, width), dtype=bool)
        for det in dets:
            x1, y1, x2, y2 = scale_bb(*det[:4].astype(int), self.mask_scale)
            y1, y2 = max(0, y1), min(height - 1, y2)
            x1, x2 = max(0, x1), min(width - 1, x2)
            if x2 <= x1 or y2 <= y1:
                continue
            box_h, box_w = y2 - y1, x2 - x1
            ey, ex = ellipse(  # type: ignore[no-untyped-call]
                box_h // 2, box_w // 2, box_h // 2, box_w // 2, shape=(box_h, box_w)
            )
            out[y1 + ey, x1 + ex] = True
        return out

    def describe(self) -> dict[str, object]:
        from deface import __version__

        return {
            "tool": f"deface {__version__}",
            "backend": "onnxruntime",
            "threshold": self.threshold,
            "mask_scale": self.mask_scale,
            "shape": "ellipse",
        }
