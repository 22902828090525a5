"""Evidence bundles from uploads: .zip or .tar.gz unpacked under hard limits.

A small archive can expand to gigabytes (a "zip bomb"), hold a million empty files, or
name paths outside its folder. :func:`extract` checks every name before writing, counts the
bytes actually decompressed (archive headers can lie) and stops at the first limit: total
bytes, files, and the ratio of unpacked to packed size. Only regular files and folders are
written (mode 0600/0700). It does blocking work: call it from a worker thread.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

_CHUNK = 1 << 20


class ArchiveRefused(ValueError):
    """The archive breaks a limit or is damaged (one line, no server path)."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_files: int
    max_ratio: int


def extract(archive: Path, target: Path, limits: Limits) -> None:
    """Unpack ``archive`` (typed by content) into the new folder ``target``; on refusal
    ``target`` is removed and ``ArchiveRefused`` raised."""
    with archive.open("rb") as handle:
        head = handle.read(4)
    packed = max(1, archive.stat().st_size)
    budget = min(limits.max_bytes, packed * limits.max_ratio)
    target.mkdir(mode=0o700)
    try:
        if head.startswith(b"PK\x03\x04"):
            _unzip(archive, target, budget, limits.max_files)
        elif head.startswith(b"\x1f\x8b"):
            _untar(archive, target, budget, limits.max_files)
        else:
            raise ArchiveRefused("a bundle must be a .zip or .tar.gz (checked by content)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, RuntimeError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveRefused(f"damaged bundle archive ({type(exc).__name__})") from None
    except ArchiveRefused:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _unzip(archive: Path, target: Path, budget: int, max_files: int) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if len(members) > max_files:
            raise ArchiveRefused(f"bundle archive has more than {max_files} entries")
        used = 0
        for member in members:
            destination = _inside(target, member.filename)
            if member.is_dir():
                destination.mkdir(mode=0o700, parents=True, exist_ok=True)
                continue
            if member.file_size > budget - used:
                raise ArchiveRefused(_too_big(budget))
            with bundle.open(member) as source:
                used = _copy(source, destination, used, budget)


def _untar(archive: Path, target: Path, budget: int, max_files: int) -> None:
    used, count = 0, 0
    with tarfile.open(archive, "r:gz") as bundle:
        for member in bundle:  # streamed: the member list is never held whole
            count += 1
            if count > max_files:
                raise ArchiveRefused(f"bundle archive has more than {max_files} entries")
            destination = _inside(target, member.name)
            if member.isdir():
                destination.mkdir(mode=0o700, parents=True, exist_ok=True)
                continue
            if not member.isfile():
                raise ArchiveRefused("bundle archives may hold only files and folders")
            if member.size > budget - used:
                raise ArchiveRefused(_too_big(budget))
            source = bundle.extractfile(member)
            if source is None:
                raise ArchiveRefused("bundle archives may hold only files and folders")
            with source:
                used = _copy(source, destination, used, budget)


def _inside(target: Path, name: str) -> Path:
    """``target/name`` if ``name`` is a plain relative path inside it; else refused."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise ArchiveRefused(f"bundle archive entry escapes the bundle: {name[:200]!r}")
    return target.joinpath(*parts)


def _copy(source: IO[bytes], destination: Path, used: int, budget: int) -> int:
    destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o600)  # fmt: skip
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            used += len(chunk)
            if used > budget:
                raise ArchiveRefused(_too_big(budget))
            out.write(chunk)
    return used


def _too_big(budget: int) -> str:
    return f"bundle archive unpacks to more than {budget} bytes (size or ratio limit)"
