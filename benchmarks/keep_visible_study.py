"""Does `--keep-visible enrolled` keep consenting people visible in real footage, and nobody else?

Part 1, calibration: dlib descriptor distances of impostor pairs (different people) and
genuine pairs over every real face identity available offline (``face_sources.py``): the
tune split picks the thresholds for a stated false-accept target, the held-out split checks
them.

Part 2, tracks on real video, through the real detector and tracker (preset ``realtime``,
as ``bystander protect``) and ``EnrolledFaceGate`` with its per-track rules:

- the consenting person: EgoBlur's gen1 selfie clip (one woman). Enrolment from its first
  5 seconds (frames 0-149) as a user could: one frame as a "phone photo", three frames as
  "three photos", or the whole 5 seconds as a selfie video (``video_samples``). Measured on
  frames 150-374 (tune) and 375-599 (held out), each cut into 3 clips of 75 frames (each clip
  starts new tracks), at 4 scales (the clip downscaled so faces are 40-540 px high);
- EgoBlur's gen2 clip (two people at a table, 14 frames, held out), each enrolled from the
  separate photo of the same two people (gen2-test_face_image.png);
- strangers: every photo identity enrolled at once (about 60 people), nobody of the videos:
  every face-frame kept visible is a false accept.

TAR counts a consenting person's detected face-frames 40 px and up after the first 10 frames
of their track; FAR counts other people's detected face-frames and tracks kept visible.

    python benchmarks/keep_visible_study.py --wheels ~/.cache/bystander-wheels \\
        [--data ../shared/data] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from face_sources import PhotoFace, Sources, Video

THRESHOLDS = (0.40, 0.42, 0.45, 0.48, 0.50, 0.52, 0.55, 0.58, 0.60)
FAR_TARGET = 0.001  # of impostor pairs, on the tune identities
SCALES = (1.0, 0.5, 0.25, 0.15)
CLIP = 75
WOMAN = "egoblur-gen1-woman"
GEN1 = "gen1-test_video.mp4"
GEN2 = "gen2-test_face_video.mp4"
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# --- part 1: pairs -----------------------------------------------------------------------


@dataclass
class Embedded:
    identity: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)  # "photo" or "video"
    vectors: list[np.ndarray] = field(default_factory=list)

    def add(self, identity: str, split: str, kind: str, vector: np.ndarray) -> None:
        self.identity.append(identity)
        self.split.append(split)
        self.kind.append(kind)
        self.vectors.append(vector)


def embed_photos(faces: list[PhotoFace], tight: Any, wide: Any) -> Embedded:
    out = Embedded()
    for face in faces:
        embedder = tight if face.tight else wide
        vector = embedder.embed(np.ascontiguousarray(face.image), face.box[None, :])[0]
        out.add(face.identity, face.split, "photo", vector)
    return out


def calibration(data: Embedded) -> float:
    emb = np.stack(data.vectors)
    ident = np.array(data.identity)
    split = np.array(data.split)
    iu = np.triu_indices(len(emb), k=1)
    d = np.linalg.norm(emb[iu[0]] - emb[iu[1]], axis=1)
    same = ident[iu[0]] == ident[iu[1]]
    tune = (split[iu[0]] == "tune") & (split[iu[1]] == "tune")
    held = ~tune
    ids = sorted(set(data.identity))
    n_tune = len({i for i, s in zip(data.identity, data.split, strict=True) if s == "tune"})
    print(f"identities: {len(ids)} ({n_tune} tune, {len(ids) - n_tune} held out); "
          f"embeddings: {len(emb)}")
    imp_t, imp_h = d[~same & tune], d[~same & held]
    gen_t, gen_h = d[same & tune], d[same & held]
    print(f"impostor pairs: {len(imp_t)} tune, {len(imp_h)} held out; genuine pairs: "
          f"{len(gen_t)} tune (bald_guys.jpg: 4 people x 6 photos; the woman across frames), "
          f"{len(gen_h)} held out (gen2's two people: photo vs video)")
    print(f"closest impostor pair: tune {imp_t.min():.3f}, held out {imp_h.min():.3f}")
    kinds = np.array(data.kind)
    for k in np.argsort(np.where(same, np.inf, d))[:5]:
        a, b = iu[0][k], iu[1][k]
        print(f"  {d[k]:.3f}: {ident[a]} ({kinds[a]}) ~ {ident[b]} ({kinds[b]})")
    print()
    print("| threshold | FAR tune pairs | FAR held-out pairs | identity pairs accepted | "
          "TAR tune (cross-photo) | TAR held out |")
    print("|---:|---:|---:|---:|---:|---:|")
    pair_id = np.array([f"{min(a, b)}|{max(a, b)}" for a, b in zip(ident[iu[0]], ident[iu[1]],
                                                                    strict=True)])
    id_pairs = np.unique(pair_id[~same])
    people = ("vin-diesel", "jason-statham", "bruce-willis", "dwayne-johnson")
    bald = same & tune & np.isin(ident[iu[0]], people)
    for t in THRESHOLDS:
        hit = len(np.unique(pair_id[~same & (d <= t)]))
        print(f"| {t:.2f} | {(imp_t <= t).mean():.4%} ({(imp_t <= t).sum()}) "
              f"| {(imp_h <= t).mean():.4%} ({(imp_h <= t).sum()}) "
              f"| {hit}/{len(id_pairs)} | {(d[bald] <= t).mean():.1%} "
              f"| {(gen_h <= t).mean():.1%} |")
    grid = np.round(np.arange(0.30, 0.70, 0.005), 3)
    ok = [t for t in grid if (imp_t <= t).mean() <= FAR_TARGET]
    chosen = float(max(ok))
    strict = float(max(t for t in grid if not (imp_t <= t).any()))
    print(f"\nlargest threshold with tune pair FAR <= {FAR_TARGET:.1%} (per-sample rule): "
          f"{chosen:.3f}; held-out pair FAR there: {(imp_h <= chosen).mean():.4%}")
    print(f"largest threshold accepting no tune impostor pair (track and still-image rule): "
          f"{strict:.3f}; held-out pair FAR there: {(imp_h <= strict).mean():.4%}, "
          f"held-out genuine TAR {(gen_h <= strict).mean():.1%}")
    return chosen


# --- part 2: tracks on video ---------------------------------------------------------------


@dataclass
class Offered:
    """One frame's tracked detections (as the pipeline offers them) and each face's yaw."""

    index: int
    faces: Any
    yaw: np.ndarray


def scaled(frames: Iterator[np.ndarray], scale: float) -> Iterator[np.ndarray]:
    for frame in frames:
        if scale == 1.0:
            yield frame
        else:
            yield np.ascontiguousarray(
                cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            )


def detect_clip(frames: Iterator[np.ndarray], detector: Any, shape: Any) -> list[Offered]:
    """Run the real pipeline (preset realtime) once and keep what it offers the gate."""
    from bystander.jobs.protect import ProtectSettings
    from bystander.recognition.embedder import dlib_box
    from bystander.recognition.quality import yaw_of
    from bystander.vision.pipeline import FrameProtector
    from bystander.vision.redact import Redactor
    from bystander.vision.tracker import FaceTracker

    settings = ProtectSettings.from_preset("realtime")
    offered: list[Offered] = []

    class Record:
        def visible(self, frame: np.ndarray, faces: Any, index: int) -> dict[int, Any]:
            yaws = []
            for box in faces.xyxy:
                import dlib  # type: ignore[import-untyped,unused-ignore]

                rect = dlib.rectangle(*dlib_box(box))
                points = np.array([(p.x, p.y) for p in shape(frame, rect).parts()], float)
                yaws.append(yaw_of(points))
            offered.append(Offered(index, faces, np.array(yaws)))
            return {}

    protector = FrameProtector(
        detector, Redactor(), FaceTracker(settings.tracking), lookback=settings.lookback,
        keyframe_interval=settings.keyframe_interval, visibility=Record(),
    )
    for frame in frames:
        protector.push_frames(frame.copy())  # the pipeline redacts in place
    protector.flush_frames()
    return offered


@dataclass
class Tally:
    genuine: int = 0  # consenting person's face-frames >= 40 px after 10 frames of track
    kept: int = 0
    genuine_all: int = 0
    kept_all: int = 0
    others: int = 0
    others_kept: int = 0
    other_tracks: set[tuple[str, int]] = field(default_factory=set)
    other_tracks_kept: set[tuple[str, int]] = field(default_factory=set)
    embedded: int = 0
    by_bucket: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def add(self, other: Tally) -> None:
        for name in ("genuine", "kept", "genuine_all", "kept_all", "others", "others_kept",
                     "embedded"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.other_tracks |= other.other_tracks
        self.other_tracks_kept |= other.other_tracks_kept
        for key, (a, b) in other.by_bucket.items():
            self.by_bucket[key][0] += a
            self.by_bucket[key][1] += b

    def tar(self) -> str:
        return f"{self.kept / self.genuine:.3f} ({self.kept}/{self.genuine})" if self.genuine \
            else "-"


def size_bucket(height: float) -> str:
    for edge, name in ((60, "40-59 px"), (100, "60-99 px"), (200, "100-199 px")):
        if height < edge:
            return name
    return "200+ px"


def pose_bucket(yaw: float) -> str:
    yaw = abs(yaw)
    return "frontal" if yaw < 0.1 else "three-quarter" if yaw < 0.25 else "turned"


def run_gate(
    gate: Any,
    frames: Iterator[np.ndarray],
    offered: list[Offered],
    video: Video,
    scale: float,
    first: int,
    consenting: set[str],
    label: str,
) -> Tally:
    """Offer each frame's faces to ``gate`` and count what it kept, by identity."""
    tally = Tally()
    born: dict[int, int] = {}
    by_index = {o.index: o for o in offered}
    for index, frame in enumerate(frames):
        item = by_index.get(index)
        if item is None or len(item.faces) == 0:
            continue
        kept = gate.visible(frame, item.faces, index)
        for row in range(len(item.faces)):
            box = item.faces.xyxy[row]
            track = int(item.faces.track_ids[row])
            born.setdefault(track, index)
            who = video.who(box / scale, first + index)
            height = float(box[3] - box[1])
            visible = row in kept
            if who in consenting:
                tally.genuine_all += 1
                tally.kept_all += int(visible)
                if height >= 40 and index - born[track] >= 10:
                    tally.genuine += 1
                    tally.kept += int(visible)
                    for key in (size_bucket(height), pose_bucket(float(item.yaw[row]))):
                        tally.by_bucket[key][0] += 1
                        tally.by_bucket[key][1] += int(visible)
            else:
                tally.others += 1
                tally.other_tracks.add((label, track))
                if visible:
                    tally.others_kept += 1
                    tally.other_tracks_kept.add((label, track))
    tally.embedded = gate.embedded
    return tally


class World:
    """A fresh evidence store with the given people enrolled under separate consent."""

    def __init__(self, home: Path) -> None:
        from bystander.consent.store import ConsentStore
        from bystander.evidence.db import init_db, make_engine
        from bystander.evidence.vault import TemplateVault, VaultKeyring

        home.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(f"sqlite:///{home / 'evidence.db'}")
        init_db(self.engine)
        self.consents = ConsentStore(self.engine)
        self.vault = TemplateVault(self.engine, VaultKeyring.from_key(bytes(range(32))))

    def enroll(self, subject: str, vectors: np.ndarray, weights: np.ndarray | None = None) -> None:
        from bystander.consent.models import ConsentKind, Scope
        from bystander.recognition.enrolment import Samples, enroll_samples

        self.consents.grant(subject, [Scope.FACE_ENROLMENT], kind=ConsentKind.SEPARATE,
                            at=AT.replace(year=2025))
        weights = np.ones(len(vectors)) if weights is None else weights
        enroll_samples(subject, Samples(np.asarray(vectors, np.float32), weights),
                       self.consents, self.vault, at=AT)

    def gate(self, embedder: Any, rules: Any) -> Any:
        from bystander.recognition.matcher import ConsentedFaces
        from bystander.visibility import EnrolledFaceGate

        faces = ConsentedFaces(self.vault, self.consents, "consent_recognition")
        return EnrolledFaceGate(faces, embedder, rules=rules, clock=lambda: AT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--wheels", type=Path, default=None)
    parser.add_argument("--scales", default=",".join(str(s) for s in SCALES))
    parser.add_argument("--quick", action="store_true", help="scale 1 and 0.25 only")
    args = parser.parse_args()
    os.environ["BYSTANDER_HOME"] = tempfile.mkdtemp(prefix="bystander-study-")
    import dlib  # type: ignore[import-untyped,unused-ignore]

    from bystander.recognition.embedder import SHAPE_MODEL, FaceEmbedder, _model
    from bystander.recognition.enrolment import video_samples
    from bystander.recognition.tracks import TrackRules
    from bystander.vision.detectors import create_detector

    started = time.perf_counter()
    sources = Sources(args.data, args.wheels)
    tight, wide = FaceEmbedder(width_scale=1.0), FaceEmbedder()
    detector = create_detector("centerface")
    shape = dlib.shape_predictor(str(_model(SHAPE_MODEL)))
    videos = sources.videos()
    gen1, gen2 = videos[GEN1], videos[GEN2]

    # --- part 1
    photos = sources.photo_faces()
    pairs = embed_photos(photos, tight, wide)
    woman_frames = list(gen1.frames(0, 374))
    dets = {r.index: r for r in detect_clip(iter(woman_frames[150:375:5]), detector, shape)}
    for k, frame in enumerate(woman_frames[150:375:5]):
        if k in dets and len(dets[k].faces):
            pairs.add(WOMAN, "tune", "video", wide.embed(frame, dets[k].faces.xyxy[:1])[0])
    gen2_frames = list(gen2.frames())
    gen2_offered = detect_clip(iter(gen2_frames), detector, shape)
    for item in gen2_offered:
        for box in item.faces.xyxy:
            who = gen2.who(box, item.index)
            if who is not None and box[3] - box[1] >= 40:
                vector = wide.embed(gen2_frames[item.index], box[None, :])[0]
                pairs.add(who, "held_out", "video", vector)
    print("## Part 1: thresholds from impostor pairs\n")
    chosen = calibration(pairs)

    # --- part 2
    scales = (1.0, 0.25) if args.quick else tuple(float(s) for s in args.scales.split(","))
    rules = TrackRules()
    print(f"\n## Part 2: tracks on real video ({rules})\n")
    enrol_dets = {r.index: r for r in detect_clip(iter(woman_frames[:150]), detector, shape)}

    def woman_photo(indices: list[int]) -> np.ndarray:
        return np.stack([wide.embed(woman_frames[i], enrol_dets[i].faces.xyxy[:1])[0]
                         for i in indices])

    def find(frame: np.ndarray) -> np.ndarray:
        return np.asarray(detector.detect(frame).xyxy)

    video = video_samples(iter(woman_frames[:150]), wide, find)
    conditions: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
        "one photo (frame 100)": (woman_photo([100]), None),
        "three photos (frames 50, 100, 140)": (woman_photo([50, 100, 140]), None),
        f"5-second video ({len(video.vectors)} samples)": (video.vectors, video.weights),
    }
    clips: dict[tuple[str, int, float], list[Offered]] = {}
    for part, (lo, hi) in (("tune", (150, 374)), ("held out", (375, 599))):
        for start in range(lo, hi + 1, CLIP):
            for scale in scales:
                frames = scaled(gen1.frames(start, start + CLIP - 1), scale)
                clips[(part, start, scale)] = detect_clip(frames, detector, shape)
    home = Path(os.environ["BYSTANDER_HOME"])
    print("| enrolment | part | TAR (>= 40 px, after 10 frames) | TAR all frames | "
          "embeddings | doubts | by size | by pose |")
    print("|---|---|---:|---:|---:|---|---|---|")
    for n, (name, (vectors, weights)) in enumerate(conditions.items()):
        world = World(home / f"c{n}")
        world.enroll("woman", vectors, weights)
        for part in ("tune", "held out"):
            total = Tally()
            doubts: Counter[str] = Counter()
            for (p, start, scale), offered in clips.items():
                if p != part:
                    continue
                frames = scaled(gen1.frames(start, start + CLIP - 1), scale)
                gate = world.gate(wide, rules)
                total.add(run_gate(gate, frames, offered, gen1, scale, start, {WOMAN},
                                   f"gen1-{start}-{scale}"))
                doubts += gate.judge.doubts
            print(f"| {name} | {part} | {total.tar()} | "
                  f"{total.kept_all / max(1, total.genuine_all):.3f} | {total.embedded} | "
                  f"{_doubts(doubts)} | "
                  f"{_buckets(total, ('40-59 px', '60-99 px', '100-199 px', '200+ px'))} | "
                  f"{_buckets(total, ('frontal', 'three-quarter', 'turned'))} |")

    # gen2: each person enrolled from the separate photo
    world = World(home / "gen2")
    photo_of = {f.identity: f for f in photos}
    for who in ("egoblur-gen2-a", "egoblur-gen2-b"):
        face = photo_of[who]
        world.enroll(who, wide.embed(face.image, face.box[None, :]))
    gate = world.gate(wide, rules)
    tally = run_gate(gate, iter(gen2_frames), gen2_offered, gen2, 1.0, 0,
                     {"egoblur-gen2-a", "egoblur-gen2-b"}, "gen2")
    print(f"| one photo each (gen2-test_face_image.png) | gen2 clip, held out | {tally.tar()} | "
          f"{tally.kept_all / max(1, tally.genuine_all):.3f} | {tally.embedded} | "
          f"{_doubts(gate.judge.doubts)} | | |")

    # strangers: every photo identity enrolled, plus the people of the other clip
    crowd = [f for f in photos if not f.identity.startswith("egoblur-gen2")]
    print("\n| enrolled | footage (nobody in it enrolled) | other people's face-frames "
          "kept visible | tracks kept visible | embeddings |")
    print("|---|---|---:|---:|---:|")
    gen2_people = [photo_of["egoblur-gen2-a"], photo_of["egoblur-gen2-b"]]
    for label, extra, footage in (
        ("gen2's two people (their photo)", gen2_people, "gen1"),
        ("the gen1 woman (her 5-second video)", [], "gen2"),
    ):
        world = World(home / f"strangers-{footage}")
        count = 0
        for face in crowd + extra:
            embedder = tight if face.tight else wide
            try:
                world.enroll(f"{face.identity}-{count}", embedder.embed(face.image,
                                                                       face.box[None, :]))
                count += 1
            except Exception as exc:  # a face dlib cannot embed is skipped
                print(f"(could not enrol {face.identity}: {exc})")
        if footage == "gen2":
            world.enroll(WOMAN, video.vectors, video.weights)
            count += 1
        strangers = Tally()
        if footage == "gen1":
            for (_, start, scale), offered in clips.items():
                frames = scaled(gen1.frames(start, start + CLIP - 1), scale)
                strangers.add(run_gate(world.gate(wide, rules), frames, offered, gen1, scale,
                                       start, set(), f"gen1-{start}-{scale}"))
        else:
            strangers.add(run_gate(world.gate(wide, rules), iter(gen2_frames), gen2_offered,
                                   gen2, 1.0, 0, set(), "gen2"))
        print(f"| {count} photo identities + {label} | {footage} clips | "
              f"{strangers.others_kept}/{strangers.others} "
              f"({strangers.others_kept / max(1, strangers.others):.3%}) | "
              f"{len(strangers.other_tracks_kept)}/{len(strangers.other_tracks)} | "
              f"{strangers.embedded} |")
    print(f"\npair threshold at the FAR target: {chosen:.3f}; study took "
          f"{time.perf_counter() - started:.0f} s")


def _doubts(doubts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(doubts.items())) or "none"


def _buckets(tally: Tally, keys: tuple[str, ...]) -> str:
    parts = []
    for key in keys:
        total, kept = tally.by_bucket.get(key, (0, 0))
        if total:
            parts.append(f"{key} {kept / total:.2f} ({total})")
    return ", ".join(parts)


if __name__ == "__main__":
    main()
