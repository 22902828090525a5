"""Face detectors behind one small interface, and a registry to build them by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError
from bystander.vision.detections import Detections


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces in an RGB frame.

    ``detect`` takes an ``(H, W, 3)`` uint8 RGB array and returns the faces found, with
    scores, in that frame's pixel coordinates. It may raise: the pipeline treats any
    exception as "faces unknown" and redacts the whole frame.
    """

    name: str

    def detect(self, frame: npt.NDArray[np.uint8]) -> Detections: ...

    def describe(self) -> dict[str, object]:
        """Settings worth recording in a report (model, backend, threshold...)."""
        ...


DetectorFactory = Callable[..., FaceDetector]
_REGISTRY: dict[str, DetectorFactory] = {}


def register_detector(name: str, factory: DetectorFactory) -> None:
    """Make a detector available to ``create_detector`` and the CLI's ``--detector``."""
    _REGISTRY[name] = factory


def available_detectors() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def create_detector(name: str = "centerface", **options: object) -> FaceDetector:
    """Build a registered detector, e.g. ``create_detector("centerface", threshold=0.2)``."""
    _ensure_builtins()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise DetectorError(f"unknown detector {name!r} (available: {known})") from None
    return factory(**options)


def _ensure_builtins() -> None:
    if "centerface" not in _REGISTRY:
        from bystander.vision.detectors.centerface import CenterFace

        register_detector("centerface", CenterFace)


__all__ = [
    "FaceDetector",
    "available_detectors",
    "create_detector",
    "register_detector",
]
