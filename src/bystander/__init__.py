"""Bystander: a privacy guard for camera devices and the platforms their footage lands on.

>>> from bystander import protect_video, ProtectSettings   # doctest: +SKIP
>>> protect_video("clip.mp4", "clip.protected.mp4")        # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from bystander.errors import BystanderError
from bystander.vision.detections import Detections
from bystander.vision.detectors import FaceDetector, create_detector, register_detector
from bystander.vision.pipeline import FrameProtector, ProtectedFrame
from bystander.vision.protect import (
    Protector,
    ProtectSettings,
    protect,
    protect_image,
    protect_video,
)
from bystander.vision.redact import RedactionSettings, Redactor
from bystander.vision.tracker import FaceTracker, TrackerSettings
from bystander.vision.video_io import EncoderSettings

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
