"""Uploads: streamed to disk under a size limit, and typed by their first bytes."""

from __future__ import annotations

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


async def save_upload(upload: UploadFile, folder: Path, limit: int) -> Path:
    """Write ``upload`` into ``folder`` as ``input<suffix>``; 413 over ``limit``, 415 if the
    bytes are not a supported image or video. Nothing is left behind on refusal."""
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "upload.part"
    size = 0
    head = b""
    try:
        with partial.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"upload larger than {limit} bytes")
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                out.write(chunk)
        suffix = sniff(head)
        if suffix is None:
            raise HTTPException(415, "not a supported image or video (checked by content)")
        target = folder / f"input{suffix}"
        partial.replace(target)
        return target
    finally:
        partial.unlink(missing_ok=True)
