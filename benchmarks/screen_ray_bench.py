"""Screening throughput: in-process vs a local Ray cluster with 1 and 2 worker actors.

Uploads are 640x360 clips of 2 s (60 frames at 30 fps) with a real face moving across a scene,
unsigned, screened with a policy that rejects them (so no time goes to anonymizing; the work
is decoding, sampling at 5 fps, detecting and tracking). Cluster start-up is timed apart from
the batch.

    python benchmarks/screen_ray_bench.py [--uploads 24] [--repeats 2]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import ray

    from bystander.cli.screen_cmd import build_screen_worker
    from bystander.measure.synthetic import make_demo_clip
    from bystander.screening.ray_pool import run_on_ray

    folder = Path(tempfile.mkdtemp(prefix="bystander-screen-bench-"))
    policy = folder / "policy.yaml"
    policy.write_text("decisions:\n  unsigned_with_faces: reject\n")
    clip = make_demo_clip(folder / "upload-0.mp4", width=640, height=360, frames=60, audio=False)
    uploads = [clip.path]
    for index in range(1, args.uploads):
        copy = folder / f"upload-{index}.mp4"
        copy.write_bytes(clip.path.read_bytes())
        uploads.append(copy)
    make = functools.partial(build_screen_worker, policy, (), None)

    rates: dict[str, list[float]] = {"in-process": [], "ray, 1 worker": [], "ray, 2 workers": []}
    startup: dict[str, float] = {}
    screen = make()
    screen(uploads[0])  # warm the model
    for _ in range(args.repeats):
        started = time.perf_counter()
        for path in uploads:
            screen(path)
        rates["in-process"].append(len(uploads) / (time.perf_counter() - started))
        for workers in (1, 2):
            name = f"ray, {workers} worker{'s' if workers > 1 else ''}"
            began = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, logging_level="ERROR")  # fmt: skip
            list(run_on_ray(uploads[:workers], make, workers=workers))  # actors, models, warm-up
            startup[name] = time.perf_counter() - began
            started = time.perf_counter()
            failures = sum(r.error is not None for r in run_on_ray(uploads, make, workers=workers))
            rates[name].append(len(uploads) / (time.perf_counter() - started))
            ray.shutdown()
            assert failures == 0, f"{failures} uploads failed"

    base = statistics.median(rates["in-process"])
    print(f"{len(uploads)} uploads of 640x360, 2 s each; median of {args.repeats}; "
          "ray batches include starting the batch's actors (models load per actor)")  # fmt: skip
    print(f"{'mode':<18}{'uploads/s':>10}{'vs in-process':>15}{'cluster start s':>17}")
    for name, values in rates.items():
        rate = statistics.median(values)
        start = f"{startup[name]:.1f}" if name in startup else "-"
        print(f"{name:<18}{rate:>10.2f}{rate / base:>15.2f}{start:>17}")


if __name__ == "__main__":
    main()
