"""Detector models prepared and compiled once, kept between runs for a fast cold start.

Building an OpenVINO model for one input shape (read the ONNX file, fix the shape, fuse the
uint8 -> float conversion) and compiling it cost 0.2-0.35 s, and a photo's search plan needs
three shapes: most of a one-photo ``protect`` (BENCHMARKS.md, issue 20). The first run keeps
each prepared model as OpenVINO IR (``.xml`` + ``.bin``) with a SHA-256 manifest, and lets
OpenVINO keep its compiled blob (``CACHE_DIR``); later runs verify the IR against its manifest
and compile it from the file, which OpenVINO answers from the blob.

The cache lives in the user's cache folder (``BYSTANDER_MODEL_CACHE`` names another, ``off``
turns it off). It is used only if it is a private directory of this user (0700, not a link);
every file is written under a temporary name and renamed into place, so a killed run leaves no
half-written model; a model whose files do not match their manifest is built again. At most
``MAX_MODELS`` models are kept, the least recently used removed first (an int8 model made by
``quantize`` is kept apart). Any failure of the cache falls back to building the model in
memory: the cache can cost time, never a result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bystander.fsutil import file_sha256, private_directory
from bystander.vision.detectors.openvino_runtime import runtime

CACHE_ENV = "BYSTANDER_MODEL_CACHE"
#: Prepared models kept (each ~7.5 MB of IR plus ~7.5 MB of compiled blob); a 720p video
#: needs about six (keyframe passes, region batches), photos one.
MAX_MODELS = 24
_FORMAT = 1  # bump when the way models are prepared changes
_SUFFIXES = (".json", ".xml", ".bin")


def cache_folder() -> Path | None:
    """The cache folder, created if needed; None when off or not private to this user."""
    setting = os.environ.get(CACHE_ENV, "")
    if setting.strip().lower() == "off":
        return None
    if setting:
        root = Path(setting)
    else:
        from platformdirs import user_cache_dir

        root = Path(user_cache_dir("bystander")) / "models"
    with contextlib.suppress(OSError):
        root.parent.mkdir(parents=True, exist_ok=True)
    return root if private_directory(root) else None


_source_digests: dict[tuple[str, int, int], str] = {}


def model_key(source: Path, input_hw: tuple[int, int], batch: int, runtime: str) -> str:
    """Names one prepared model: its source file's bytes, input shape and the runtime."""
    info = source.stat()
    memo = (str(source), info.st_size, info.st_mtime_ns)
    if memo not in _source_digests:
        _source_digests[memo] = file_sha256(source)
    text = f"{_FORMAT}|{_source_digests[memo]}|{input_hw}|{batch}|{runtime}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_model(
    core: Any, key: str, build: Callable[[], Any], config: dict[str, object]
) -> Any:
    """``core.compile_model`` of the model ``build`` makes, through the cache when usable."""
    folder = cache_folder()
    if folder is None:
        return core.compile_model(build(), "CPU", config)
    xml = folder / f"{key}.xml"
    try:
        if not _verified(folder, key):
            _store(folder, key, build())
        compiled = core.compile_model(str(xml), "CPU", config | {"CACHE_DIR": str(folder)})
        os.utime(folder / f"{key}.json")  # recently used
        _prune(folder)
        return compiled
    except Exception:  # a cache that fails costs time, never a result
        _remove(folder, key)
        return core.compile_model(build(), "CPU", config)


def _verified(folder: Path, key: str) -> bool:
    try:
        manifest = json.loads((folder / f"{key}.json").read_text())
        return all(
            file_sha256(folder / f"{key}{suffix}") == manifest[suffix]
            for suffix in (".xml", ".bin")
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _store(folder: Path, key: str, model: Any) -> None:
    """Write the IR and its manifest, each renamed into place (the manifest last)."""
    ov = runtime()

    _remove(folder, key)
    temps = {suffix: folder / f".{key}.{os.getpid()}{suffix}" for suffix in _SUFFIXES}
    try:
        ov.save_model(model, str(temps[".xml"]), compress_to_fp16=False)
        digests = {suffix: file_sha256(temps[suffix]) for suffix in (".xml", ".bin")}
        temps[".json"].write_text(json.dumps(digests))
        for suffix in (".bin", ".xml", ".json"):
            temps[suffix].replace(folder / f"{key}{suffix}")
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def _remove(folder: Path, key: str) -> None:
    for suffix in _SUFFIXES:
        with contextlib.suppress(OSError):
            (folder / f"{key}{suffix}").unlink()


def _prune(folder: Path) -> None:
    """Keep the ``MAX_MODELS`` most recently used models and as many compiled blobs."""
    prepared = [p for p in folder.glob("*.json") if p.with_suffix(".xml").exists()]
    manifests = sorted(prepared, key=last_used, reverse=True)  # (int8 sources are kept apart)
    for stale in manifests[MAX_MODELS:]:
        _remove(folder, stale.stem)
    blobs = sorted(folder.glob("*.blob"), key=last_used, reverse=True)
    for stale in blobs[MAX_MODELS:]:
        stale.unlink(missing_ok=True)


def last_used(path: Path) -> float:
    """When ``path`` (a model's manifest, touched at each use) was last used; 0 if gone."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
