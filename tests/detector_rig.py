"""A real CenterFace that counts its full-frame searches (tests of when the pipeline searches)."""

from __future__ import annotations

from typing import Any

from bystander.vision.detectors.centerface import CenterFace


class CountingDetector:
    """Wraps a real ``CenterFace``; ``full[0]`` counts ``detect`` calls, its search-plan twins
    (``with_search``, which the pipeline uses) included."""

    def __init__(self, inner: Any = None, full: list[int] | None = None) -> None:
        self.inner = inner if inner is not None else CenterFace()
        self.full = full if full is not None else [0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def with_search(self, *args: Any, **kwargs: Any) -> CountingDetector:
        return CountingDetector(self.inner.with_search(*args, **kwargs), self.full)

    def detect(self, frame: Any) -> Any:
        self.full[0] += 1
        return self.inner.detect(frame)
