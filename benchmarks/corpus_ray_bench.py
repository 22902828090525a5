"""A mixed corpus through `bystander protect`: one process vs a two-node Ray cluster on this
machine, then a kill -9 of the Ray driver halfway and a rerun that must redo only the rest.

The corpus: photos in three sizes (JPEG and PNG) and short MP4 clips of the scikit-image
astronaut's face, plus one corrupt JPEG, in four sub-folders. The cluster is started here
with the Ray CLI (``ray start --head`` and a second ``ray start --address``, one CPU each,
token authentication) and stopped at the end: only its own processes are stopped, found by
its temp folder, so other Ray clusters on the machine are left alone.

    python benchmarks/corpus_ray_bench.py [--files 200] [--repeats 1] [--port 6391]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def make_corpus(root: Path, files: int) -> None:
    """``files`` entries: 90% photos (3 sizes, JPEG/PNG), 10% clips, and one corrupt JPEG."""
    import cv2
    from PIL import Image

    from bystander.measure.synthetic import (
        astronaut_head,
        background,
        moving_face_frames,
        paste,
        write_clip,
    )

    head, _ = astronaut_head()
    sizes = [(320, 240), (240, 180), (400, 300)]
    clip_frames, _ = moving_face_frames(160, 120, frames=10, min_face=30, max_face=45)
    for index in range(files - 1):
        folder = root / f"batch{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        if index % 10 == 9:
            write_clip(folder / f"clip{index:03d}.mp4", clip_frames, fps=10, audio=False)
            continue
        width, height = sizes[index % 3]
        scene = background(width, height)
        scale = 0.35 + 0.03 * (index % 5)
        face = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        paste(scene, face, 10 + 9 * (index % 17), 10 + 5 * (index % 9))
        suffix = "png" if index % 4 == 0 else "jpg"
        Image.fromarray(scene).save(folder / f"photo{index:03d}.{suffix}")
    (root / "batch0" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all" * 20)


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "BYSTANDER_HOME": str(home), "RAY_AUTH_MODE": "token"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def protect(corpus: Path, out: Path, home: Path, *extra: str) -> tuple[float, float, dict]:
    """Run the CLI as a whole process: its wall time, its CPU time (all threads) and its
    corpus report."""
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(
        [str(BIN / "bystander"), "protect", str(corpus), "-o", str(out), "-q", *extra],
        env=env(home),
        check=False,
    )
    wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
    return wall, cpu, json.loads((out / "corpus-report.json").read_text())


def cluster_cpu(temp_dir: Path) -> dict[int, float]:
    """CPU seconds so far of each process of the cluster (by pid)."""
    table = _processes()
    mine = _tree(table, {pid for pid, (_, cmd) in table.items() if str(temp_dir) in cmd})
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for pid in mine:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _tree(table: dict[int, tuple[int, str]], roots: set[int]) -> set[int]:
    mine, grew = set(roots), True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in mine} - mine
        grew = bool(children)
        mine |= children
    return mine


def start_cluster(port: int, temp_dir: Path, home: Path) -> None:
    ray = str(BIN / "ray")
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run(
        [ray, "start", "--head", f"--port={port}", "--include-dashboard=false",
         f"--temp-dir={temp_dir}", *common],
        env=env(home), check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [ray, "start", f"--address=127.0.0.1:{port}", *common],
        env=env(home), check=True, capture_output=True,
    )  # fmt: skip


def _processes() -> dict[int, tuple[int, str]]:
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry.name)] = (ppid, cmdline)
    return found


def stop_cluster(temp_dir: Path) -> int:
    """Stop this cluster's processes (those naming ``temp_dir``, and their children)."""
    table = _processes()
    me, ancestors = os.getpid(), set()
    while me in table:  # never this script or what started it
        ancestors.add(me)
        me = table[me][0]
    roots = {pid for pid, (_, cmd) in table.items() if str(temp_dir) in cmd} - ancestors
    mine = _tree(table, roots) - ancestors
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in mine:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(3)
    return len(mine)


def finished(out: Path) -> set[str]:
    """Outputs published with their sidecar (what a rerun may skip)."""
    state = out / ".bystander-corpus"
    return {
        str(p.relative_to(state))[: -len(".json")]
        for p in state.rglob("*.json")
        if (out / str(p.relative_to(state))[: -len(".json")]).is_file()
    }


def kill_halfway(corpus: Path, out: Path, home: Path, port: int, good: int) -> dict:
    address = ["--ray-address", f"127.0.0.1:{port}"]
    driver = subprocess.Popen(
        [str(BIN / "bystander"), "protect", str(corpus), "-o", str(out), "-q", *address],
        env=env(home),
    )
    while len(finished(out)) < good // 2 and driver.poll() is None:
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    count, stable_since = len(finished(out)), time.monotonic()
    while time.monotonic() - stable_since < 5:  # the dead driver's actors may end an item
        time.sleep(0.5)
        if len(finished(out)) != count:
            count, stable_since = len(finished(out)), time.monotonic()
    before = finished(out)
    published = {
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.is_file() and ".bystander-corpus" not in p.parts and ".partial" not in p.name
    }
    partials = [p.name for p in out.rglob("*.partial*")]
    wall, _, report = protect(corpus, out, home, *address)
    redone = {i["output"] for i in report["items"] if i["status"] == "done"}
    skipped = {i["output"] for i in report["items"] if i["status"] == "skipped"}
    return {
        "finished_at_kill": len(before),
        "published_without_sidecar": sorted(published - before),
        "partials_left_by_kill": len(partials),
        "rerun_done": len(redone),
        "rerun_skipped": len(skipped),
        "rerun_skipped_is_exactly_the_finished": skipped == before,
        "rerun_redid_a_finished_file": bool(redone & before),
        "rerun_failed": report["totals"]["failed"],
        "stale_partials_removed": report.get("stale_partials_removed"),
        "rerun_wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--port", type=int, default=6391)
    parser.add_argument("--ray-args", default="", help="extra protect options for Ray runs")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill -9 test")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bystander-corpus-bench-"))
    home, corpus, temp_dir = work / "home", work / "corpus", work / "ray"
    make_corpus(corpus, args.files)
    subprocess.run(  # the device identity, created once (not timed)
        [sys.executable, "-c", "from bystander.provenance.pki import ensure_identity as e; e()"],
        env=env(home),
        check=True,
    )
    warm = work / "warm"  # one file of each shape first (fills a model cache, if one is used)
    warm.mkdir()
    for index in (0, 1, 2, 9):  # the three photo sizes and a clip
        (found,) = corpus.glob(f"batch{index % 4}/*{index:03d}.*")
        shutil.copy(found, warm / found.name)
    protect(warm, work / "warm-out", home, "--corpus")
    print(f"corpus: {args.files} files in {corpus}; load average {os.getloadavg()}")
    start_cluster(args.port, temp_dir, home)
    rows: list[dict] = []
    address = ["--ray-address", f"127.0.0.1:{args.port}", *args.ray_args.split()]
    try:
        for repeat in range(args.repeats):
            order = ("local", "ray") if repeat % 2 == 0 else ("ray", "local")
            for mode in order:
                out = work / f"out-{mode}-{repeat}"
                infra = cluster_cpu(temp_dir)
                wall, cpu, report = protect(corpus, out, home, *(
                    ["--corpus"] if mode == "local" else address))  # fmt: skip
                after = cluster_cpu(temp_dir)
                if mode == "ray":  # actors (their start-up too) and the cluster's own daemons
                    cpu += sum(n["worker_cpu_seconds"] for n in report["nodes"])
                    cpu += sum(after[p] - infra[p] for p in infra if p in after)
                row = {
                    "mode": mode,
                    "wall_s": round(wall, 1),
                    "cpu_s": round(cpu, 1),
                    "files_per_s": round(report["totals"]["done"] / wall, 2),
                    "files_per_cpu_s": round(report["totals"]["done"] / cpu, 2),
                    "totals": report["totals"],
                    "nodes": report["nodes"],
                    "load": os.getloadavg()[0],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                shutil.rmtree(out)
        if not args.no_kill:
            kill = kill_halfway(corpus, work / "out-kill", home, args.port, args.files - 1)
            print(json.dumps({"kill_halfway": kill}))
    finally:
        print(f"stopped {stop_cluster(temp_dir)} Ray processes of this cluster")
        marker = Path("/tmp/ray/ray_current_cluster")  # `ray stop` would remove it, if ours
        if marker.is_file() and marker.read_text().strip().endswith(f":{args.port}"):
            marker.unlink()
        shutil.rmtree(work, ignore_errors=True)
    local = [r["wall_s"] for r in rows if r["mode"] == "local"]
    ray_ = [r["wall_s"] for r in rows if r["mode"] == "ray"]
    speedup = [round(a / b, 2) for a, b in zip(local, ray_, strict=True)]
    local_cpu = [r["cpu_s"] for r in rows if r["mode"] == "local"]
    ray_cpu = [r["cpu_s"] for r in rows if r["mode"] == "ray"]
    print(json.dumps({"local_wall_s": local, "ray_wall_s": ray_, "ray_speedup": speedup,
                      "local_cpu_s": local_cpu, "ray_cpu_s": ray_cpu}))  # fmt: skip


if __name__ == "__main__":
    main()
