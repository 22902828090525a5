"""Atomic publication of outputs: write to a temporary name, rename only when complete."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bystander.errors import OutputError


@contextlib.contextmanager
def atomic_output(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; publish it as ``target`` on success.

    The temporary file keeps ``target``'s suffix so format detection by extension works.
    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``target`` is left exactly as it was.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise OutputError(f"output exists: {target} (use --overwrite to replace it)")
    if target.exists() and target.is_dir():
        raise OutputError(f"output is a directory: {target}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(target)
        fd, name = tempfile.mkstemp(
            prefix=f".{target.stem}.{os.getpid()}.", suffix=f".partial{target.suffix}",
            dir=target.parent,
        )
    except OSError as exc:
        raise OutputError(f"cannot write to {target.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove ``.NAME.PID.*.partial.EXT`` files beside ``target`` left by a run that was
    killed (its process is gone). A file without a process id (older versions) counts as
    stale once it is an hour old. Returns what was removed."""
    removed = []
    prefix, suffix = f".{target.stem}.", f".partial{target.suffix}"
    for path in target.parent.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        middle = path.name[len(prefix) : -len(suffix)]
        pid_text, stale = middle.split(".", 1)[0], False
        if pid_text.isdigit() and "." in middle:
            stale = int(pid_text) != os.getpid() and not _alive(int(pid_text))
        else:
            with contextlib.suppress(OSError):
                stale = time.time() - path.stat().st_mtime > 3600
        if stale:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(target: Path, text: str) -> None:
    """Write a small text file atomically (reports, manifests)."""
    with atomic_output(target, overwrite=True) as temp:
        temp.write_text(text, encoding="utf-8")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def private_directory(path: Path) -> bool:
    """Create ``path`` (0700) if missing; whether it is a directory of this user's that no
    one else may use (not a link, no group or other permissions)."""
    try:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077

