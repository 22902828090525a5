"""A small annotation aid for the face library and the real-video leak benchmark.

It never decides what a face is: it *proposes* boxes (CenterFace in f32 at a low threshold,
on the image and, when it finds no clear face, on a 2x upscale, converted to dlib's
brow-to-chin, cheek-to-cheek box style) and *renders* annotations onto pictures so a person
can check and correct them by hand. The annotations that ship
(``src/bystander/measure/data/*.json``) were written this way: proposals as a start, every
box looked at, missed faces added and boxes moved by hand.

    python benchmarks/annotate_faces.py propose IMAGE... > proposals.json
    python benchmarks/annotate_faces.py video CLIP --every 1 > clip-proposals.json
    python benchmarks/annotate_faces.py render IMAGE --boxes "x1,y1,x2,y2;..." -o check.png
    python benchmarks/annotate_faces.py sheet CLIP ANNOTATIONS.json -o sheet.png --every 25

CenterFace's boxes are 0.90x as wide and 1.18x as tall as dlib's, centred 0.064 face
heights higher (median over dlib's 43 annotated faces); ``to_dlib_style`` undoes that.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from bystander.vision.detections import nms
from bystander.vision.detectors.centerface import CenterFace
from bystander.vision.image_io import read_image


def to_dlib_style(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    pw, ph = x2 - x1, y2 - y1
    gw, gh = pw / 0.902, ph / 1.183
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.064 * gh
    corners = (cx - gw / 2, cy - gh / 2, cx + gw / 2, cy + gh / 2)
    return [round(v, 1) for v in corners]


def propose(rgb: np.ndarray, detector: CenterFace) -> list[dict[str, object]]:
    found = detector.detect(rgb)
    boxes, scores = [found.xyxy], [found.scores]
    if max(rgb.shape[:2]) <= 1400 and not (found.scores >= 0.5).any():
        big = cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        up = detector.detect(big)
        boxes.append(up.xyxy / 2)
        scores.append(up.scores)
    xyxy = np.concatenate(boxes).astype(np.float32)
    score = np.concatenate(scores).astype(np.float32)
    if len(xyxy) == 0:
        return []
    keep = nms(xyxy, score, 0.3)
    return [
        {"box": to_dlib_style(xyxy[i]), "score": round(float(score[i]), 3)}
        for i in keep.tolist()
    ]


def draw(rgb: np.ndarray, boxes: list[list[float]], labels: list[str] | None = None) -> np.ndarray:
    out = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).copy()
    for i, box in enumerate(boxes):
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), 1)
        text = labels[i] if labels else str(i)
        cv2.putText(out, text, (x1, max(10, y1 - 3)), 0, 0.4, (0, 255, 255), 1)
    return out


def frames(path: Path):
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("propose")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--threshold", type=float, default=0.1)
    v = sub.add_parser("video")
    v.add_argument("clip", type=Path)
    v.add_argument("--every", type=int, default=1)
    v.add_argument("--threshold", type=float, default=0.1)
    r = sub.add_parser("render")
    r.add_argument("image", type=Path)
    r.add_argument("--boxes", default="")
    r.add_argument("-o", "--output", type=Path, required=True)
    r.add_argument("--scale", type=float, default=1.0)
    s = sub.add_parser("sheet")
    s.add_argument("clip", type=Path)
    s.add_argument("annotations", type=Path)
    s.add_argument("-o", "--output", type=Path, required=True)
    s.add_argument("--every", type=int, default=25)
    s.add_argument("--width", type=int, default=320)
    args = parser.parse_args()

    if args.cmd in ("propose", "video"):
        detector = CenterFace(threshold=args.threshold, width_scale=1.0, precision="f32")
    if args.cmd == "propose":
        out = {str(path): propose(read_image(path).rgb, detector) for path in args.images}
        json.dump(out, sys.stdout, indent=1)
    elif args.cmd == "video":
        result = {}
        for index, rgb in enumerate(frames(args.clip)):
            if index % args.every == 0:
                result[index] = propose(rgb, detector)
        json.dump(result, sys.stdout, indent=1)
    elif args.cmd == "render":
        rgb = read_image(args.image).rgb
        boxes = [[float(x) for x in b.split(",")] for b in args.boxes.split(";") if b]
        out = draw(rgb, boxes)
        if args.scale != 1.0:
            out = cv2.resize(out, None, fx=args.scale, fy=args.scale)
        cv2.imwrite(str(args.output), out)
    else:
        notes = json.loads(args.annotations.read_text())
        by_frame = {int(k): v for k, v in notes["frames"].items()}
        tiles = []
        for index, rgb in enumerate(frames(args.clip)):
            if index % args.every:
                continue
            faces = by_frame.get(index, [])
            tile = draw(rgb, [f["box"] for f in faces], [f.get("id", "?") for f in faces])
            scale = args.width / tile.shape[1]
            tile = cv2.resize(tile, None, fx=scale, fy=scale)
            cv2.putText(tile, str(index), (4, 16), 0, 0.5, (255, 0, 255), 2)
            tiles.append(tile)
        while len(tiles) % 4:
            tiles.append(np.zeros_like(tiles[0]))
        rows = [np.hstack(tiles[i : i + 4]) for i in range(0, len(tiles), 4)]
        cv2.imwrite(str(args.output), np.vstack(rows))


if __name__ == "__main__":
    main()
