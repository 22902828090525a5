"""`bystander capture`: run a capture-guard session end to end on a real source."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bystander.cli.common import (
    err_console,
    fail,
    out_console,
    print_json,
    signing_identity,
    user_errors,
)
from bystander.consent.store import ConsentStore
from bystander.errors import OutputError
from bystander.evidence.audit import AuditLog
from bystander.evidence.db import init_db, make_engine
from bystander.fsutil import atomic_output
from bystander.guard.clock import SystemClock
from bystander.guard.indicator import SimulatedIndicator
from bystander.guard.live import LiveFeed
from bystander.guard.preview import LivePreview
from bystander.guard.profile import DeviceProfile
from bystander.guard.protection import PipelineProtector
from bystander.guard.recorder import RecorderConsumer
from bystander.guard.session import CaptureSession, State
from bystander.guard.sources import VideoSource
from bystander.guard.zones import LocationType
from bystander.visibility import close_gate, open_gate, parse_keep_visible

if TYPE_CHECKING:
    from bystander.provenance.pki import DeviceIdentity
    from bystander.vision.pipeline import VisibilityGate

_READY_TIMEOUT_S = 2.0
_SETTLED = {State.CAPTURING, State.FAULT, State.OFF}


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
            protection = LiveProtection(gate, [k.value for k in kinds])
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
                signing = _Signing(identity, sink, protection) if identity else None
                summary = _run(session, camera, output, overwrite, max_seconds, clock, signing)
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


def _run(
    session: CaptureSession,
    camera: VideoSource,
    output: Path,
    overwrite: bool,
    max_seconds: float,
    clock: SystemClock,
    signing: _Signing | None = None,
) -> dict[str, object]:
    if output.suffix.lower() not in {".mp4", ".mkv", ".mov", ".webm", ".avi"}:
        raise OutputError(f"output must be a video file (.mp4, .mkv, .mov, .webm, .avi): {output}")
    audio = session.profile.microphone and camera.info.audio_rate is not None
    with atomic_output(output, overwrite) as temp:
        recorder = RecorderConsumer(
            temp,
            camera.info.fps,
            audio_rate=camera.info.audio_rate if audio else None,
            audio_layout=camera.info.audio_layout or "mono",
            background=True,
        )
        session.add_consumer(recorder)
        warm = getattr(session.protector, "warm", None)
        if callable(warm):  # load the detector before the light goes on
            warm(camera.info.width, camera.info.height)
        try:
            session.start(audio=audio)
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while session.state not in _SETTLED and time.monotonic() < deadline:
                time.sleep(0.005)
            feed = LiveFeed(camera, session, clock, audio, max_seconds)
            try:
                for sample in feed:
                    if session.state is not State.CAPTURING:
                        break
                    session.submit(sample)
            finally:
                feed.close()
                session.stop()
        finally:
            recorder.close()
        if recorder.frames == 0:
            if session.fault_rule:
                raise OutputError(
                    f"capture stopped by {_fault_text(session)} before any frame was "
                    "released: nothing recorded"
                )
            raise OutputError("no frame was released: nothing recorded")
        if signing is not None:
            signing.sign(temp, output, session, recorder.first_ns, camera)
    lag = session.latency_summary()
    return {
        "session_id": session.session_id,
        "state": str(session.state),
        "released": session.released,
        "audio": audio,
        "withheld": session.withheld,
        "withheld_unproven": session.ledger.unproven,
        "dropped": session.dropped,
        "delay_frames": lag["delay_frames"],
        "latency_p50_ms": lag["latency_p50_ms"],
        "latency_p99_ms": lag["latency_p99_ms"],
        "fault": session.fault_rule,
        "fault_reason": session.fault_reason,
        "checkpoint_size": getattr(session.closing_checkpoint, "size", None),
        "output": str(output),
    }


def _fault_text(session: CaptureSession) -> str:
    """``fault R5: no read-back for 1,120 ms``: the rule and the reason, on one line."""
    reason = f": {session.fault_reason}" if session.fault_reason else ""
    return f"fault {session.fault_rule}{reason}"


class LiveProtection(PipelineProtector):
    """The session's pipeline, counting what it redacts for the recording's provenance
    manifest (counts only, never pixels)."""

    def __init__(
        self, visibility: VisibilityGate | None = None, keep_visible: Sequence[str] = ()
    ) -> None:
        from bystander.provenance.assertions import ProtectionTally

        super().__init__(visibility, keep_visible)
        self.tally = ProtectionTally()
        self.on_protected.append(self.tally)


class _Signing:
    """Signs the finished recording before it is published."""

    def __init__(self, identity: DeviceIdentity, sink: AuditLog, live: LiveProtection) -> None:
        self.identity, self.sink, self.live = identity, sink, live

    def sign(
        self,
        temp: Path,
        output: Path,
        session: CaptureSession,
        first_ns: int | None,
        camera: VideoSource,
    ) -> None:
        from bystander.provenance.assertions import capture_assertion
        from bystander.provenance.sign import sign_capture
        from bystander.provenance.verify import MIME_TYPES

        if output.suffix.lower() not in MIME_TYPES:
            err_console.print(
                f"note: {output} is not signed (C2PA cannot be embedded in {output.suffix}; "
                "record to .mp4 or .mov for a signed recording)",
                highlight=False,
                soft_wrap=True,
            )
            return
        protection = self.live.tally.assertion(
            self.live.settings.describe(),
            self.live.protector.detector.describe(),
            tracks=self.live.total_tracks,
            width=camera.info.width,
            height=camera.info.height,
        )
        sign_capture(
            temp,
            self.identity,
            capture_assertion(session, first_frame_ns=first_ns),
            protection,
            # the session's consents, then those that kept someone visible
            consent_refs=list(dict.fromkeys([*session.consent_records, *self.live.tally.consents])),
            # signed at the session's end; covers every event of the session
            checkpoint=session.closing_checkpoint or self.sink.checkpoint(),
            frame_ranges=self.live.tally.ranges,
            title=output.name,
        )


def register(app: typer.Typer) -> None:
    app.command("capture")(capture_command)
