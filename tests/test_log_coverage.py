"""Every command that writes to the audit log leaves it covered by a signed checkpoint.

`audit verify` fails (exit 3) on entries no signed checkpoint covers, so a writer that does
not sign what it wrote would make untouched evidence look forged.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from bystander.cli.app import app
from bystander.measure.synthetic import astronaut_head, background, paste
from tests.helpers import runner


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _verify() -> None:
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "not covered" not in result.output


def test_every_cli_writer_signs_what_it_logged(home: Path, tmp_path: Path) -> None:
    record = json.loads(
        _ok("consent", "grant", "--subject", "ds-astro", "--scope", "face-enrolment",
            "--scope", "record-video", "--kind", "separate", "--json")
    )  # fmt: skip
    _verify()
    head, _ = astronaut_head()
    photo = tmp_path / "astro.png"
    Image.fromarray(head).save(photo)
    _ok("enroll", "add", "ds-astro", "--photo", str(photo))
    _verify()
    _ok("badge", "issue", record["id"], "-o", str(tmp_path / "badge.png"))
    _verify()
    _ok("token", "create", "--role", "auditor", "--label", "coverage test")
    _verify()
    scene = background(320, 240)
    paste(scene, head, 100, 30)
    still = tmp_path / "scene.png"
    Image.fromarray(scene).save(still)
    _ok("protect", str(still), "-o", str(tmp_path / "out.png"), "--keep-visible", "enrolled")
    _verify()
