"""The real faces available offline, by identity (``benchmarks/data/keep_visible_faces.json``).

Sources: ``../shared/data`` (EgoBlur's clips and images, dlib's example photos), scikit-image
(astronaut, cameraman), and two wheels fetched once with ``pip download --no-deps`` into a
cache folder given with ``--wheels`` (matplotlib: Grace Hopper; insightface 2.1: a group
photo and Tom Hanks). Images are read from the wheels with ``zipfile``; nothing is installed,
downloaded at run time or copied into the repository.

    pip download --no-deps --dest ~/.cache/bystander-wheels "insightface==2.1" matplotlib
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

ANNOTATIONS = Path(__file__).parent / "data" / "keep_visible_faces.json"
WHEELS = {"matplotlib-wheel": "matplotlib-*.whl", "insightface-wheel": "insightface-2.1-*.whl"}


@dataclass(frozen=True)
class PhotoFace:
    """One face in a photo: whose, where, and whether its box is dlib-tight."""

    identity: str
    image: np.ndarray
    box: np.ndarray  # x1, y1, x2, y2
    tight: bool
    split: str  # "tune" or "held_out"
    source: str


@dataclass(frozen=True)
class VideoPerson:
    identity: str
    first: int
    last: int
    region: tuple[float, float, float, float]
    min_height: float = 0.0


@dataclass(frozen=True)
class Video:
    path: Path
    people: tuple[VideoPerson, ...]
    spec: dict[str, Any]

    def who(self, box: np.ndarray, frame: int) -> str | None:
        """The annotated person whose region holds the centre of ``box`` (None: nobody)."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for person in self.people:
            x1, y1, x2, y2 = person.region
            if box[3] - box[1] < person.min_height:
                continue
            if person.first <= frame <= person.last and x1 <= cx <= x2 and y1 <= cy <= y2:
                return person.identity
        return None

    def frames(self, first: int = 0, last: int | None = None) -> Iterator[np.ndarray]:
        """RGB frames ``first``..``last`` (inclusive)."""
        import av

        with av.open(str(self.path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if last is not None and index > last:
                    return
                if index >= first:
                    yield frame.to_ndarray(format="rgb24")


class Sources:
    """Finds the files named in the annotations."""

    def __init__(self, data: Path, wheels: Path | None) -> None:
        self.data = data
        self.wheels = wheels
        self.spec = json.loads(ANNOTATIONS.read_text())

    def photo(self, source: str, path: str) -> np.ndarray:
        if source == "egoblur":
            return _rgb(Image.open(self.data / "egoblur" / path))
        if source == "dlib-faces":
            return _rgb(Image.open(self.data / "dlib-faces" / path))
        if source == "skimage":
            import skimage.data

            image = getattr(cast(Any, skimage.data), path)()
            return np.ascontiguousarray(np.stack([image] * 3, -1) if image.ndim == 2 else image)
        if source in WHEELS:
            if self.wheels is None:
                raise FileNotFoundError(f"{source}: pass --wheels (see the module docstring)")
            found = sorted(self.wheels.glob(WHEELS[source]))
            if not found:
                raise FileNotFoundError(f"no {WHEELS[source]} in {self.wheels}")
            with zipfile.ZipFile(found[-1]) as wheel:
                return _rgb(Image.open(io.BytesIO(wheel.read(path))))
        raise ValueError(f"unknown source {source}")

    def photo_faces(self, *, skip_missing: bool = True) -> list[PhotoFace]:
        """Every annotated photo face (dlib's XML boxes: one identity each)."""
        out: list[PhotoFace] = []
        for entry in self.spec["photos"]:
            source, path, split = entry["source"], entry["path"], entry["split"]
            if path.endswith(".xml"):
                out += self._dlib_xml(path, split)
                continue
            try:
                image = self.photo(source, path)
            except FileNotFoundError:
                if skip_missing:
                    print(f"(skipped {source}:{path}: not available)")
                    continue
                raise
            tight = entry.get("box_kind") == "tight"
            for face in entry["faces"]:
                box = np.asarray(face["box"], dtype=np.float64)
                out.append(PhotoFace(face["identity"], image, box, tight, split, source))
        return out

    def _dlib_xml(self, name: str, split: str) -> list[PhotoFace]:
        root = ET.parse(self.data / "dlib-faces" / name).getroot()
        out = []
        for image in root.iter("image"):
            file = str(image.get("file"))
            rgb = _rgb(Image.open(self.data / "dlib-faces" / file))
            for number, b in enumerate(image.iter("box")):
                x, y = float(b.get("left", 0)), float(b.get("top", 0))
                w, h = float(b.get("width", 0)), float(b.get("height", 0))
                box = np.array([x, y, x + w, y + h])
                out.append(PhotoFace(f"dlib-{file}-{number}", rgb, box, True, split, "dlib"))
        return out

    def videos(self) -> dict[str, Video]:
        out = {}
        for entry in self.spec["videos"]:
            people = tuple(
                VideoPerson(
                    p["identity"],
                    p["frames"][0],
                    p["frames"][1],
                    tuple(p["region"]),
                    float(p.get("min_height", 0)),
                )
                for p in entry["people"]
            )
            out[entry["path"]] = Video(self.data / "egoblur" / entry["path"], people, entry)
        return out


def _rgb(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))
