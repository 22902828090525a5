"""Bystander: a privacy guard for camera-equipped AI devices and the platforms their footage lands on.

>>> from bystander import protect_video, ProtectSettings   # doctest: +SKIP
>>> protect_video("clip.mp4", "clip.protected.mp4")        # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from bystander.errors import BystanderError  # noqa: E402
from bystander.vision.detections import Detections  # noqa: E402
from bystander.vision.detectors import FaceDetector, create_detector, register_detector  # noqa: E402
from bystander.vision.pipeline import FrameProtector, ProtectedFrame  # noqa: E402
from bystander.vision.protect import (  # noqa: E402
    ProtectSettings,
    Protector,
    protect,
    protect_image,
    protect_video,
)
from bystander.vision.redact import RedactionSettings, Redactor  # noqa: E402
from bystander.vision.tracker import FaceTracker, TrackerSettings  # noqa: E402
from bystander.vision.video_io import EncoderSettings  # noqa: E402

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
