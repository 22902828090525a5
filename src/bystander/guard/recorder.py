"""The recorder consumer: writes released (protected) frames to a video file."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from bystander.guard.consumers import ConsumerKind, ReleasedSample, SampleKind
from bystander.vision.encoding import EncoderSettings
from bystander.vision.video_io import VideoWriter


class RecorderConsumer:
    """Receives only what the session releases; the file keeps the capture timing.

    The file at ``path`` is incomplete until ``close``; callers write to a temporary name
    and publish it afterwards (``bystander.fsutil.atomic_output``). With ``background``, a
    writer thread encodes (x264 releases the GIL) while the session protects the next frames;
    ``receive`` then only queues (``QUEUE_SIZE`` samples; it waits when the writer is behind),
    and ``close`` finishes the queue and raises the writer's error, if any.
    """

    QUEUE_SIZE = 32

    name = "recorder"
    kind = ConsumerKind.RECORDER

    def __init__(
        self,
        path: Path,
        fps: float,
        encoder: EncoderSettings | None = None,
        audio_rate: int | None = None,
        audio_layout: str = "mono",
        background: bool = False,
    ) -> None:
        self.path = path
        self.fps = fps
        self.encoder = encoder
        self.audio_rate = audio_rate
        self.audio_layout = audio_layout
        self._writer: VideoWriter | None = None
        self._first_ns: int | None = None
        self.audio_chunks = 0
        self._queue: queue.Queue[ReleasedSample | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        if background:
            self._queue = queue.Queue(self.QUEUE_SIZE)
            self._thread = threading.Thread(target=self._drain, name="recorder", daemon=True)
            self._thread.start()

    @property
    def first_ns(self) -> int | None:
        """Timestamp (session clock) of the first recorded frame, if any."""
        return self._first_ns

    @property
    def frames(self) -> int:
        return self._writer.frames if self._writer else 0

    def receive(self, sample: ReleasedSample) -> None:
        """Write (or queue) one released sample."""
        if self._queue is None:
            self._write(sample)
        elif self._error is None:
            self._queue.put(sample)

    def _drain(self) -> None:
        assert self._queue is not None
        while (sample := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(sample)
                except BaseException as exc:  # reported by close()
                    self._error = exc

    def _write(self, sample: ReleasedSample) -> None:
        """Write one released sample; audio that arrives before the first frame is dropped
        (the file's size is known only from a frame)."""
        if sample.kind is SampleKind.VIDEO and self._writer is None:
            height, width = sample.payload.shape[:2]
            self._writer = VideoWriter(
                self.path,
                width,
                height,
                self.fps,
                self.encoder,
                audio_rate=self.audio_rate,
                audio_layout=self.audio_layout,
            )
            self._first_ns = sample.ts_ns
        if self._writer is None or self._first_ns is None or sample.ts_ns < self._first_ns:
            return
        seconds = (sample.ts_ns - self._first_ns) / 1e9
        if sample.kind is SampleKind.VIDEO:
            self._writer.write(sample.payload, seconds)
        elif self.audio_rate:
            self._writer.write_audio(sample.payload, seconds)
            self.audio_chunks += 1

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        if self._writer is not None:
            self._writer.close()
        if self._error is not None:
            raise self._error
