"""Write a crowded test clip: N real faces (the face library's) walking across a scene.

For throughput at a face count we choose (issue 15/20 targets: "6 faces a frame"). The faces
are cut from the library's photos with their surroundings, sized 40-90 px high, and drift
across one of the condition scenes at 1-3 px per frame, bouncing off the edges, so the tracker
and region search see steady motion and faces near the frame's edges.

    python benchmarks/crowd_clip.py crowd-720p.mp4 --size 1280x720 --faces 6 --frames 300 \
        --packages /tmp/facepkgs
    # a dense, distant crowd (an audience): 16 faces of 20-32 px in the middle third
    python benchmarks/crowd_clip.py dense-720p.mp4 --faces 16 --heights 20,32 --spread 0.33 \
        --packages /tmp/facepkgs
    bystander bench crowd-720p.mp4 --preset realtime --no-recall --seconds 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bystander.measure.conditions import cut_patch, scene
from bystander.measure.facelib import load_library
from bystander.measure.synthetic import paste, write_clip

Box = tuple[float, float, float, float]


def crowd_frames(
    size: tuple[int, int],
    faces: int,
    count: int,
    packages: Path | None,
    seed: int = 0,
    heights: tuple[float, float] = (40.0, 90.0),
    spread: float = 1.0,
) -> tuple[list[np.ndarray], list[list[Box]]]:
    """The clip's frames, and per frame the boxes of the faces fully in view (inside the frame
    and less than 10% covered by a face pasted after them)."""
    width, height = size
    rng = np.random.default_rng(seed)
    library = load_library(packages, tiny=False)
    frontal = [(i, f) for i, f in library.faces(["frontal"]) if f.box.height >= 60]
    if len(frontal) < faces:
        raise SystemExit(f"only {len(frontal)} large frontal faces in the library")
    chosen = rng.choice(len(frontal), size=faces, replace=False)
    low, high = heights
    patches = []
    for k in chosen:
        image, face = frontal[int(k)]
        face_px = float(rng.uniform(low, high)) * height / 720
        patches.append(cut_patch(image, image.load(), face, face_px, context=0.9))
    if spread >= 1:  # the whole frame (the clips measured before --spread existed)
        lo, hi = np.zeros(2), np.array([width - 120.0, height - 140.0])
    else:
        lo = np.array([width, height]) * (1 - spread) / 2
        hi = np.array([width, height]) * (1 + spread) / 2 - [high * 1.4, high * 1.6]
    position = rng.uniform(lo, np.maximum(hi, lo + 1), size=(faces, 2))
    velocity = rng.uniform(1, 3, size=(faces, 2)) * rng.choice([-1, 1], size=(faces, 2))
    backdrop = scene(seed, (width, height))
    shapes = np.array([[p.image.shape[1], p.image.shape[0]] for p in patches])
    frames, truth = [], []
    for _ in range(count):
        frame = backdrop.copy()
        placed = [(round(x), round(y)) for x, y in position]
        for patch, (x, y) in zip(patches, placed, strict=True):
            paste(frame, patch.image, x, y)
        frames.append(frame)
        truth.append(_in_view(patches, placed, shapes, (width, height)))
        position += velocity
        limit = np.array([width, height]) - shapes
        if spread < 1:
            limit = np.minimum(limit, hi)
        bounce = (position < lo - 20) | (position > limit + 20)
        velocity[bounce] *= -1
    return frames, truth


def _in_view(patches, placed, shapes, size) -> list[Box]:  # type: ignore[no-untyped-def]
    boxes = []
    for k, (patch, (x, y)) in enumerate(zip(patches, placed, strict=True)):
        poly = patch.faces[patch.main].polygon
        x1, y1 = poly.min(axis=0) + np.array([x, y])
        x2, y2 = poly.max(axis=0) + np.array([x, y])
        if x1 < 0 or y1 < 0 or x2 > size[0] or y2 > size[1]:
            continue
        area = (x2 - x1) * (y2 - y1)
        covered = np.zeros((int(np.ceil(y2 - y1)) + 1, int(np.ceil(x2 - x1)) + 1), bool)
        for (ox, oy), (w, h) in zip(placed[k + 1 :], shapes[k + 1 :], strict=True):
            cx1, cy1 = max(ox - x1, 0), max(oy - y1, 0)
            cx2, cy2 = min(ox + w - x1, x2 - x1), min(oy + h - y1, y2 - y1)
            if cx2 > cx1 and cy2 > cy1:
                covered[int(cy1) : int(np.ceil(cy2)), int(cx1) : int(np.ceil(cx2))] = True
        if covered.sum() < 0.1 * area:
            boxes.append((float(x1), float(y1), float(x2), float(y2)))
    return boxes


def add_crowd_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that pick a crowd (shared with ``crowd_recall.py``)."""
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--faces", type=int, default=6)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--packages", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heights", default="40,90", help="face heights (px at 720 rows)")
    parser.add_argument("--spread", type=float, default=1.0,
                        help="share of the frame (centred) the faces move in")  # fmt: skip


def crowd_from_arguments(args: argparse.Namespace) -> tuple[list[np.ndarray], list[list[Box]]]:
    """``crowd_frames`` for the parsed ``add_crowd_arguments``."""
    width, height = (int(v) for v in args.size.lower().split("x"))
    low, high = (float(v) for v in args.heights.split(","))
    return crowd_frames(
        (width, height), args.faces, args.frames, args.packages, args.seed, (low, high),
        args.spread,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    add_crowd_arguments(parser)
    args = parser.parse_args()
    frames, _ = crowd_from_arguments(args)
    write_clip(args.output, frames, fps=30, audio=False)
    print(f"{args.output}: {args.size}, {args.frames} frames, {args.faces} faces")


if __name__ == "__main__":
    main()
