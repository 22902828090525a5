"""Why region search: recall on moving faces with keyframes, with and without it.

Runs `evaluate_video` (dlib's training faces pasted into 1280x720, 25-frame clips panning at
16 px/frame with +-10% zoom) for keyframe intervals 1, 3 and 5, once as shipped and once with
region search disabled (between keyframes the tracker only predicts boxes):

    python benchmarks/region_search_ablation.py [--set training] [--size 1280x720]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bystander.jobs.protect import ProtectSettings
from bystander.measure.datasets import paste_into, read_dataset
from bystander.measure.evaluation import evaluate_video
from bystander.measure.motion import MotionSpec
from bystander.vision.detections import Detections
from bystander.vision.detectors.centerface import CenterFace

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dlib-faces"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", default="training")
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    dataset = paste_into(read_dataset(DATA / f"{args.set}.xml"), (width, height))
    shipped = CenterFace.detect_regions
    print("| keyframe every | region search | recall 16 px+ | 16-24 px | faces 16 px+ |")
    print("|---|---|---|---|---|")
    for interval in (1, 3, 5):
        for search in (True, False):
            if interval == 1 and not search:
                continue
            CenterFace.detect_regions = (  # type: ignore[method-assign]
                shipped if search else lambda self, frame, regions: Detections.empty()
            )
            settings = ProtectSettings(keyframe_interval=interval, lookback=max(5, interval - 1))
            result = evaluate_video(dataset, settings, MotionSpec())
            counted = [b for b in result.buckets if b.min_height >= 16]
            covered = sum(b.covered for b in counted)
            faces = sum(b.faces for b in counted)
            small = result.bucket("16-24")
            print(
                f"| {interval} | {'yes' if search else 'no (prediction only)'} | "
                f"{covered / faces:.4f} | {small.covered}/{small.faces} | {faces} |",
                flush=True,
            )
    CenterFace.detect_regions = shipped  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
