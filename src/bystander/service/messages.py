"""Messages that reach a client: one line, and no server path (only a file's own name)."""

from __future__ import annotations

import re

_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:,;()\[\]{}]+){2,}")
MAX_CHARS = 500


def public_line(source: BaseException | str) -> str:
    """The first line of ``source`` with absolute paths cut to their last part."""
    text = str(source).strip().splitlines()
    line = text[0] if text else (type(source).__name__ if isinstance(source, BaseException)
                                 else "error")  # fmt: skip
    line = _PATH.sub(lambda m: re.split(r"[\\/]", m.group(0))[-1], line)
    return line[:MAX_CHARS]
