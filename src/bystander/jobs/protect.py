"""Protect files: the whole `bystander protect` job behind a small Python API.

The job sits above the frame pipeline (``bystander.vision``) and provenance: it reads each
file, runs it through a ``FrameProtector`` built by ``FrameProtection``, writes the output
atomically, and signs it with a C2PA manifest when a device identity is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bystander._version import __version__
from bystander.errors import BystanderError, InputError, OutputError
from bystander.fsutil import atomic_output
from bystander.vision.detectors import FaceDetector
from bystander.vision.image_io import read_image, write_image
from bystander.vision.media import MediaKind, check_readable, is_media, media_kind
from bystander.vision.pipeline import ProtectedFrame, VisibilityGate
from bystander.vision.report import (
    FailureRecord,
    FrameRecord,
    ItemReport,
    ItemSummary,
    ProtectReport,
    frame_record,
)
from bystander.vision.settings import DEFAULT_PRESET, FrameProtection, Preset, ProtectSettings

if TYPE_CHECKING:
    from bystander.provenance.pki import DeviceIdentity

__all__ = [
    "DEFAULT_PRESET",
    "FrameProtection",
    "Preset",
    "ProgressListener",
    "ProtectSettings",
    "Protector",
    "plan_outputs",
    "protect",
    "protect_image",
    "protect_video",
]


class ProgressListener(Protocol):
    def start_item(self, path: Path, total_frames: int | None) -> None: ...

    def advance(self, frames_done: int) -> None: ...

    def end_item(self) -> None: ...


class Protector(FrameProtection):
    """Protects many files with one loaded detector.

    With a device ``identity`` (``bystander.provenance``), every output is signed with a
    C2PA manifest describing its protection before it is published; a signing failure
    leaves no output. Formats C2PA cannot carry (MKV, AVI, WebM) are published unsigned
    and listed in ``unsigned``.

    >>> protector = Protector()                                    # doctest: +SKIP
    >>> protector.protect_file(Path("in.mp4"), Path("out.mp4"))    # doctest: +SKIP
    """

    def __init__(
        self,
        settings: ProtectSettings | None = None,
        detector: FaceDetector | None = None,
        identity: DeviceIdentity | None = None,
        visibility: VisibilityGate | None = None,
    ):
        super().__init__(settings, detector, visibility)
        self.identity = identity
        self.unsigned: list[Path] = []  # outputs in formats C2PA cannot carry (MKV, AVI, WebM)

    def protect_file(
        self, source: Path, target: Path, progress: ProgressListener | None = None
    ) -> ItemReport:
        kind = media_kind(source)
        _check_target(source, target, self.settings.overwrite)
        if kind is MediaKind.IMAGE:
            return self.protect_image(source, target, progress)
        return self.protect_video(source, target, progress)

    def protect_image(
        self, source: Path, target: Path, progress: ProgressListener | None = None
    ) -> ItemReport:
        started = time.perf_counter()
        loaded = read_image(source)
        if progress:
            progress.start_item(source, 1)
        collector = _FrameLog(with_tracks=False)
        stills = self.frame_protector(video=False)
        frame = stills.protect(loaded.rgb)
        collector(frame)
        height, width = loaded.rgb.shape[:2]
        with atomic_output(target, self.settings.overwrite) as temp:
            write_image(temp, frame.image, loaded, keep_metadata=self.settings.keep_metadata)
            item = collector.report(
                source,
                target,
                "image",
                (width, height),
                None,
                False,
                0,
                time.perf_counter() - started,
            )
            self._sign(temp, target, item, stills.detector)
        if progress:
            progress.advance(1)
            progress.end_item()
        return item

    def protect_video(
        self, source: Path, target: Path, progress: ProgressListener | None = None
    ) -> ItemReport:
        from bystander.vision.video_io import probe_video, transcode  # PyAV: video only

        started = time.perf_counter()
        info = probe_video(source)
        protector = self.frame_protector(video=True)
        collector = _FrameLog(with_tracks=True)
        protector.on_protected.append(collector)
        if progress:
            progress.start_item(source, info.frames or None)
        on_frame: Callable[[int], None] | None = progress.advance if progress else None
        s = self.settings
        with atomic_output(target, s.overwrite) as temp:
            info = transcode(
                source,
                temp,
                protector,
                encoder=s.encoder,
                keep_audio=s.keep_audio,
                keep_metadata=s.keep_metadata,
                on_frame=on_frame,
            )
            tracker = protector.tracker
            item = collector.report(
                source,
                target,
                "video",
                collector.size or (info.width, info.height),
                info.fps,
                s.keep_audio and info.has_audio,
                tracker.total_tracks if tracker else 0,
                time.perf_counter() - started,
            )
            self._sign(temp, target, item, protector.detector)
        if progress:
            progress.end_item()
        return item

    def _sign(self, temp: Path, target: Path, item: ItemReport, detector: FaceDetector) -> None:
        """Sign the finished (not yet published) output when a device identity is set;
        ``detector`` is the one that searched it (photos and video may differ in precision)."""
        if self.identity is None:
            return
        from bystander.provenance.sign import sign_protected
        from bystander.provenance.verify import MIME_TYPES

        if target.suffix.lower() not in MIME_TYPES:
            self.unsigned.append(target)
            return

        sign_protected(
            temp,
            item,
            self.settings.describe(),
            self.identity,
            consent_refs=item.consents,
            detector_description=detector.describe(),
            title=target.name,
        )


class _FrameLog:
    """Collects the report for each protected frame; keeps no pixels (videos can be long)."""

    def __init__(self, with_tracks: bool) -> None:
        self.with_tracks = with_tracks
        self.records: list[FrameRecord] = []
        self.detected = 0
        self.regions = 0
        self.whole_frames = 0
        self.kept_visible = 0
        self.visibility_errors = 0
        self.consents: dict[str, None] = {}
        self.size: tuple[int, int] | None = None

    def __call__(self, frame: ProtectedFrame) -> None:
        if self.size is None:
            self.size = (frame.image.shape[1], frame.image.shape[0])
        self.records.append(frame_record(frame, self.with_tracks))
        self.detected += frame.detected
        self.regions += len(frame.regions)
        self.whole_frames += int(frame.whole_frame)
        self.kept_visible += len(frame.kept)
        self.visibility_errors += int(frame.visibility_error is not None)
        for kept in frame.kept:
            if kept.consent_id:
                self.consents.setdefault(kept.consent_id, None)

    def report(
        self,
        source: Path,
        target: Path,
        kind: str,
        size: tuple[int, int],
        frame_rate: float | None,
        audio: bool,
        tracks: int,
        seconds: float,
    ) -> ItemReport:
        frames = len(self.records)
        summary = ItemSummary(
            frames=frames,
            faces_detected=self.detected,
            regions_redacted=self.regions,
            tracks=tracks,
            whole_frames_redacted=self.whole_frames,
            faces_kept_visible=self.kept_visible,
            visibility_errors=self.visibility_errors,
            seconds=round(seconds, 3),
            fps=round(frames / seconds, 2) if seconds > 0 else 0.0,
        )
        return ItemReport(
            input=str(source),
            output=str(target),
            kind=kind,  # type: ignore[arg-type]
            width=size[0],
            height=size[1],
            frame_rate=round(frame_rate, 3) if frame_rate else None,
            audio=audio,
            summary=summary,
            consents=list(self.consents),
            frames=self.records,
        )


def _same_format(a: Path, b: Path) -> bool:
    alias = {".jpeg": ".jpg"}
    sa, sb = a.suffix.lower(), b.suffix.lower()
    return alias.get(sa, sa) == alias.get(sb, sb)


def _check_target(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse an output before any work is done on it (publication checks again)."""
    if not _same_format(source, target):
        raise OutputError(f"output {target} must keep the input's format ({source.suffix})")
    try:
        if target.exists() and target.resolve() == source.resolve():
            raise OutputError(f"refusing to overwrite the input file {source}")
        if target.exists() and not overwrite:
            raise OutputError(f"output exists: {target} (use --overwrite to replace it)")
    except OSError as exc:
        raise OutputError(f"cannot use output {target}: {exc}") from None


def plan_outputs(inputs: Iterable[Path], output: Path) -> list[tuple[Path, Path]]:
    """Pair every input file with its output path.

    A single input file with an output that has a file suffix gives that file; otherwise
    ``output`` is a folder and each input keeps its name (and, for folders given as input,
    its path relative to that folder).
    """
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise InputError("no input given")
    files: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            found = sorted(
                p
                for p in item.rglob("*")
                if p.is_file() and is_media(p) and ".partial" not in p.name
            )
            if not found:
                raise InputError(f"no videos or images in folder {item}")
            files.extend((p, p.relative_to(item)) for p in found)
        else:
            check_readable(item)
            media_kind(item)
            files.append((item, Path(item.name)))
    single_file_output = (
        len(inputs) == 1 and not inputs[0].is_dir() and bool(output.suffix) and not output.is_dir()
    )
    if single_file_output:
        return [(files[0][0], output)]
    if output.exists() and not output.is_dir():
        raise OutputError(f"output {output} must be a folder when protecting several files")
    pairs = [(src, output / rel) for src, rel in files]
    targets = [t.resolve() for _, t in pairs]
    if len(set(targets)) != len(targets):
        raise OutputError(
            "two inputs would be written to the same output name; protect them separately"
        )
    return pairs


def protect(
    inputs: Iterable[Path],
    output: Path,
    settings: ProtectSettings | None = None,
    progress: ProgressListener | None = None,
    fail_fast: bool = False,
    detector: FaceDetector | None = None,
    identity: DeviceIdentity | None = None,
    visibility: VisibilityGate | None = None,
) -> ProtectReport:
    """Protect files and folders into ``output``; failures are listed in the report.

    Each output is published only when complete (and signed, with a device ``identity``).
    With ``fail_fast`` the first failure is raised instead of being recorded.
    """
    protector = Protector(settings, detector, identity, visibility)
    pairs = plan_outputs(inputs, Path(output))
    report = ProtectReport(
        bystander_version=__version__,
        detector=protector.detector.describe(),
        settings=protector.settings.describe(),
    )
    for source, target in pairs:
        try:
            report.items.append(protector.protect_file(source, target, progress))
        except BystanderError as exc:
            if fail_fast:
                raise
            report.failures.append(FailureRecord(input=str(source), error=str(exc)))
            if progress:
                progress.end_item()
    report.detector = protector.detector.describe()
    report.unsigned = [str(path) for path in protector.unsigned]
    return report


def protect_video(
    source: Path | str, target: Path | str, settings: ProtectSettings | None = None
) -> ItemReport:
    """Protect one video file; see ``ProtectSettings`` for options."""
    return Protector(settings).protect_file(Path(source), Path(target))


def protect_image(
    source: Path | str, target: Path | str, settings: ProtectSettings | None = None
) -> ItemReport:
    """Protect one image file; see ``ProtectSettings`` for options."""
    return Protector(settings).protect_file(Path(source), Path(target))
