"""The recorder consumer: writes released (protected) frames to a video file."""

from __future__ import annotations

from pathlib import Path

from bystander.guard.consumers import ConsumerKind, ReleasedSample, SampleKind
from bystander.vision.video_io import EncoderSettings, VideoWriter


class RecorderConsumer:
    """Receives only what the session releases; the file keeps the capture timing.

    The file at ``path`` is incomplete until ``close``; callers write to a temporary name
    and publish it afterwards (``bystander.fsutil.atomic_output``).
    """

    name = "recorder"
    kind = ConsumerKind.RECORDER

    def __init__(self, path: Path, fps: float, encoder: EncoderSettings | None = None) -> None:
        self.path = path
        self.fps = fps
        self.encoder = encoder
        self._writer: VideoWriter | None = None
        self._first_ns: int | None = None

    @property
    def frames(self) -> int:
        return self._writer.frames if self._writer else 0

    def receive(self, sample: ReleasedSample) -> None:
        if sample.kind is not SampleKind.VIDEO:
            return
        frame = sample.payload
        if self._writer is None:
            height, width = frame.shape[:2]
            self._writer = VideoWriter(self.path, width, height, self.fps, self.encoder)
            self._first_ns = sample.ts_ns
        self._writer.write(frame, (sample.ts_ns - (self._first_ns or sample.ts_ns)) / 1e9)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
