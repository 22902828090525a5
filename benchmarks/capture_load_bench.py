"""Issue 16: the capture guard on a busy device (no false faults, live at full speed, evidence
after every ending).

    python benchmarks/capture_load_bench.py                      # all parts, defaults below
    python benchmarks/capture_load_bench.py --captures 5 --faults 200

1. **Quiet**: one ``bystander capture`` of a 10-second 1280x720 clip (synthetic: the
   astronaut's face moving across a scene, ``bystander.measure.synthetic``), nothing else of
   ours running: frames released per second of clip, and sensor stamp -> consumer latency
   (the session's own p50/p99, from ``capture.stopped``).
2. **Loaded**: two CPU-bound processes (``while True: pass``) run throughout; ``--captures``
   consecutive captures of the same clip through the CLI. Reported: faults, released share,
   dropped and unproven counts, latency; then ``bystander audit verify`` (nothing unsigned)
   and ``bystander audit replay`` over the log (every session's verdict from the log alone,
   including the R1 check that every release lies inside an interval proven ON).
3. **Injected faults under the same load**: ``--faults`` sessions (``guard_bench``'s method:
   LED off, occlusion, driver error, external fault in turn, at a random phase), injection ->
   release stopped p50/p99/max; and ``--stalls`` hung drivers (R5 on the call deadline).

The machine is shared: the load average is printed before and after each part.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "examples" / "glasses.yaml"
BIN = Path(sys.executable).with_name("bystander")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True)


def capture(clip: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = run(
        "capture", "--source", str(clip), "--profile", str(PROFILE), "-o", str(out),
        "--overwrite", "--json", env=env,
    )  # fmt: skip
    took = time.perf_counter() - t0
    try:
        summary: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        summary = {"fault": "error", "fault_reason": done.stderr.strip()[-300:], "released": 0}
    summary["wall_s"] = round(took, 1)
    summary["exit"] = done.returncode
    return summary


def hogs(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--faults", type=int, default=1000)
    parser.add_argument("--stalls", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=2)
    args = parser.parse_args()

    from bystander.measure.synthetic import make_demo_clip

    work = Path(tempfile.mkdtemp(prefix="capture-load-"))
    env = dict(os.environ, BYSTANDER_HOME=str(work / "home"))
    env.pop("BYSTANDER_DATABASE_URL", None)
    clip = work / "clip720.mp4"
    make_demo_clip(clip, width=1280, height=720, frames=30 * args.seconds, audio=False)
    grant = run("consent", "grant", "--subject", "wearer-1", "--scope", "record-video",
                "--kind", "explicit", env=env)  # fmt: skip
    assert grant.returncode == 0, grant.stderr
    frames = 30 * args.seconds

    print(f"## quiet: one capture of a {args.seconds} s 1280x720 clip; {load()}")
    quiet = capture(clip, work / "quiet.mp4", env)
    fps = quiet["released"] / args.seconds
    print(f"  released {quiet['released']}/{frames} ({fps:.1f} fps of clip), dropped "
          f"{quiet.get('dropped')}, unproven {quiet.get('withheld_unproven')}, latency p50 "
          f"{quiet.get('latency_p50_ms')} ms p99 {quiet.get('latency_p99_ms')} ms, delay "
          f"{quiet.get('delay_frames')} frames, fault {quiet.get('fault')}")  # fmt: skip

    procs = hogs(args.hogs)
    try:
        time.sleep(1)
        print(f"## loaded: {args.hogs} CPU hogs, {args.captures} captures; {load()}")
        results = []
        for number in range(args.captures):
            r = capture(clip, work / f"load{number}.mp4", env)
            results.append(r)
            print(f"  #{number + 1}: released {r['released']}/{frames}, dropped "
                  f"{r.get('dropped')}, unproven {r.get('withheld_unproven')}, p50 "
                  f"{r.get('latency_p50_ms')} ms, p99 {r.get('latency_p99_ms')} ms, fault "
                  f"{r.get('fault')} {r.get('fault_reason') or ''}")  # fmt: skip
        faults = [r for r in results if r.get("fault")]
        shares = [r["released"] / frames for r in results]
        p99s = [r["latency_p99_ms"] for r in results if r.get("latency_p99_ms") is not None]
        print(f"  faults {len(faults)}/{len(results)}; released share min {min(shares):.3f} "
              f"mean {statistics.mean(shares):.3f}; latency p99 median "
              f"{statistics.median(p99s) if p99s else None} ms, max {max(p99s, default=None)} "
              f"ms; {load()}")  # fmt: skip
        verify = run("audit", "verify", env=env)
        print(f"  audit verify: exit {verify.returncode}: {verify.stdout.strip().splitlines()[0]}")
        replay = run("audit", "replay", "--json", env=env)
        summary = json.loads(replay.stdout)["summary"] if replay.stdout else replay.stderr
        print(f"  audit replay: exit {replay.returncode}: {summary}")

        from guard_bench import bench_faults

        for title, kinds, total in (
            ("injected faults", ["led-off", "occluded", "driver-error", "external"], args.faults),
            ("hung driver (R5, call deadline 300 ms)", ["driver-blocked"], args.stalls),
        ):
            if total <= 0:
                continue
            t0 = time.perf_counter()
            s = bench_faults(kinds, total, args.parallel)
            print(f"## {title} under load: {s['n']} faults, {args.parallel} sessions at a time, "
                  f"{time.perf_counter() - t0:.0f} s, replay {'ok' if s['replay_ok'] else 'FAIL'}, "
                  f"faults before injection {len(s['spurious'])}; {load()}")  # fmt: skip
            for key, value in s.items():
                if isinstance(value, tuple):
                    p50, p99, top = value
                    print(f"  {key:24s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {top:7.2f} ms")
    finally:
        stop(procs)
    print(f"work folder: {work}; {load()}")


if __name__ == "__main__":
    main()
