"""Helpers to inspect protected media in tests."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from typer.testing import CliRunner

from bystander.cli.app import app
from bystander.consent.models import ConsentKind, Scope
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine

PROFILE = Path(__file__).resolve().parents[1] / "examples" / "glasses.yaml"
runner = CliRunner()


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def decode_timed(path: Path) -> list[tuple[float, np.ndarray]]:
    """Every frame of ``path`` with its presentation time in seconds."""
    with av.open(str(path)) as container:
        return [
            (float(f.time or 0.0), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)
        ]


def align(recorded: Path, source: Path, fps: float) -> list[tuple[np.ndarray, int]]:
    """Each frame of a live recording with the index of the source frame it shows.

    A live capture may drop frames to keep up with the camera, so position in the file says
    nothing; the recording keeps the capture timing, so the first frame is matched to the
    source by content and the rest by their timestamps.
    """
    frames = decode_timed(recorded)
    originals = decode_frames(source)
    first = frames[0][1].astype(np.int16)
    start = int(np.argmin([np.abs(first - o.astype(np.int16)).mean() for o in originals]))
    return [(image, start + round(t * fps)) for t, image in frames]


def sharpness(region: np.ndarray) -> float:
    """Variance of the Laplacian: high for a visible face, near zero once blurred."""
    grey = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def crop(
    frame: np.ndarray, box: tuple[float, float, float, float], inner: float = 0.7
) -> np.ndarray:
    """The central ``inner`` share (per side length) of a face box: eyes, nose, mouth."""
    bx1, by1, bx2, by2 = box
    mx, my = (bx2 - bx1) * (1 - inner) / 2, (by2 - by1) * (1 - inner) / 2
    x1, y1, x2, y2 = (round(v) for v in (bx1 + mx, by1 + my, bx2 - mx, by2 - my))
    return frame[max(0, y1) : y2, max(0, x1) : x2]


def stream_summary(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        return {
            "format": container.format.name,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "fps": float(video.average_rate or 0),
            "audio": audio.codec_context.name if audio else None,
            "audio_seconds": float(audio.duration * audio.time_base)
            if audio and audio.duration
            else None,
            "metadata": dict(container.metadata),
        }


def grant_recording(home: Path) -> None:
    """Give ``wearer-1`` explicit record-video consent in the database under ``home``."""
    engine = make_engine()  # the configured database under BYSTANDER_HOME
    init_db(engine)
    log = AuditLog(engine, checkpoint_every=1)  # logged, as `bystander consent grant` does
    ConsentStore(engine, log).grant("wearer-1", [Scope.RECORD_VIDEO], kind=ConsentKind.EXPLICIT)
    engine.dispose()


def capture(*args: str) -> tuple[int, str]:
    """Run ``bystander capture`` with the example profile."""
    result = runner.invoke(app, ["capture", "--profile", str(PROFILE), *args])
    return result.exit_code, result.output
