"""Turn per-frame proposals (``annotate_faces.py video``) into a video annotation to check.

Each person is followed by position from frame to frame (the proposal nearest to where
they were); a frame where a person has no proposal gets a box interpolated from the nearest
frames that have one, and is listed as ``interpolated`` so a person can look at it first.
The result is what ``src/bystander/measure/data/video-*.json`` holds after that check.

    python benchmarks/build_video_annotations.py proposals.json --clip CLIP \\
        --source shared-egoblur --path gen1-test_video.mp4 --name egoblur-gen1 \\
        --split dev --people 1 --min-score 0.3
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np


def centre(box: list[float]) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proposals", type=Path)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--split", choices=["dev", "held-out"], required=True)
    parser.add_argument("--people", type=int, default=1)
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("--frames", type=str, default="", help="first:last frames with faces")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    proposals = {int(k): v for k, v in json.loads(args.proposals.read_text()).items()}
    first, last = 0, max(proposals)
    if args.frames:
        first, last = (int(x) for x in args.frames.split(":"))
    tracks: dict[int, dict[int, list[float]]] = {p: {} for p in range(args.people)}
    where: dict[int, np.ndarray] = {}
    for index in range(first, last + 1):
        found = [f for f in proposals.get(index, []) if f["score"] >= args.min_score]
        found.sort(key=lambda f: -f["score"])
        found = found[: args.people]
        if not where:  # first frame: people ordered left to right
            for person, face in enumerate(sorted(found, key=lambda f: centre(f["box"])[0])):
                where[person] = centre(face["box"])
                tracks[person][index] = face["box"]
            continue
        taken: set[int] = set()
        for face in found:
            c = centre(face["box"])
            person = min(
                (p for p in tracks if p not in taken),
                key=lambda p: float(np.linalg.norm(where.get(p, c) - c)),
                default=None,
            )
            if person is None:
                continue
            taken.add(person)
            where[person] = c
            tracks[person][index] = face["box"]
    frames: dict[str, list[dict[str, object]]] = {}
    interpolated: list[int] = []
    for person, boxes in tracks.items():
        known = sorted(boxes)
        for index in range(first, last + 1):
            if index in boxes:
                box = boxes[index]
            else:
                before = [k for k in known if k < index]
                after = [k for k in known if k > index]
                if not before and not after:
                    continue
                a = before[-1] if before else after[0]
                b = after[0] if after else before[-1]
                t = 0.0 if a == b else (index - a) / (b - a)
                box = list((1 - t) * np.array(boxes[a]) + t * np.array(boxes[b]))
                interpolated.append(index)
            frames.setdefault(str(index), []).append(
                {"id": chr(ord("a") + person), "box": [round(float(v), 1) for v in box]}
            )
    document = {
        "schema": "bystander.video-faces/1",
        "name": args.name,
        "source": args.source,
        "path": args.path,
        "sha256": hashlib.sha256(args.clip.read_bytes()).hexdigest(),
        "split": args.split,
        "note": args.note,
        "interpolated": sorted(set(interpolated)),
        "frames": frames,
    }
    print(json.dumps(document, indent=None, separators=(",", ":")))


if __name__ == "__main__":
    main()
