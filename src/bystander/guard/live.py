"""`LiveFeed`: a camera source delivered to a capture session in real time, never behind it.

A reader thread decodes the source and stamps each sample with the session clock as a sensor
would (a file is paced to its own timeline, so it plays like a camera). Samples wait in a
small queue for the session; when the session falls behind, a video frame that is more than
``MAX_AGE_FRAMES`` frame periods old when the session gets to it is dropped (and a sample
that finds the queue full), instead of letting the live lag grow; the session counts each
(``CaptureSession.skip``); audio is never dropped (the reader waits for room instead, and the
video frames that wait with it are then dropped for age). The lag is therefore bounded: three
frame periods, the protector's look-back (``delay_frames``) and the wait for a read-back
after each sample.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bystander.guard.clock import Clock
from bystander.guard.consumers import Sample, SampleKind
from bystander.guard.sources import VideoSource

if TYPE_CHECKING:
    from bystander.guard.session import CaptureSession

#: Samples waiting for the session (a few video frames and audio chunks).
QUEUE_SIZE = 4
#: A video frame older than this many frame periods when the session gets to it is dropped.
#: More than a keyframe's search takes (about 2.5 periods of 30 fps at 720p on 2 cores), so
#: the frames that arrive during one wait for it instead of being dropped every time: 289-296
#: of 300 frames released against 246-281 with 2 (BENCHMARKS.md, issue 16, fourth session).
MAX_AGE_FRAMES = 3
_END = None


class LiveFeed:
    """Iterate over the samples of ``camera``, stamped and paced, until it ends, ``max_seconds``
    of it have passed, or ``close``; a source error is raised by the iteration."""

    def __init__(
        self,
        camera: VideoSource,
        session: CaptureSession,
        clock: Clock,
        audio: bool,
        max_seconds: float = 0,
        queue_size: int | None = None,
    ) -> None:
        self.camera = camera
        self.session = session
        self.clock = clock
        self.audio = audio
        self.max_seconds = max_seconds
        self.dropped = 0
        self._queue: queue.Queue[Sample | None] = queue.Queue(queue_size or QUEUE_SIZE)
        self._halt = threading.Event()
        self._error: BaseException | None = None
        self._origin_ns = clock.monotonic_ns()
        self.max_age_ns = round(MAX_AGE_FRAMES * 1e9 / max(camera.info.fps, 1.0))
        self._thread = threading.Thread(target=self._read, name="live-feed", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[Sample]:
        while True:
            sample = self._queue.get()
            if sample is _END:
                break
            late = self.clock.monotonic_ns() - sample.ts_ns > self.max_age_ns
            if late and sample.kind is SampleKind.VIDEO:  # behind the camera: skip to newer
                self.dropped += 1
                self.session.skip(sample)
                continue
            yield sample
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop reading (the thread ends at its next sample)."""
        self._halt.set()
        while True:  # unblock a reader waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5)

    def _read(self) -> None:
        try:
            for item in self.camera.samples(audio=self.audio):
                if self._halt.is_set() or (self.max_seconds and item.seconds > self.max_seconds):
                    break
                # The sensor's timestamp: the source timeline mapped onto the session clock.
                # A live source delivers in real time; a file is paced to match.
                stamp = self._origin_ns + int(item.seconds * 1e9)
                self._wait_until(stamp)
                kind = SampleKind.VIDEO if item.kind == "video" else SampleKind.AUDIO
                sample = Sample(kind, stamp, item.payload)
                if kind is SampleKind.AUDIO:  # sound is small and never dropped: wait
                    self._put(sample)
                    continue
                try:
                    self._queue.put_nowait(sample)
                except queue.Full:  # the session is behind: drop, never fall further behind
                    self.dropped += 1
                    self.session.skip(sample)
        except BaseException as exc:  # raised by the iteration
            self._error = exc
        finally:
            while not self._halt.is_set():
                try:
                    self._queue.put(_END, timeout=0.05)
                    break
                except queue.Full:
                    continue

    def _put(self, sample: Sample) -> None:
        while not self._halt.is_set():
            try:
                self._queue.put(sample, timeout=0.05)
                return
            except queue.Full:
                continue

    def _wait_until(self, stamp_ns: int) -> None:
        while (remaining := stamp_ns - self.clock.monotonic_ns()) > 0 and not self._halt.is_set():
            time.sleep(min(remaining / 1e9, 0.01))
