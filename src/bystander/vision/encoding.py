"""How protected video is encoded: x264 CRF and preset, VP9 for WebM, MPEG-4 for AVI.

Kept apart from ``video_io`` (which imports PyAV) so that settings can be built and photos
protected without loading the video stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from bystander.vision.detectors.backends import default_threads

#: Frames above this many pixels (1080p and a margin) get x264's ``ultrafast`` preset under
#: ``auto``: at 2560x1920, ``veryfast`` alone holds a 2-core machine under 9 fps, ``ultrafast``
#: encodes 3.9x faster for files 1.7x larger at the same CRF (BENCHMARKS.md, issue 20).
FAST_PRESET_PIXELS = 1920 * 1088


@dataclass(frozen=True)
class EncoderSettings:
    """Video encoder choice: x264 CRF and preset for MP4/MOV/MKV/AVI, VP9 for WebM.

    The ``auto`` preset is ``veryfast`` up to 1080p and ``ultrafast`` above it, where
    encoding would otherwise cost more than finding and hiding the faces.

    >>> EncoderSettings().x264_preset(1280, 720), EncoderSettings().x264_preset(2560, 1920)
    ('veryfast', 'ultrafast')
    """

    crf: int = 20
    preset: str = "auto"

    def x264_preset(self, width: int, height: int) -> str:
        """The x264 preset a ``width`` x ``height`` video is encoded with."""
        if self.preset != "auto":
            return self.preset
        return "ultrafast" if width * height > FAST_PRESET_PIXELS else "veryfast"

    def for_container(
        self, suffix: str, width: int, height: int, fps: float = 30.0
    ) -> tuple[str, str, dict[str, str]]:
        """``(codec, pixel format, options)`` for an output with this suffix, size and rate."""
        even = width % 2 == 0 and height % 2 == 0
        if suffix == ".webm":
            options = {
                "crf": str(min(63, self.crf + 12)),
                "b": "0",
                "deadline": "realtime",
                "cpu-used": "8",
                "row-mt": "1",
            }
            return "libvpx-vp9", "yuv420p" if even else "yuv444p", options
        if suffix == ".avi":
            # MPEG-4 Part 2 has no CRF; 0.2 bit per pixel and frame keeps it near x264 crf 20.
            bits = int(width * height * max(fps, 1.0) * 0.2)
            return "mpeg4", "yuv420p", {"b": str(max(bits, 200_000))}
        pix_fmt = "yuv420p" if even else "yuv444p"
        # x264's own default is 1.5 threads a core: on a small machine, where detection runs
        # beside it, that costs time and memory (BENCHMARKS.md, issue 20)
        options = {
            "crf": str(self.crf),
            "preset": self.x264_preset(width, height),
            "threads": str(default_threads()),
        }
        return "libx264", pix_fmt, options
