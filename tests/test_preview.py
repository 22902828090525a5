"""The live preview serves only released frames, on loopback, and needs live-stream consent."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from bystander.guard.consumers import ReleasedSample, SampleKind
from bystander.guard.preview import LivePreview
from bystander.measure.synthetic import SyntheticClip
from tests.helpers import capture, grant_recording


def released(frame: np.ndarray, seq: int = 0) -> ReleasedSample:
    return ReleasedSample(SampleKind.VIDEO, ts_ns=seq, released_ns=seq, payload=frame, seq=seq)


def test_preview_serves_the_latest_released_frame_as_jpeg_and_mjpeg() -> None:
    preview = LivePreview(port=0)
    try:
        with pytest.raises(urllib.error.HTTPError) as nothing_yet:
            urllib.request.urlopen(preview.url + "frame.jpg", timeout=5)
        assert nothing_yet.value.code == 503

        frame = np.zeros((90, 160, 3), np.uint8)
        frame[:, :80] = (255, 0, 0)  # left half red (RGB)
        preview.receive(released(frame))
        with urllib.request.urlopen(preview.url + "frame.jpg", timeout=5) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            jpeg = response.read()
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (90, 160, 3)
        assert decoded[45, 20, 2] > 200 and decoded[45, 140, 2] < 50  # BGR: red on the left

        with urllib.request.urlopen(preview.url + "stream.mjpg", timeout=5) as stream:
            assert "multipart/x-mixed-replace" in stream.headers["Content-Type"]
            head = stream.read(200)
            assert head.startswith(b"--bystanderframe\r\nContent-Type: image/jpeg")
        with urllib.request.urlopen(preview.url, timeout=5) as page:
            assert b"/stream.mjpg" in page.read()
        assert preview.url.startswith("http://127.0.0.1:")
    finally:
        preview.close()


def test_audio_samples_are_not_previewed() -> None:
    preview = LivePreview(port=0)
    try:
        preview.receive(ReleasedSample(SampleKind.AUDIO, 0, 0, np.zeros((1, 1024), np.float32), 0))
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(preview.url + "frame.jpg", timeout=5)
    finally:
        preview.close()


def test_capture_with_preview_needs_live_stream_consent(
    home: Path,
    demo_clip: SyntheticClip,
    tmp_path: Path,
) -> None:
    grant_recording(home)
    out = tmp_path / "rec.mp4"
    code, output = capture("--source", str(demo_clip.path), "-o", str(out), "--preview", "0")
    assert code != 0 and "live-stream" in output
    assert not out.exists()
