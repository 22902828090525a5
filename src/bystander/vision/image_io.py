"""Image reading and writing with Pillow: upright pixels, metadata stripped unless kept."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from bystander.errors import InputError, LimitError
from bystander.vision.media import MAX_PIXELS, check_dimensions, check_readable

_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


@dataclass
class LoadedImage:
    """RGB pixels plus what is needed to write the image back in its own format."""

    rgb: npt.NDArray[np.uint8]
    alpha: npt.NDArray[np.uint8] | None
    grayscale: bool
    format: str
    exif: bytes | None
    icc_profile: bytes | None


def read_image(path: Path) -> LoadedImage:
    """Decode ``path`` fully, applying the EXIF orientation to the pixels."""
    check_readable(path)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                check_dimensions(opened.width, opened.height, path)
                image_format = opened.format or ""
                opened.load()
                image = ImageOps.exif_transpose(opened) or opened
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LimitError(f"image exceeds the {MAX_PIXELS // 1_000_000} Mpx limit: {path}") from None
    except (LimitError, InputError):
        raise
    except Exception as exc:
        raise InputError(f"cannot decode image {path}: {exc}") from None

    grayscale = image.mode in ("L", "LA", "I", "I;16", "1")
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[:, :, 3].copy()
        rgb = np.ascontiguousarray(np.asarray(rgba)[:, :, :3])
    else:
        rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    exif = image.getexif().tobytes() if len(image.getexif()) else None
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        grayscale=grayscale,
        format=image_format,
        exif=exif,
        icc_profile=image.info.get("icc_profile"),
    )


def write_image(
    path: Path, rgb: npt.NDArray[np.uint8], source: LoadedImage, keep_metadata: bool = False
) -> None:
    """Write ``rgb`` in the format named by ``path``'s suffix.

    Only pixels are written, plus the ICC colour profile (not personal data). EXIF (GPS,
    serial numbers, timestamps) is written only with ``keep_metadata``.
    """
    image_format = _FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise InputError(f"unsupported image output format: {path.suffix}")
    image = Image.fromarray(rgb, "RGB")
    if source.grayscale:
        image = image.convert("L")
    if source.alpha is not None and image_format in ("PNG", "WEBP"):
        image.putalpha(Image.fromarray(source.alpha, "L"))
    options: dict[str, object] = {}
    if source.icc_profile:
        options["icc_profile"] = source.icc_profile
    if keep_metadata and source.exif:
        options["exif"] = source.exif
    if image_format == "JPEG":
        options["quality"] = 92
        if not source.grayscale:
            options["subsampling"] = 0  # 4:4:4: keeps the redaction edges crisp
    elif image_format == "WEBP":
        options.update(quality=92)
    # The temporary name ends with .partial.<ext>; give Pillow the format explicitly.
    image.save(path, format=image_format, **options)
