"""False-accept and false-reject rates of dlib face descriptors on the faces available here.

Identities: each of the 43 annotated faces in ``../shared/data/dlib-faces`` (assumed to be
43 different people: the PASCAL VOC photos show different people in one scene), the
astronaut from scikit-image, and the one person of EgoBlur's ``gen1-test_video.mp4``
(faces found by dlib's HOG detector in every 20th frame).

Genuine pairs (same person): each dlib/astronaut face against its augmented versions
(crop jitter, 0.6x and 1.6x scale, JPEG quality 30, brightness 0.6x and 1.4x, and a
combination), plus the EgoBlur person across frames (real variation over time).
Impostor pairs: every pair of embeddings of different identities. With N impostor pairs
the false-accept resolution is 1/N; the pairs are correlated (augmentations of the same
few faces), so the effective sample is smaller than N.

    python benchmarks/face_match_study.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

from bystander.recognition.embedder import FaceEmbedder

THRESHOLDS = (0.30, 0.35, 0.40, 0.42, 0.45, 0.48, 0.50, 0.52, 0.55, 0.60)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _scale(img: np.ndarray, box: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    size = (max(8, round(w * factor)), max(8, round(h * factor)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR)), box * factor


Sample = tuple[np.ndarray, np.ndarray]


def variants(img: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> list[Sample]:
    """(image, box) pairs: the original and its augmentations."""
    side = box[2] - box[0]
    jitter = box + rng.uniform(-0.1, 0.1, 4) * side
    bright = [np.clip(img.astype(np.float32) * f, 0, 255).astype(np.uint8) for f in (0.6, 1.4)]
    small = _scale(img, box, 0.6)
    out = [
        (img, box),
        (img, jitter),
        small,
        _scale(img, box, 1.6),
        (_jpeg(img, 30), box),
        (bright[0], box),
        (bright[1], box),
        (_jpeg(small[0], 50), small[1] + rng.uniform(-0.08, 0.08, 4) * side * 0.6),
    ]
    return out


def dlib_faces(data: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    faces = []
    for name in ("training.xml", "testing.xml"):
        root = ET.parse(data / "dlib-faces" / name).getroot()
        for image in root.iter("image"):
            rgb = np.asarray(
                Image.open(data / "dlib-faces" / str(image.get("file"))).convert("RGB")
            )
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                x, y = float(b.get("left", 0)), float(b.get("top", 0))
                w, h = float(b.get("width", 0)), float(b.get("height", 0))
                faces.append((rgb, np.array([x, y, x + w, y + h])))
    return faces


def egoblur_person(data: Path, step: int = 20) -> list[tuple[np.ndarray, np.ndarray]]:
    import av
    import dlib  # type: ignore[import-untyped,unused-ignore]

    detector = dlib.get_frontal_face_detector()
    found = []
    with av.open(str(data / "egoblur" / "gen1-test_video.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % step:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            rects = detector(rgb, 1)
            if len(rects) == 1:
                r = rects[0]
                found.append((rgb, np.array([r.left(), r.top(), r.right(), r.bottom()], float)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    embedder = FaceEmbedder(width_scale=1.0)  # annotated and HOG boxes are tight boxes

    import skimage.data

    identities: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for img, box in dlib_faces(args.data):
        identities.append(variants(img, box, rng))
    astro = np.ascontiguousarray(cast(Any, skimage.data).astronaut())
    identities.append(variants(astro, np.array([175.0, 76.0, 265.0, 166.0]), rng))
    video = egoblur_person(args.data)
    identities.append(video)

    labels, vectors = [], []
    for ident, samples in enumerate(identities):
        for img, box in samples:
            vectors.append(embedder.embed(np.ascontiguousarray(img), box[None, :])[0])
            labels.append(ident)
    emb = np.stack(vectors)
    lab = np.array(labels)
    dist = np.linalg.norm(emb[:, None, :] - emb[None, :, :], axis=-1)
    iu = np.triu_indices(len(emb), k=1)
    same = lab[iu[0]] == lab[iu[1]]
    d = dist[iu]
    genuine, impostor = d[same], d[~same]
    video_ident = len(identities) - 1
    video_pairs = same & (lab[iu[0]] == video_ident)

    print(
        f"identities: {len(identities)} ({len(identities) - 2} dlib faces, astronaut, "
        f"EgoBlur person in {len(video)} frames); embeddings: {len(emb)}"
    )
    print(
        f"genuine pairs: {same.sum()} ({video_pairs.sum()} across video frames); "
        f"impostor pairs: {(~same).sum()} (FAR resolution {1 / max(1, (~same).sum()):.1e})"
    )
    print(
        f"smallest impostor distance: {impostor.min():.3f}; "
        f"largest genuine distance: {genuine.max():.3f}\n"
    )
    print("| threshold | FAR (stranger left visible) | FRR (all genuine) | FRR (video frames) |")
    print("|---:|---:|---:|---:|")
    for t in THRESHOLDS:
        far = (impostor <= t).mean()
        frr = (genuine > t).mean()
        vfrr = (d[video_pairs] > t).mean() if video_pairs.any() else float("nan")
        print(f"| {t:.2f} | {far:.4%} ({(impostor <= t).sum()}) | {frr:.2%} | {vfrr:.2%} |")
    pair_ids = np.minimum(lab[iu[0]], lab[iu[1]]) * 1000 + np.maximum(lab[iu[0]], lab[iu[1]])
    imp_ids = pair_ids[~same]
    n_id_pairs = len(np.unique(imp_ids))
    print(
        f"\nidentity pairs: {n_id_pairs} (resolution {1 / n_id_pairs:.1e}); share of identity "
        "pairs with at least one accepted impostor pair:"
    )
    for t in THRESHOLDS:
        hit = len(np.unique(imp_ids[impostor <= t]))
        print(f"- {t:.2f}: {hit}/{n_id_pairs} = {hit / n_id_pairs:.2%}")
    ok = [t for t in np.arange(0.20, 0.80, 0.01) if (impostor <= t).mean() <= 0.001]
    print(f"\nlargest threshold with FAR <= 0.1%: {max(ok):.2f}" if ok else "\nnone")


if __name__ == "__main__":
    main()
