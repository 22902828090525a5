"""Samples and the consumers that receive them once the guard has released them (R6).

A consumer never sees a sensor: it registers with a ``CaptureSession`` and receives only
``ReleasedSample`` values, after the indicator, consent, zone and protector gates. Every kind
(recorder, live stream, ring buffer, AI query, uploader) goes through the same gate; the
kinds differ only in the extra consents arming needs for them (R10).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bystander.consent.models import Scope


class SampleKind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


@dataclass(frozen=True, slots=True)
class Sample:
    """A sensor sample: a frame (``numpy`` image) or an audio chunk, stamped by the sensor."""

    kind: SampleKind
    ts_ns: int
    payload: Any


@dataclass(frozen=True, slots=True)
class ReleasedSample:
    """A sample the guard released: protected payload, sensor stamp and release time."""

    kind: SampleKind
    ts_ns: int
    released_ns: int
    payload: Any
    seq: int
    redacted_whole: bool = False


class ConsumerKind(StrEnum):
    RECORDER = "recorder"
    LIVE_STREAM = "live-stream"
    RING_BUFFER = "ring-buffer"
    AI_QUERY = "ai-query"
    UPLOADER = "uploader"


#: Consents (beyond recording) the wearer needs before a session with this consumer arms.
CONSUMER_SCOPES: dict[ConsumerKind, tuple[Scope, ...]] = {
    ConsumerKind.RECORDER: (),
    ConsumerKind.RING_BUFFER: (),
    ConsumerKind.LIVE_STREAM: (Scope.LIVE_STREAM,),
    ConsumerKind.AI_QUERY: (Scope.AI_PROCESSING,),
    ConsumerKind.UPLOADER: (Scope.CLOUD_PROCESSING,),
}


class Consumer(Protocol):
    """Anything that receives released samples."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> ConsumerKind: ...

    def receive(self, sample: ReleasedSample) -> None: ...


class CallbackConsumer:
    """A consumer that hands each released sample to a function."""

    def __init__(
        self, name: str, kind: ConsumerKind, callback: Callable[[ReleasedSample], None]
    ) -> None:
        self._name, self._kind, self._callback = name, kind, callback

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> ConsumerKind:
        return self._kind

    def receive(self, sample: ReleasedSample) -> None:
        self._callback(sample)


class CollectingConsumer:
    """Keeps every released sample in memory (tests, demos, small recorders)."""

    def __init__(self, name: str = "recorder", kind: ConsumerKind = ConsumerKind.RECORDER) -> None:
        self._name, self._kind = name, kind
        self._lock = threading.Lock()
        self.samples: list[ReleasedSample] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> ConsumerKind:
        return self._kind

    def receive(self, sample: ReleasedSample) -> None:
        with self._lock:
            self.samples.append(sample)


class RingBuffer:
    """A pre-roll buffer of the last ``capacity`` *released* samples (never raw ones)."""

    def __init__(self, capacity: int, name: str = "ring-buffer") -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._name = name
        self._lock = threading.Lock()
        self._items: deque[ReleasedSample] = deque(maxlen=capacity)

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> ConsumerKind:
        return ConsumerKind.RING_BUFFER

    def receive(self, sample: ReleasedSample) -> None:
        with self._lock:
            self._items.append(sample)

    def snapshot(self) -> list[ReleasedSample]:
        with self._lock:
            return list(self._items)
