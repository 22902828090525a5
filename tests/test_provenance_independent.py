"""Every kind of output validates in an independent C2PA implementation, and says exactly what
the protect or capture report says.

The signer is c2pa-python (c2pa-rs 0.91 as a native library). The checker is npm's
``@contentauth/c2pa-wasm`` (c2pa-rs 0.92 compiled to WebAssembly, run by Node): another
release, build and binding of the reference implementation; no other C2PA validator installs
offline from a registry here (``@contentauth/c2pa-node`` downloads a binary at install).
Install it with ``npm ci --prefix tests/c2pa_js``; without Node or the package these tests
skip, unless ``BYSTANDER_REQUIRE_C2PA_WASM=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bystander.jobs.protect import Protector
from bystander.measure.synthetic import SyntheticClip, astronaut_head, background, paste
from bystander.provenance import (
    CaptureGuardAssertion,
    DeviceIdentity,
    ProtectionTally,
    init_identity,
    sign_capture,
    sign_protected,
)
from bystander.provenance.assertions import CAPTURE_GUARD, PII_PRESENT, frame_ranges
from bystander.provenance.media import frame_times

CHECKER = Path(__file__).parent / "c2pa_js"


def _checker_ready() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (CHECKER / "node_modules" / "@contentauth" / "c2pa-wasm").is_dir():
        return "run `npm ci --prefix tests/c2pa_js` to install @contentauth/c2pa-wasm"
    return None


@pytest.fixture(scope="module", autouse=True)
def _checker() -> None:
    missing = _checker_ready()
    if missing is None:
        return
    if os.environ.get("BYSTANDER_REQUIRE_C2PA_WASM") == "1":
        pytest.fail(f"the independent C2PA checker is required: {missing}")
    pytest.skip(missing)


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> DeviceIdentity:
    return init_identity(tmp_path_factory.mktemp("pki") / "id", common_name="glasses-0001")


def independent(path: Path, fmt: str, identity: DeviceIdentity) -> dict[str, Any]:
    """What c2pa-wasm says about ``path``."""
    result = subprocess.run(
        ["node", str(CHECKER / "read.mjs"), str(path), fmt, str(identity.root_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def actions_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    actions = data["assertions"]["c2pa.actions.v2"]["actions"]
    assert isinstance(actions, list)
    return actions


def test_protected_image_is_trusted_and_lists_exactly_the_redacted_boxes(
    protector: Protector, identity: DeviceIdentity, tmp_path: Path
) -> None:
    head, _ = astronaut_head()
    original = background(400, 300)
    paste(original, head, 120, 60)
    paste(original, head, 260, 120)
    source = tmp_path / "photo.jpg"
    Image.fromarray(original).save(source, quality=95)
    target = tmp_path / "out.jpg"
    item = protector.protect_file(source, target)
    sign_protected(
        target, item, protector.settings.describe(), identity,
        detector_description=protector.detector.describe(),
    )  # fmt: skip
    data = independent(target, "image/jpeg", identity)
    assert data["state"] == "Trusted" and data["failures"] == []
    opened, redacted = actions_of(data)
    assert opened["action"] == "c2pa.opened"
    assert [i["relationship"] for i in data["ingredients"]] == ["parentOf"]
    assert data["ingredients"][0]["title"] == "input" and data["manifests"] == 1
    assert redacted["action"] == "c2pa.redacted" and redacted["reason"] == PII_PRESENT
    boxes = [r.box for f in item.frames for r in f.regions]
    assert len(boxes) == item.summary.regions_redacted >= 2
    listed = [c["region"][0]["shape"] for c in redacted["changes"]]
    assert listed == [
        {"type": "rectangle", "unit": "pixel",
         "origin": {"x": round(x1, 1), "y": round(y1, 1)},
         "width": round(x2 - x1, 1), "height": round(y2 - y1, 1)}
        for x1, y1, x2, y2 in boxes
    ]  # fmt: skip
    assert "digitalCapture" not in json.dumps(data["assertions"])


def test_protected_video_is_trusted_and_lists_exactly_the_redacted_frames(
    protector: Protector, identity: DeviceIdentity, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    target = tmp_path / "out.mp4"
    item = protector.protect_file(demo_clip.path, target)
    sign_protected(target, item, protector.settings.describe(), identity)
    data = independent(target, "video/mp4", identity)
    assert data["state"] == "Trusted" and data["failures"] == []
    opened, redacted = actions_of(data)
    assert opened["action"] == "c2pa.opened" and redacted["reason"] == PII_PRESENT
    with_regions = [f.index for f in item.frames if f.regions or f.whole_frame_redacted]
    runs = frame_ranges(with_regions)
    assert [c["region"][1]["frame"] for c in redacted["changes"]] == [
        {"start": a, "end": b} for a, b in runs
    ]
    timing = frame_times(target)
    assert [c["region"][0]["time"] for c in redacted["changes"]] == [
        {"type": "npt", "start": f"{t0:.3f}", "end": f"{t1:.3f}"}
        for t0, t1 in (timing.span(a, b) for a, b in runs)
    ]


def test_capture_recording_is_trusted_created_at_its_first_frame(
    identity: DeviceIdentity, demo_clip: SyntheticClip, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    recording = tmp_path / "rec.mp4"
    shutil.copyfile(demo_clip.path, recording)
    tally = ProtectionTally()
    for index in range(30):
        regions = [object()] if index % 10 < 4 else []
        tally(SimpleNamespace(index=index, regions=regions, detected=len(regions),
                              whole_frame=False))  # fmt: skip
    protection = tally.assertion({"detector": "centerface", "redaction": {"mode": "blur"}})
    capture = CaptureGuardAssertion(
        session_id=str(uuid.uuid4()), device_id="glasses-0001", indicator_confirmed_ns=0,
        first_frame_ns=250_000_000, last_frame_ns=9_250_000_000, frames_released=30,
    )  # fmt: skip
    first_frame = datetime(2026, 5, 4, 8, 0, 1, tzinfo=UTC)
    sign_capture(
        recording, identity, capture, protection, frame_ranges=tally.ranges,
        captured_at=first_frame,
    )  # fmt: skip
    data = independent(recording, "video/mp4", identity)
    assert data["state"] == "Trusted" and data["failures"] == []
    created, redacted = actions_of(data)
    assert created["action"] == "c2pa.created" and created["when"] == first_frame.isoformat()
    assert created["digitalSourceType"].endswith("/digitalCapture")
    assert data["ingredients"] == []
    assert [c["region"][1]["frame"] for c in redacted["changes"]] == [
        {"start": a, "end": b} for a, b in tally.ranges
    ]
    guard = data["assertions"][CAPTURE_GUARD]
    timing = frame_times(recording)
    # the recording's length is what its frames show, not the 9 s the device spent
    assert guard["media_frames"] == len(timing.starts) == 30
    assert guard["duration_s"] == pytest.approx(timing.duration) and timing.duration < 9
