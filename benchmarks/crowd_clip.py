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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--faces", type=int, default=6)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--packages", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heights", default="40,90", help="face heights (px at 720 rows)")
    parser.add_argument("--spread", type=float, default=1.0,
                        help="share of the frame (centred) the faces move in")  # fmt: skip
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(args.seed)
    library = load_library(args.packages, tiny=False)
    frontal = [(i, f) for i, f in library.faces(["frontal"]) if f.box.height >= 60]
    if len(frontal) < args.faces:
        raise SystemExit(f"only {len(frontal)} large frontal faces in the library")
    chosen = rng.choice(len(frontal), size=args.faces, replace=False)
    low, high = (float(v) for v in args.heights.split(","))
    patches = []
    for k in chosen:
        image, face = frontal[int(k)]
        size = float(rng.uniform(low, high)) * height / 720
        patches.append(cut_patch(image, image.load(), face, size, context=0.9).image)
    if args.spread >= 1:  # the whole frame (the clips measured before --spread existed)
        lo, hi = np.zeros(2), np.array([width - 120.0, height - 140.0])
    else:
        lo = np.array([width, height]) * (1 - args.spread) / 2
        hi = np.array([width, height]) * (1 + args.spread) / 2 - [high * 1.4, high * 1.6]
    position = rng.uniform(lo, np.maximum(hi, lo + 1), size=(args.faces, 2))
    velocity = rng.uniform(1, 3, size=(args.faces, 2)) * rng.choice([-1, 1], size=(args.faces, 2))
    backdrop = scene(args.seed, (width, height))
    frames = []
    for _ in range(args.frames):
        frame = backdrop.copy()
        for patch, (x, y) in zip(patches, position, strict=True):
            paste(frame, patch, round(x), round(y))
        frames.append(frame)
        position += velocity
        limit = np.array([width, height]) - np.array([[p.shape[1], p.shape[0]] for p in patches])
        if args.spread < 1:
            limit = np.minimum(limit, hi)
        bounce = (position < lo - 20) | (position > limit + 20)
        velocity[bounce] *= -1
    write_clip(args.output, frames, fps=30, audio=False)
    print(f"{args.output}: {width}x{height}, {args.frames} frames, {args.faces} faces")


if __name__ == "__main__":
    main()
