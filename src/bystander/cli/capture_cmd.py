"""`bystander capture`: run a capture-guard session end to end on a real source."""

from __future__ import annotations

from pathlib import Path

import typer

from bystander.cli.common import (
    PRECISION_OPTION,
    err_console,
    fail,
    out_console,
    print_json,
    signing_identity,
    user_errors,
)
from bystander.consent.store import ConsentStore
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.guard.clock import SystemClock
from bystander.guard.indicator import SimulatedIndicator
from bystander.guard.preview import LivePreview
from bystander.guard.profile import DeviceProfile
from bystander.guard.session import CaptureSession
from bystander.guard.sources import VideoSource
from bystander.guard.zones import LocationType
from bystander.jobs.capture import LiveProtection, RecordingSigner, record_session
from bystander.visibility import close_gate, open_gate, parse_keep_visible


def capture_command(
    source: str = typer.Option(..., "--source", help="FILE, webcam:N or rtsp://URL."),
    profile: Path = typer.Option(..., "--profile", help="Device profile (YAML)."),
    output: Path = typer.Option(..., "-o", "--output", help="Protected recording to write."),
    location: LocationType = typer.Option(
        LocationType.UNKNOWN, "--location", help="Where the device is (zone policy)."
    ),
    max_seconds: float = typer.Option(0, "--max-seconds", min=0, help="Stop after this long."),
    preview: int | None = typer.Option(
        None,
        "--preview",
        min=0,
        max=65535,
        help="Serve protected frames live on 127.0.0.1:PORT (MJPEG; needs live-stream consent).",
    ),
    database: str | None = typer.Option(None, "--database", help="Database URL."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    sign: bool = typer.Option(
        True,
        "--sign/--no-sign",
        help="Sign the recording with a C2PA manifest: indicator and frame times, consent "
        "record ids, protection, the audit checkpoint covering the session.",
    ),
    keep_visible: list[str] = typer.Option(
        [],
        "--keep-visible",
        help="Leave people who consented visible: 'enrolled', 'badges' or both "
        "(comma-separated); everyone else is still blurred.",
    ),
    precision: str = PRECISION_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print the session summary as JSON."),
) -> None:
    """Capture through the guard: indicator, consent and zone rules, bystanders blurred."""
    with user_errors():
        device = DeviceProfile.load(profile)
        kinds = parse_keep_visible(keep_visible)
        identity = signing_identity() if sign else None
        engine = make_engine(database)
        try:
            init_db(engine)
            sink = AuditLog(engine)
            clock = SystemClock()
            gate = open_gate(kinds, engine, sink)
            protection = LiveProtection(gate, [k.value for k in kinds], precision=precision)
            session = CaptureSession(
                device,
                SimulatedIndicator(clock, lag_ms=30),
                ConsentStore(engine, sink),
                sink,
                clock=clock,
                location=location,
                protector=protection,
            )
            camera = VideoSource(source)
            live = LivePreview(preview) if preview is not None else None
            try:
                if live is not None:
                    session.add_consumer(live)
                    err_console.print(f"live preview: {live.url}", highlight=False)
                signing = (
                    RecordingSigner(identity, sink, protection, note=_note) if identity else None
                )
                summary = record_session(
                    session, camera, output, overwrite, max_seconds, clock, signing
                )
            finally:
                camera.close()
                if live is not None:
                    live.close()
                close_gate(gate)
        finally:
            engine.dispose()
    if json_out:
        print_json(summary)
    else:
        out_console.print(
            f"session {summary['session_id']}: {summary['released']} sample(s) released, "
            f"{summary['withheld']} withheld ({summary['withheld_unproven']} unproven, "
            f"{summary['dropped']} dropped to keep up), state {summary['state']}"
            + (f", fault {summary['fault']}" if summary["fault"] else "")
            + f"\nlive lag: {summary['delay_frames']} frame(s) held for look-back; "
            f"sensor to release p50 {summary['latency_p50_ms']} ms, "
            f"p99 {summary['latency_p99_ms']} ms" + f"\nrecording: {summary['output']}\n"
            f"check it: bystander audit verify && bystander audit replay",
            highlight=False,
        )
    if summary["fault"]:
        reason = f": {summary['fault_reason']}" if summary["fault_reason"] else ""
        raise fail(f"capture stopped by fault {summary['fault']}{reason}; frames after it withheld")


def _note(line: str) -> None:
    err_console.print(line, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("capture")(capture_command)
