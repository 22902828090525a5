"""Cost of signing and verifying a protected 720p MP4 with the C2PA manifest.

    python benchmarks/sign_bench.py [--seconds 10] [--rounds 5]

Builds a clip (the astronaut moving across a scene), protects it once, then signs copies of
the protected file and verifies them, timing each (median of ``--rounds``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bystander.jobs.protect import Protector
from bystander.measure.synthetic import make_demo_clip
from bystander.provenance import init_identity, sign_protected, verify_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = make_demo_clip(work / "clip.mp4", 1280, 720, int(args.seconds * 30))
        protector = Protector()
        item = protector.protect_file(clip.path, work / "protected.mp4")
        identity = init_identity(work / "id", common_name="bench-device")
        settings, detector = protector.settings.describe(), protector.detector.describe()
        signs, verifies = [], []
        for round_ in range(args.rounds):
            copy = work / f"copy{round_}.mp4"
            shutil.copy(work / "protected.mp4", copy)
            started = time.perf_counter()
            sign_protected(copy, item, settings, identity, detector_description=detector)
            signs.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = verify_file(copy, [identity.root_path])
            verifies.append(time.perf_counter() - started)
            assert result.state == "trusted", result.state
        size = (work / "protected.mp4").stat().st_size / 1e6
        print(
            f"| 1280x720 MP4, {args.seconds:g} s, {size:.1f} MB | "
            f"{statistics.median(signs) * 1e3:.0f} ms | "
            f"{statistics.median(verifies) * 1e3:.0f} ms |"
        )


if __name__ == "__main__":
    main()
