"""The capture job: a guarded capture session recorded to a (signed) file.

``record_session`` feeds a source through a ``CaptureSession`` into a recording that is
published only when complete; ``LiveProtection`` is the session's pipeline with the redaction
tally the recording's C2PA manifest needs; ``RecordingSigner`` signs the recording before it
is published. ``bystander capture`` and the service's capture sessions both run this job.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bystander.errors import OutputError
from bystander.evidence.audit import AuditLog
from bystander.fsutil import atomic_output
from bystander.guard.clock import SystemClock
from bystander.guard.live import LiveFeed
from bystander.guard.protection import PipelineProtector
from bystander.guard.recorder import RecorderConsumer
from bystander.guard.session import CaptureSession, State
from bystander.guard.sources import VideoSource

if TYPE_CHECKING:
    from bystander.provenance.pki import DeviceIdentity
    from bystander.vision.pipeline import VisibilityGate

_READY_TIMEOUT_S = 2.0
_SETTLED = {State.CAPTURING, State.FAULT, State.OFF}


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def record_session(
    session: CaptureSession,
    camera: VideoSource,
    output: Path,
    overwrite: bool,
    max_seconds: float,
    clock: SystemClock,
    signing: RecordingSigner | None = None,
) -> dict[str, object]:
    """Run ``session`` on ``camera`` into the recording ``output`` (published only when
    complete, and signed with ``signing``) and return the session's summary.

    The detector is loaded before the indicator goes on; frames are fed until the source
    ends, ``max_seconds`` pass or the guard leaves CAPTURING. A session that released no
    frame leaves no output.
    """
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
                    f"capture stopped by {fault_text(session)} before any frame was "
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


def fault_text(session: CaptureSession) -> str:
    """``fault R5: no read-back for 1,120 ms``: the rule and the reason, on one line."""
    reason = f": {session.fault_reason}" if session.fault_reason else ""
    return f"fault {session.fault_rule}{reason}"


class LiveProtection(PipelineProtector):
    """The session's pipeline, counting what it redacts for the recording's provenance
    manifest (counts only, never pixels)."""

    def __init__(
        self,
        visibility: VisibilityGate | None = None,
        keep_visible: Sequence[str] = (),
        precision: str = "auto",
    ) -> None:
        from bystander.provenance.assertions import ProtectionTally

        super().__init__(visibility, keep_visible, precision=precision)
        self.tally = ProtectionTally()
        self.on_protected.append(self.tally)


class RecordingSigner:
    """Signs the finished recording before it is published; ``note`` is told (one line) when
    the output's format cannot carry a manifest."""

    def __init__(
        self,
        identity: DeviceIdentity,
        sink: AuditLog,
        live: LiveProtection,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.identity, self.sink, self.live = identity, sink, live
        self.note = note or _to_stderr

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
            self.note(
                f"note: {output} is not signed (C2PA cannot be embedded in {output.suffix}; "
                "record to .mp4 or .mov for a signed recording)"
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
