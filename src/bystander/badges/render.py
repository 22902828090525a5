"""Printable badge images: the marker, a quiet zone and a short caption (never a name)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bystander.badges.detect import Frame, aruco_dictionary
from bystander.badges.tokens import BadgeToken
from bystander.consent.models import iso
from bystander.fsutil import atomic_output


def qr_image(text: str, module: int = 8) -> Frame:
    """A QR code for ``text`` as a grayscale image, ``module`` pixels per module."""
    code = cv2.QRCodeEncoder.create().encode(text)
    if code is None or code.size == 0:
        raise ValueError("QR encoding failed")
    big = cv2.resize(code, None, fx=module, fy=module, interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(big, dtype=np.uint8)


def aruco_image(marker_id: int, size: int = 360) -> Frame:
    """The ArUco marker ``marker_id`` of the badge dictionary, ``size`` pixels square."""
    return np.ascontiguousarray(
        cv2.aruco.generateImageMarker(aruco_dictionary(), marker_id, size), dtype=np.uint8
    )


def caption_lines(token: BadgeToken) -> list[str]:
    """What is printed under the marker: what it is, the token id and expiry; no name."""
    return [
        "Bystander consent badge",
        f"token {token.token_id}  ({token.scope})",
        f"valid until {iso(token.expires_at)}",
    ]


def render_badge(token: BadgeToken, key: Ed25519PrivateKey | None = None) -> Frame:
    """An RGB badge for ``token``: its QR (signed with ``key``) or ArUco marker, captioned."""
    if token.kind == "qr":
        if key is None:
            raise ValueError("a QR badge needs the signing key")
        marker = qr_image(token.payload(key))
    else:
        if token.marker_id is None:
            raise ValueError("an ArUco badge needs its marker id")
        marker = aruco_image(token.marker_id)
    margin = max(32, marker.shape[1] // 8)
    lines = caption_lines(token)
    width = max(marker.shape[1] + 2 * margin, 520)
    line_height = 30
    height = marker.shape[0] + 2 * margin + line_height * len(lines)
    canvas = np.full((height, width), 255, dtype=np.uint8)
    x = (width - marker.shape[1]) // 2
    canvas[margin : margin + marker.shape[0], x : x + marker.shape[1]] = marker
    y = margin + marker.shape[0] + margin // 2
    for line in lines:
        y += line_height
        cv2.putText(canvas, line, (16, y - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1, cv2.LINE_AA)
    return np.ascontiguousarray(cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB), dtype=np.uint8)


def write_badge(path: Path, image: Frame, overwrite: bool = False) -> None:
    """Write a badge image (PNG by extension) atomically."""
    with atomic_output(Path(path), overwrite=overwrite) as temp:
        ok, data = cv2.imencode(temp.suffix or ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"cannot encode {path}")
        temp.write_bytes(data.tobytes())
