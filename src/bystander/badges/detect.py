"""Find consent badges (QR codes and ArUco markers) in an RGB frame.

Detection fails closed: if OpenCV raises, the frame has no badges, so nobody stays visible
because of one. Decoding only reads the marker; whether it is a *valid* badge is decided by
``bystander.badges.policy``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from bystander.badges.tokens import ARUCO_DICTIONARY

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
Corners = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Badge:
    """One marker seen in a frame: ``data`` is the QR text or the ArUco id (as text)."""

    kind: Literal["qr", "aruco"]
    data: str
    corners: Corners  # (4, 2) pixel corners
    box: tuple[float, float, float, float]  # x1, y1, x2, y2

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) / 2, (y1 + y2) / 2


def _badge(kind: Literal["qr", "aruco"], data: str, corners: npt.ArrayLike) -> Badge:
    points = np.asarray(corners, dtype=np.float32).reshape(4, 2)
    x1, y1 = points.min(axis=0)
    x2, y2 = points.max(axis=0)
    return Badge(kind, data, points, (float(x1), float(y1), float(x2), float(y2)))


def aruco_dictionary() -> cv2.aruco.Dictionary:
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICTIONARY))


def find_aruco(gray: Frame) -> list[Badge]:
    """ArUco markers of the badge dictionary in a grayscale frame."""
    detector = cv2.aruco.ArucoDetector(aruco_dictionary(), cv2.aruco.DetectorParameters())
    corners, ids, _rejected = detector.detectMarkers(gray)
    if ids is None:
        return []
    return [_badge("aruco", str(int(i)), c) for c, i in zip(corners, ids.reshape(-1), strict=True)]


def _decode_qr(gray: Frame) -> list[tuple[str, Corners]]:
    """(text, corners) of each QR found in ``gray``; text is empty where decoding failed."""
    found: list[tuple[str, Corners]] = []
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        ok, texts, points, _ = detector.detectAndDecodeMulti(gray)
        if ok and points is not None:
            quads = np.asarray(points, dtype=np.float32).reshape(-1, 4, 2)
            found = [(str(t), q) for t, q in zip(texts, quads, strict=False)]
            if any(text for text, _ in found):
                return found
    return found


def _retry_small(gray: Frame, quad: Corners, scale: float = 2.0) -> list[tuple[str, Corners]]:
    """Decode a QR that was located but too small to read, from an upscaled crop around it."""
    x1, y1 = np.floor(quad.min(axis=0)).astype(int)
    x2, y2 = np.ceil(quad.max(axis=0)).astype(int)
    pad = max(8, (x2 - x1) // 4)
    h, w = gray.shape[:2]
    x1, y1, x2, y2 = max(0, x1 - pad), max(0, y1 - pad), min(w, x2 + pad), min(h, y2 + pad)
    if x2 - x1 < 8 or y2 - y1 < 8:
        return []
    crop: Frame = np.ascontiguousarray(
        cv2.resize(gray[y1:y2, x1:x2], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC),
        dtype=np.uint8,
    )
    offset = np.array([x1, y1], dtype=np.float32)
    return [(t, q / scale + offset) for t, q in _decode_qr(crop) if t]


def find_qr(gray: Frame) -> list[Badge]:
    """Decoded QR codes in a grayscale frame (ones that cannot be read are skipped)."""
    found: list[Badge] = []
    for text, quad in _decode_qr(gray):
        if text:
            found.append(_badge("qr", text, quad))
        else:
            found.extend(_badge("qr", t, q) for t, q in _retry_small(gray, quad))
    return found


def find_badges(frame_rgb: Frame) -> list[Badge]:
    """Every badge marker in ``frame_rgb``; on any detector error, none (fail closed)."""
    try:
        gray: Frame = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
        if gray.ndim == 3:
            gray = np.ascontiguousarray(cv2.cvtColor(gray, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        return find_qr(gray) + find_aruco(gray)
    except Exception:  # fail closed: a broken detector shows no badges
        log.warning("badge detection failed; the frame has no badges", exc_info=True)
        return []
