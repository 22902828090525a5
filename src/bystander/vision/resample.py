"""Area-average downscaling that costs what its output needs, not what its input has.

OpenCV's ``INTER_AREA`` has a fast path only for whole-number factors (each output pixel the
plain mean of a k x k block). Other factors take a general path several times slower per input
pixel: shrinking a 2560x1920 frame to 960x720 took 12 ms, a 1500 px face crop to 192 px 8 ms
(BENCHMARKS.md, issue 20). ``shrink`` first takes the largest whole factor that divides the
image (block means, the fast path) and only then the small remaining fractional step, on a
fraction of the pixels. The result is an area average of the same footprint, equal to a
one-step ``INTER_AREA`` to within rounding.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def whole_factor(height: int, width: int, out_h: int, out_w: int) -> int:
    """The largest k <= the shrink factor that divides both sides (1 when there is none)."""
    limit = int(min(height / max(out_h, 1), width / max(out_w, 1)))
    for k in range(limit, 1, -1):
        if height % k == 0 and width % k == 0:
            return k
    return 1


def shrink(image: Image, size: tuple[int, int]) -> Image:
    """``image`` area-averaged down to ``size`` (width, height), in at most two steps."""
    height, width = image.shape[:2]
    out_w, out_h = size
    if out_w >= width and out_h >= height:
        return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
    k = whole_factor(height, width, out_h, out_w)
    if k > 1:
        image = np.asarray(cv2.resize(image, (width // k, height // k),
                                      interpolation=cv2.INTER_AREA))  # fmt: skip
        if image.shape[1] == out_w and image.shape[0] == out_h:
            return image
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
