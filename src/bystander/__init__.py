"""Bystander: a privacy guard for camera devices and the platforms their footage lands on.

>>> from bystander import protect_video, ProtectSettings   # doctest: +SKIP
>>> protect_video("clip.mp4", "clip.protected.mp4")        # doctest: +SKIP

The public names below are imported on first use (PEP 562), so ``import bystander`` (and
every ``bystander.x`` submodule import, which runs this file first) stays cheap: a command
that never touches video does not pay for NumPy, OpenCV or PyAV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bystander._lazy import lazy_exports
from bystander._version import __version__

if TYPE_CHECKING:
    from bystander.errors import BystanderError
    from bystander.jobs.protect import (
        Protector,
        ProtectSettings,
        protect,
        protect_image,
        protect_video,
    )
    from bystander.vision.detections import Detections
    from bystander.vision.detectors import FaceDetector, create_detector, register_detector
    from bystander.vision.encoding import EncoderSettings
    from bystander.vision.pipeline import FrameProtector, ProtectedFrame
    from bystander.vision.redact import RedactionSettings, Redactor
    from bystander.vision.tracker import FaceTracker, TrackerSettings

#: public name -> module that defines it
_EXPORTS = {
    "BystanderError": "bystander.errors",
    "Detections": "bystander.vision.detections",
    "FaceDetector": "bystander.vision.detectors",
    "create_detector": "bystander.vision.detectors",
    "register_detector": "bystander.vision.detectors",
    "FrameProtector": "bystander.vision.pipeline",
    "ProtectedFrame": "bystander.vision.pipeline",
    "Protector": "bystander.jobs.protect",
    "ProtectSettings": "bystander.jobs.protect",
    "protect": "bystander.jobs.protect",
    "protect_image": "bystander.jobs.protect",
    "protect_video": "bystander.jobs.protect",
    "RedactionSettings": "bystander.vision.redact",
    "Redactor": "bystander.vision.redact",
    "FaceTracker": "bystander.vision.tracker",
    "TrackerSettings": "bystander.vision.tracker",
    "EncoderSettings": "bystander.vision.encoding",
}

__all__ = [
    "BystanderError",
    "Detections",
    "EncoderSettings",
    "FaceDetector",
    "FaceTracker",
    "FrameProtector",
    "ProtectSettings",
    "ProtectedFrame",
    "Protector",
    "RedactionSettings",
    "Redactor",
    "TrackerSettings",
    "__version__",
    "create_detector",
    "protect",
    "protect_image",
    "protect_video",
    "register_detector",
]


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
