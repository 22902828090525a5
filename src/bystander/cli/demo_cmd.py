"""`bystander demo`: show the main job working with no files of your own."""

from __future__ import annotations

from pathlib import Path

import typer

from bystander.cli.common import (
    RichProgress,
    out_console,
    print_json,
    progress_enabled,
    signing_identity,
    user_errors,
)
from bystander.errors import BystanderError
from bystander.fsutil import write_text_atomic
from bystander.jobs.protect import ProtectSettings, protect
from bystander.measure.synthetic import make_demo_clip


def demo_command(
    folder: Path = typer.Option(
        Path("bystander-demo"), "--dir", "-d", help="Where to put the demo files."
    ),
    frames: int = typer.Option(90, "--frames", min=10, max=3000, help="Length of the sample clip."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    json_out: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
) -> None:
    """Build a sample clip (a real face moving, with sound), protect it, show the files.

    The protected clip is signed (C2PA) and the report is the one `protect --report` writes,
    exactly as a user's own files would be.
    """
    with user_errors():
        folder.mkdir(parents=True, exist_ok=True)
        original = folder / "sample.mp4"
        protected = folder / "sample.protected.mp4"
        report_path = folder / "sample.report.json"
        clip = make_demo_clip(original, width=640, height=360, frames=frames)
        identity = signing_identity()
        with RichProgress(enabled=progress_enabled(quiet, json_out)) as progress:
            result = protect(
                [original],
                protected,
                ProtectSettings(overwrite=True),
                progress=progress,
                identity=identity,
            )
        if result.failures or not result.items:
            reason = result.failures[0].error if result.failures else "no output"
            raise BystanderError(f"the demo clip could not be protected: {reason}")
        item = result.items[0]
        write_text_atomic(report_path, result.to_json())
        summary = {
            "original": str(original),
            "protected": str(protected),
            "report": str(report_path),
            "signed": str(protected) not in result.unsigned,
            "frames": item.summary.frames,
            "frames_with_face": len(clip.face_boxes),
            "regions_redacted": item.summary.regions_redacted,
            "tracks": item.summary.tracks,
            "fps": item.summary.fps,
        }
        if json_out:
            print_json(summary)
        elif not quiet:
            out_console.print(
                f"[bold]Bystander demo[/]: a {clip.width}x{clip.height} clip of {frames} "
                "frames with a real face moving across the scene and a sound track.\n"
                f"  original:  {original}\n"
                f"  protected: {protected}  (the face is blurred in every frame; signed, "
                f"check it with `bystander verify {protected}`)\n"
                f"  report:    {report_path}\n"
                f"  {item.summary.regions_redacted} regions redacted in "
                f"{item.summary.frames} frames, {item.summary.tracks} track(s), "
                f"{item.summary.fps:.1f} fps",
                highlight=False,
            )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
