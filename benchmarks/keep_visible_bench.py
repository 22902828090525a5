"""What keeping consenting people visible costs: protect throughput with and without a gate.

By default builds a 1280x720 clip with two real faces (scikit-image's astronaut, enrolled with
separate consent, and the cameraman, a stranger); with ``--clip`` protects a real video
instead, its person enrolled from the clip's first ``--enrol-seconds`` (``video_samples``, as
``bystander enroll add --video``). The clip is protected with the same settings three ways,
interleaved, in one process: no gate (everyone redacted), ``--keep-visible enrolled`` (dlib in
its child process, as ``bystander protect``), and ``--keep-visible badges`` (nobody wears
one: the cost of looking).

    python benchmarks/keep_visible_bench.py [--frames 90] [--repeats 3] [--preset realtime]
    python benchmarks/keep_visible_bench.py --clip ../shared/data/egoblur/gen1-test_video.mp4
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def scene(width: int, height: int, shift: int) -> np.ndarray:
    import skimage.data

    from bystander.measure.synthetic import astronaut_head, background, paste

    frame = background(width, height)
    head, _ = astronaut_head()
    paste(frame, np.ascontiguousarray(cv2.resize(head, None, fx=1.2, fy=1.2)), 200 + shift, 150)
    grey = skimage.data.camera()[80:240, 160:300]
    stranger = np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    paste(frame, np.ascontiguousarray(cv2.resize(stranger, None, fx=1.2, fy=1.2)), 850 - shift, 170)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="realtime")
    parser.add_argument("--clip", type=Path, default=None, help="a real video of one person")
    parser.add_argument("--enrol-seconds", type=float, default=5.0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bystander-bench-"))
    os.environ["BYSTANDER_HOME"] = str(home)
    os.environ.pop("BYSTANDER_DATABASE_URL", None)

    from bystander.consent.models import ConsentKind, Scope
    from bystander.consent.store import ConsentStore
    from bystander.evidence.audit import AuditLog
    from bystander.evidence.db import init_db, make_engine
    from bystander.evidence.vault import TemplateVault
    from bystander.jobs.protect import Protector, ProtectSettings
    from bystander.measure.synthetic import astronaut_head, write_clip
    from bystander.recognition import FaceEmbedder, enroll
    from bystander.recognition.enrolment import enroll_samples, video_samples
    from bystander.visibility import FILE_MAX_LAG, KeepVisible, close_gate, open_gate
    from bystander.vision.detectors import create_detector

    engine = make_engine()
    init_db(engine)
    sink = AuditLog(engine)
    store = ConsentStore(engine, sink)
    store.grant("ds-1", [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE)
    detector = create_detector("centerface")

    def find(frame: np.ndarray) -> np.ndarray:
        return np.asarray(detector.detect(frame).xyxy, dtype=np.float32)

    vault = TemplateVault(engine, sink=sink)
    if args.clip is None:
        clip = home / "clip.mp4"
        write_clip(clip, [scene(1280, 720, i) for i in range(args.frames)], fps=30, audio=False)
        enroll("ds-1", [astronaut_head()[0]], store, vault, FaceEmbedder(), find)
        what = f"1280x720 synthetic, {args.frames} frames, 2 faces (1 enrolled)"
    else:
        import av

        clip = args.clip
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or 30)
            first = []
            for frame in container.decode(video=0):
                if len(first) >= args.enrol_seconds * rate:
                    break
                first.append(frame.to_ndarray(format="rgb24"))
        samples = video_samples(iter(first), FaceEmbedder(), find)
        enroll_samples("ds-1", samples, store, vault)
        what = f"{clip.name} (enrolled from its first {args.enrol_seconds:g} s)"

    ways: dict[str, tuple[KeepVisible, ...]] = {
        "everyone redacted": (),
        "--keep-visible enrolled": (KeepVisible.ENROLLED,),
        "--keep-visible badges": (KeepVisible.BADGES,),
    }
    gates = {
        name: open_gate(kinds, engine, sink, max_lag=FILE_MAX_LAG) for name, kinds in ways.items()
    }
    fps: dict[str, list[float]] = {name: [] for name in ways}
    kept: dict[str, int] = {}
    work: dict[str, str] = {}
    for repeat in range(args.repeats + 1):  # the first round warms up (child start, models)
        for name, kinds in ways.items():
            settings = ProtectSettings.from_preset(
                args.preset, keep_visible=tuple(k.value for k in kinds), overwrite=True
            )
            protector = Protector(settings, detector, visibility=gates[name])
            started = time.perf_counter()
            item = protector.protect_file(clip, home / "out.mp4")
            seconds = time.perf_counter() - started
            if repeat:
                fps[name].append(item.summary.frames / seconds)
            kept[name] = item.summary.faces_kept_visible
            gate = gates[name]
            for counter, unit in (("embedded", "faces embedded"), ("searches", "badge searches")):
                if hasattr(gate, counter):
                    total = getattr(gate, counter)
                    work[name] = f"{total / (repeat + 1):.0f} {unit}"
    for gate in gates.values():
        close_gate(gate)

    base = statistics.median(fps["everyone redacted"])
    print(f"{what}, preset {args.preset}, median of {args.repeats}")
    print(f"{'mode':<26}{'fps':>8}{'vs plain':>10}{'kept visible':>14}  work per run")
    for name in ways:
        median = statistics.median(fps[name])
        print(
            f"{name:<26}{median:>8.1f}{median / base:>10.2f}{kept[name]:>14}  "
            f"{work.get(name, '-')}"
        )


if __name__ == "__main__":
    main()
