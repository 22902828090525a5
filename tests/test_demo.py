"""`bystander demo`: the first thing a new user runs gives what the README promises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bystander.cli.app import app
from tests.helpers import decode_frames, runner


def test_demo_writes_a_signed_clip_and_the_documented_report(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--dir", str(folder), "--frames", "20", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["signed"] is True
    report = json.loads((folder / "sample.report.json").read_text())
    assert report["schema"] == "bystander.protect-report/1"
    assert len(report["items"]) == 1 and report["failures"] == [] and report["unsigned"] == []
    assert report["items"][0]["summary"]["regions_redacted"] >= 20
    clip = str(folder / "sample.protected.mp4")
    verified = runner.invoke(app, ["verify", clip, "--allow-untrusted", "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)[0]["state"] == "valid"  # a TEST identity: not trusted
    original = decode_frames(folder / "sample.mp4")
    protected = decode_frames(folder / "sample.protected.mp4")
    assert len(original) == len(protected) == 20
    assert any(not np.array_equal(a, b) for a, b in zip(original, protected, strict=True))
