"""Face samples embedded in the caller's thread or off it, one batch at a time.

The gate that keeps consenting people visible hands a batch of faces (one frame, several
tracks) to a sample queue and collects the answers later, so a frame never waits for the
face model:

- ``InlineSamples`` embeds at once, in the caller's thread (tests, studies, still images);
- ``BackgroundSamples`` sends the batch to ``ProcessEmbedder``'s child and returns; the
  answer is collected on a later frame (``collect`` never blocks unless asked to).

Each batch carries the caller's tags (which track, which frame) back with its answer.
Descriptors stay in memory only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from bystander.recognition.worker import ProcessEmbedder

T = TypeVar("T")
Vectors = npt.NDArray[np.float32]


class SampleEmbedder(Protocol):
    """``FaceEmbedder`` or ``ProcessEmbedder``: descriptors and quality rows per box."""

    def embed_samples(
        self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
    ) -> tuple[Vectors, Vectors]: ...


@dataclass(frozen=True)
class Answer(Generic[T]):
    """The descriptors (N, 128) and quality rows (N, 3) of one batch, with its tags."""

    tags: tuple[T, ...]
    vectors: Vectors
    quality: Vectors


class SampleQueue(Protocol[T]):
    @property
    def busy(self) -> bool: ...

    def submit(
        self, frame: npt.NDArray[np.uint8], boxes: npt.ArrayLike, tags: Sequence[T]
    ) -> bool: ...

    def collect(self, wait_s: float = 0.0) -> list[Answer[T]]: ...


class InlineSamples(Generic[T]):
    """Embeds each batch when it is submitted; ``collect`` hands the answers over."""

    def __init__(self, embedder: SampleEmbedder) -> None:
        self.embedder = embedder
        self._done: list[Answer[T]] = []

    @property
    def busy(self) -> bool:
        return False

    def submit(
        self, frame: npt.NDArray[np.uint8], boxes: npt.ArrayLike, tags: Sequence[T]
    ) -> bool:
        vectors, quality = self.embedder.embed_samples(frame, boxes)
        self._done.append(Answer(tuple(tags), vectors, quality))
        return True

    def collect(self, wait_s: float = 0.0) -> list[Answer[T]]:
        done, self._done = self._done, []
        return done


class BackgroundSamples(Generic[T]):
    """One batch at a time in ``ProcessEmbedder``'s child; ``submit`` says False when busy."""

    def __init__(self, embedder: ProcessEmbedder) -> None:
        self.embedder = embedder
        self._tags: tuple[T, ...] | None = None

    @property
    def busy(self) -> bool:
        return self._tags is not None

    def submit(
        self, frame: npt.NDArray[np.uint8], boxes: npt.ArrayLike, tags: Sequence[T]
    ) -> bool:
        if self._tags is not None:
            return False
        if self.embedder.send(frame, boxes) == 0:
            return True
        self._tags = tuple(tags)
        return True

    def collect(self, wait_s: float = 0.0) -> list[Answer[T]]:
        """The batch's answer if it is ready (within ``wait_s``); raises ``EmbedderError``."""
        if self._tags is None:
            return []
        try:
            answer = self.embedder.receive(wait_s)
        except BaseException:
            self._tags = None
            raise
        if answer is None:
            return []
        tags, self._tags = self._tags, None
        return [Answer(tags, answer[0], answer[1])]
