"""Coverage recall on a generated crowd clip: every face fully in view, every frame.

The crowd is `crowd_clip.py`'s (same arguments, same frames); the truth is each pasted face's
box where the face lies inside the frame and is less than 10% covered by a face pasted after
it. Frames go through the video pipeline in process (`realtime` unless `--preset`), and a
face-frame counts as covered when the redaction mask hides 90% of its box, as in
`bystander eval`. Run against another tree with `PYTHONPATH=OTHER/src`:

    python benchmarks/crowd_recall.py --faces 16 --heights 20,32 --spread 0.33 --frames 150 \
        --packages /tmp/facepkgs [--precision int8|bf16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crowd_clip import add_crowd_arguments, crowd_from_arguments

from bystander.measure.evaluation import box_coverage, redaction_mask
from bystander.vision.redact import Redactor
from bystander.vision.settings import FrameProtection, ProtectSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_crowd_arguments(parser)
    parser.add_argument("--preset", default="realtime")
    parser.add_argument("--precision", default="auto", help="detector precision (--precision)")
    args = parser.parse_args()
    frames, truth = crowd_from_arguments(args)
    height, width = frames[0].shape[:2]
    settings = ProtectSettings.from_preset(args.preset, precision=args.precision)
    pipeline = FrameProtection(settings).frame_protector(video=True)
    redactor = Redactor(settings.redaction)
    protected = [p for frame in frames for p in pipeline.push_frames(frame)]
    protected += pipeline.flush_frames()
    covered = total = 0
    worst: list[tuple[float, int]] = []
    for index, (frame, boxes) in enumerate(zip(protected, truth, strict=True)):
        mask = redaction_mask(frame, redactor, (height, width))
        for box in boxes:
            share = box_coverage(mask, box)
            if share is None:
                continue
            total += 1
            covered += share >= 0.9
            if share < 0.9:
                worst.append((round(share, 3), index))
    print(f"faces in view: {total} face-frames; covered >= 90%: {covered} ({covered / total:.4f})")
    print(f"under 90% (coverage, frame): {sorted(worst)[:12]}")


if __name__ == "__main__":
    main()
