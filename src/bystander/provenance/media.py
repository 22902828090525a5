"""Times from the media itself: when each video frame is shown, and how long a file lasts.

Provenance must describe the file, not the process that made it: a recording's duration is
the span of its frames' presentation timestamps (plus the last frame's duration), never the
wall time the device spent writing it. Reading timestamps only demuxes packets (no decode).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from bystander.errors import InputError


@dataclass(frozen=True)
class FrameTimes:
    """Presentation start of each frame in display order (seconds from the first) and the
    end of the last frame; ``duration`` is the span the file shows."""

    starts: tuple[float, ...]
    end: float

    @property
    def duration(self) -> float:
        return self.end

    def span(self, first: int, last: int) -> tuple[float, float]:
        """``(start, end)`` seconds of frames ``first..last`` (display order, inclusive)."""
        if not 0 <= first <= last < len(self.starts):
            raise ValueError(f"frames {first}..{last} are not in a file of {len(self.starts)}")
        end = self.starts[last + 1] if last + 1 < len(self.starts) else self.end
        return self.starts[first], end


def frame_times(path: Path) -> FrameTimes:
    """The frame timing of ``path``'s first video stream, from its packet timestamps."""
    import av  # PyAV only for video (a photo's signature needs none of it)

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"cannot read {Path(path).name}: {exc}") from None
    with container:
        if not container.streams.video:
            raise InputError(f"{Path(path).name} has no video stream")
        stream = container.streams.video[0]
        base = stream.time_base or Fraction(1, 90000)
        stamps: list[int] = []
        durations: list[int] = []
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            stamps.append(packet.pts)
            durations.append(packet.duration or 0)
    if not stamps:
        raise InputError(f"{Path(path).name} holds no video frames")
    order = sorted(range(len(stamps)), key=stamps.__getitem__)
    first = stamps[order[0]]
    starts = tuple(float((stamps[i] - first) * base) for i in order)
    last = order[-1]
    step = durations[last] or (stamps[order[-1]] - stamps[order[-2]] if len(order) > 1 else 0)
    return FrameTimes(starts, float((stamps[last] - first + step) * base))
