"""What kind of media a path holds, and the safety limits every reader enforces."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from bystander.errors import InputError, LimitError, UnsupportedFormatError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}

#: Largest frame side and area accepted (8K is 7680x4320 = 33 Mpx).
MAX_SIDE = 16384
MAX_PIXELS = 120_000_000


class MediaKind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"


def media_kind(path: Path) -> MediaKind:
    """Classify ``path`` by suffix; raise a user-facing error for anything else."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return MediaKind.VIDEO
    if suffix in IMAGE_SUFFIXES:
        return MediaKind.IMAGE
    supported = ", ".join(sorted(s.lstrip(".") for s in VIDEO_SUFFIXES | IMAGE_SUFFIXES))
    raise UnsupportedFormatError(
        f"unsupported format {suffix or '(no extension)'}: {path} (supported: {supported})"
    )


def is_media(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES


def check_readable(path: Path) -> None:
    """Fail with one clear line if ``path`` is missing, not a file, unreadable or empty."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    try:
        with path.open("rb") as handle:
            if not handle.read(1):
                raise InputError(f"empty file: {path}")
    except PermissionError:
        raise InputError(f"permission denied: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def check_dimensions(width: int, height: int, path: Path) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"invalid frame size {width}x{height}: {path}")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise LimitError(
            f"frame size {width}x{height} exceeds the limit ({MAX_SIDE} px a side, "
            f"{MAX_PIXELS // 1_000_000} Mpx): {path}"
        )
