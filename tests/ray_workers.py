"""Worker factories for the Ray tests (importable by Ray's worker processes)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def counting(log_dir: str) -> Callable[[int], tuple[int, int]]:
    """Doubles numbers; records each start (one file per actor) to count model loads."""
    pid = os.getpid()
    (Path(log_dir) / f"started-{pid}").write_text("loaded")

    def work(item: int) -> tuple[int, int]:
        if item == 3:
            raise ValueError("item 3 is broken")
        if item == 5:
            os._exit(1)  # a crash in native code, say
        stamp = Path(log_dir) / f"run-{item}"
        stamp.write_text(f"{time.monotonic()}")
        time.sleep(0.2)
        stamp.write_text(f"{stamp.read_text()} {time.monotonic()}")
        return item * 2, pid

    return work


def broken() -> Callable[[int], int]:
    raise RuntimeError("the model file is missing")
