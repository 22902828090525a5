"""What every importer shares: the error type, size guards and time parsing."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bystander.errors import InputError

GIB = 1 << 30
MIB = 1 << 20
#: Largest streamed input (device logs, audit exports, pcap, CSV billing).
MAX_STREAM_BYTES = 2 * GIB
#: Largest input read whole into memory (HAR, JSON billing).
MAX_WHOLE_BYTES = 1 * GIB
#: Largest document (privacy notice, PIA, ...), profile or manifest.
MAX_DOCUMENT_BYTES = 16 * MIB


class BundleError(InputError):
    """An evidence bundle cannot be read; the message names the file and what is wrong."""


def check_size(path: Path, name: str, limit: int) -> int:
    """The size of ``path``; ``BundleError`` when it is over ``limit`` bytes."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BundleError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if size > limit:
        raise BundleError(
            f"{name}: {size} bytes is over the {_human(limit)} limit for this kind of file"
        )
    return size


def open_binary(path: Path, name: str, limit: int) -> IO[bytes]:
    """Open ``path`` for reading after the size check."""
    check_size(path, name, limit)
    try:
        return path.open("rb")
    except OSError as exc:
        raise BundleError(f"{name}: cannot read ({exc.strerror or exc})") from None


def read_bytes(path: Path, name: str, limit: int) -> bytes:
    with open_binary(path, name, limit) as handle:
        return handle.read(limit + 1)


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else GB 18030 (older Chinese documents)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise BundleError(f"{name}: not text (neither UTF-8 nor GB 18030)") from None


def parse_time(value: object) -> float | None:
    """Epoch seconds (UTC) from an ISO 8601 string or a number; None for None/"".

    Raises ``ValueError`` for anything else (a naive ISO time is taken as UTC).
    """
    kind = type(value)
    if (kind is float or kind is int) and isinstance(value, int | float):
        t = float(value)
        if not math.isfinite(t):
            raise ValueError("not a finite time")
        return t
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            try:
                return parse_time(float(text))
            except ValueError:
                raise ValueError(f"{value!r} is neither ISO 8601 nor epoch seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise ValueError(f"{type(value).__name__} is not a time")


def _human(limit: int) -> str:
    return f"{limit // GIB} GiB" if limit >= GIB else f"{limit // MIB} MiB"
