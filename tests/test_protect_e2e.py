"""End to end with the real CenterFace model on real face photos, through the real codecs."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from bystander.jobs.protect import Protector, ProtectSettings, protect
from bystander.measure.synthetic import (
    SyntheticClip,
    astronaut_head,
    background,
    moving_face_frames,
    paste,
    write_clip,
)
from bystander.vision.redact import Redactor
from tests.helpers import crop, decode_frames, sharpness, stream_summary

PRIVATE_TAGS = {
    "title",
    "comment",
    "location",
    "location-eng",
    "creation_time",
    "LOCATION",
    "COMMENT",
}


def test_video_face_is_redacted_in_every_frame_and_audio_survives(
    demo_clip: SyntheticClip, protector: Protector, tmp_path: Path
) -> None:
    target = tmp_path / "out.mp4"
    item = protector.protect_file(demo_clip.path, target)

    before, after = decode_frames(demo_clip.path), decode_frames(target)
    assert len(after) == len(before) == item.summary.frames == 30
    redactor = Redactor(protector.settings.redaction)
    for index, (box, original, protected, record) in enumerate(
        zip(demo_clip.face_boxes, before, after, item.frames, strict=True)
    ):
        # 1. the report's regions cover the true face box
        from bystander.vision.detections import Detections

        regions = Detections.from_boxes([r.box for r in record.regions])
        mask = redactor.mask(regions, protected.shape)
        x1, y1, x2, y2 = (round(v) for v in box)
        coverage = mask[y1:y2, x1:x2].mean()
        assert coverage >= 0.9, f"frame {index}: face only {coverage:.0%} covered"
        # 2. the pixels say the same: the face lost its detail
        if (x2 - x1) >= 20:
            assert sharpness(crop(protected, box)) < 0.25 * sharpness(crop(original, box)), index

    src, out = stream_summary(demo_clip.path), stream_summary(target)
    assert (out["width"], out["height"], out["fps"]) == (src["width"], src["height"], src["fps"])
    assert out["audio"] == "aac"
    assert out["audio_seconds"] == pytest.approx(src["audio_seconds"], abs=0.05)
    assert item.audio is True


def test_no_audio_drops_the_track(demo_clip: SyntheticClip, tmp_path: Path) -> None:
    settings = ProtectSettings(keep_audio=False, overwrite=True)
    Protector(settings).protect_file(demo_clip.path, tmp_path / "silent.mp4")
    assert stream_summary(tmp_path / "silent.mp4")["audio"] is None


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".avi", ".webm"])
def test_every_container_keeps_format_size_rate_and_audio(
    suffix: str, protector: Protector, tmp_path: Path
) -> None:
    images, _boxes = moving_face_frames(192, 112, frames=8, min_face=50, max_face=60)
    source = tmp_path / f"in{suffix}"
    write_clip(
        source,
        images,
        fps=25,
        metadata={"title": "Holiday", "comment": "serial SN-123", "location": "+39.9042+116.4074/"},
    )
    target = tmp_path / "out" / f"in{suffix}"
    item = protector.protect_file(source, target)
    src, out = stream_summary(source), stream_summary(target)
    assert out["format"] == src["format"]
    assert (out["width"], out["height"]) == (192, 112)
    assert out["fps"] == pytest.approx(25, abs=0.01)
    assert out["audio"] is not None
    assert not PRIVATE_TAGS & set(out["metadata"]), out["metadata"]
    assert item.summary.frames == 8
    assert all(frame.regions for frame in item.frames)


def test_keep_metadata_keeps_container_tags(tmp_path: Path) -> None:
    images, _ = moving_face_frames(160, 96, frames=4)
    source = tmp_path / "tagged.mov"
    write_clip(source, images, metadata={"title": "Holiday", "location": "+39.9042+116.4074/"})
    Protector(ProtectSettings(keep_metadata=True)).protect_file(source, tmp_path / "kept.mov")
    meta = stream_summary(tmp_path / "kept.mov")["metadata"]
    assert meta.get("title") == "Holiday" and "location" in meta


def _face_photo(
    width: int = 400, height: int = 300
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    head, (fx1, fy1, fx2, fy2) = astronaut_head()
    scene = background(width, height)
    paste(scene, head, 120, 60)
    return scene, (120 + fx1, 60 + fy1, 120 + fx2, 60 + fy2)


def test_jpeg_exif_is_stripped_and_face_blurred(protector: Protector, tmp_path: Path) -> None:
    rgb, box = _face_photo()
    exif = Image.Exif()
    exif[0x010F] = "AcmeGlasses"  # Make
    exif[0xA431] = "SN-0042"  # BodySerialNumber (stored in the main IFD here)
    source = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(source, quality=95, exif=exif.tobytes())
    item = protector.protect_file(source, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as out:
        assert not out.getexif()
        assert out.size == (400, 300)
        protected = np.asarray(out.convert("RGB"))
    assert sharpness(crop(protected, box)) < 0.25 * sharpness(crop(rgb, box))
    assert item.kind == "image" and item.summary.regions_redacted >= 1

    Protector(ProtectSettings(keep_metadata=True)).protect_file(source, tmp_path / "kept.jpg")
    with Image.open(tmp_path / "kept.jpg") as kept:
        assert kept.getexif().get(0x010F) == "AcmeGlasses"


def test_exif_orientation_is_applied_to_the_pixels(protector: Protector, tmp_path: Path) -> None:
    rgb, _ = _face_photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise when displayed
    source = tmp_path / "rotated.jpg"
    Image.fromarray(rgb).save(source, exif=exif.tobytes())
    item = protector.protect_file(source, tmp_path / "upright.jpg")
    with Image.open(tmp_path / "upright.jpg") as out:
        assert out.size == (300, 400)  # stored upright, no orientation tag needed
    assert item.summary.regions_redacted >= 1


def test_png_alpha_and_webp_are_kept(protector: Protector, tmp_path: Path) -> None:
    rgb, box = _face_photo()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:10] = 0
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.webp", quality=95)
    report = protect(
        [tmp_path / "a.png", tmp_path / "b.webp"], tmp_path / "out", detector=protector.detector
    )
    assert not report.failures
    with Image.open(tmp_path / "out" / "a.png") as png:
        assert png.mode == "RGBA" and np.asarray(png)[0, 0, 3] == 0
        assert sharpness(crop(np.asarray(png.convert("RGB")), box)) < 0.25 * sharpness(
            crop(rgb, box)
        )
    with Image.open(tmp_path / "out" / "b.webp") as webp:
        assert webp.format == "WEBP"


def test_folder_input_mirrors_its_tree_and_writes_a_report(
    protector: Protector, tmp_path: Path
) -> None:
    rgb, _ = _face_photo(200, 160)
    (tmp_path / "in" / "day1").mkdir(parents=True)
    Image.fromarray(rgb).save(tmp_path / "in" / "top.png")
    Image.fromarray(rgb).save(tmp_path / "in" / "day1" / "nested.jpg")
    (tmp_path / "in" / "notes.txt").write_text("not media")
    report = protect([tmp_path / "in"], tmp_path / "out", detector=protector.detector)
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")
    ) == [
        "day1/nested.jpg",
        "top.png",
    ]
    data = json.loads(report.to_json())
    assert data["schema"] == "bystander.protect-report/1"
    assert {item["kind"] for item in data["items"]} == {"image"}


@pytest.mark.shared_data
def test_egoblur_clip_face_redacted_in_every_frame(
    shared_data: Path, protector: Protector, tmp_path: Path
) -> None:
    """The gen1 EgoBlur clip has one face in every frame: every output frame has a region."""
    source = shared_data / "egoblur" / "gen1-test_video.mp4"
    frames = []
    with av.open(str(source)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= 45:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    clip = tmp_path / "ego.mp4"
    write_clip(clip, frames, audio=False)
    item = protector.protect_file(clip, tmp_path / "ego.out.mp4")
    assert item.summary.frames == 45
    assert all(record.regions for record in item.frames)


def test_display_rotation_is_applied_so_the_face_is_found_and_stored_upright(
    protector: Protector, tmp_path: Path
) -> None:
    from fractions import Fraction

    head, _ = astronaut_head()
    scene = background(320, 240)
    paste(scene, head[::2, ::2], 100, 40)
    stored = np.ascontiguousarray(np.rot90(scene, k=-1))  # phone-style: pixels stored sideways
    source = tmp_path / "portrait.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "yuv420p"
        stream.set_display_rotation(90)
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

    item = protector.protect_file(source, tmp_path / "upright.mp4")
    assert all(record.regions for record in item.frames)
    with av.open(str(tmp_path / "upright.mp4")) as container:
        first = next(container.decode(video=0))
        assert (first.width, first.height, first.rotation) == (320, 240, 0)


def test_stream_level_tags_are_stripped(protector: Protector, tmp_path: Path) -> None:
    from fractions import Fraction

    from bystander.measure.synthetic import _write_tone

    images, _ = moving_face_frames(160, 96, frames=5)
    source = tmp_path / "tags.mov"
    with av.open(str(source), "w") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        video.metadata["handler_name"] = "camera SN-555"
        audio = container.add_stream("aac", rate=48000)
        audio.metadata["handler_name"] = "microphone SN-555"
        for index, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            for packet in video.encode(frame):
                container.mux(packet)
        _write_tone(container, audio, 5 / 30)
        for packet in video.encode():
            container.mux(packet)
    protector.protect_file(source, tmp_path / "clean.mov")
    with av.open(str(tmp_path / "clean.mov")) as container:
        tags = " ".join(str(v) for s in container.streams for v in s.metadata.values())
    assert "SN-555" not in tags


def test_bf16_precision_still_finds_the_face() -> None:
    """bf16 (OpenVINO's default on CPUs that have it) finds the same face as f32."""
    from bystander.vision.detectors import create_detector

    rgb, _ = _face_photo()
    f32 = create_detector("centerface", precision="f32").detect(rgb)
    bf16 = create_detector("centerface", precision="bf16").detect(rgb)
    assert len(f32) == len(bf16) >= 1
    assert np.abs(f32.xyxy - bf16.xyxy).max() < 6
    assert create_detector("centerface", precision="f32").describe()["precision"] == "f32"


def test_unknown_precision_and_bf16_on_onnxruntime_are_refused() -> None:
    from bystander.errors import DetectorError
    from bystander.vision.detectors import create_detector

    rgb, _ = _face_photo()
    with pytest.raises(DetectorError, match="unknown precision"):
        create_detector("centerface", precision="int4").detect(rgb)
    with pytest.raises(DetectorError, match="needs the openvino backend"):
        create_detector("centerface", precision="bf16", backend="onnxruntime").detect(rgb)
