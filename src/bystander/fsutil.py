"""Atomic publication of outputs: write to a temporary name, rename only when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
        fd, name = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent
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


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(target: Path, text: str) -> None:
    """Write a small text file atomically (reports, manifests)."""
    with atomic_output(target, overwrite=True) as temp:
        temp.write_text(text, encoding="utf-8")
