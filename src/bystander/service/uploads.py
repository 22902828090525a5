"""Uploads: streamed to disk under a size limit, and typed by their first bytes."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import HTTPException, UploadFile


def sniff(head: bytes) -> str | None:
    """The media type of a file from its first bytes, as a suffix; None if not media."""
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    if head[4:8] == b"ftyp":
        return ".mov" if head[8:10] == b"qt" else ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm" if b"webm" in head[:64] else ".mkv"
    return None


async def spool(upload: UploadFile, target: Path, limit: int) -> bytes:
    """Copy ``upload`` to ``target`` (mode 0600) in chunks; 413 over ``limit`` (and nothing
    left behind). Returns the first 64 bytes, for typing by content."""
    size, head = 0, b""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0),
                 0o600)  # fmt: skip
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"upload larger than {limit} bytes")
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return head


async def save_upload(upload: UploadFile, folder: Path, limit: int) -> Path:
    """Write ``upload`` into ``folder`` (made 0700) as ``input<suffix>`` (0600); 413 over
    ``limit``, 415 if the bytes are not a supported image or video. Nothing is left behind
    on refusal."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = folder / "upload.part"
    try:
        head = await spool(upload, partial, limit)
        suffix = sniff(head)
        if suffix is None:
            raise HTTPException(415, "not a supported image or video (checked by content)")
        target = folder / f"input{suffix}"
        partial.replace(target)
        return target
    finally:
        partial.unlink(missing_ok=True)


def image_pixels(path: Path) -> int:
    """Width x height from the file's header, without decoding it (0 if unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception:
        return 0
    return int(width) * int(height)
