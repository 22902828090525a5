"""Start-up: the CLI imports only what the invoked command needs (issue 20, part 4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bystander.cli import lazy

#: packages that cost tenths of a second each to import; `--help` must load none of them
HEAVY = (
    "numpy",
    "cv2",
    "av",
    "PIL",
    "onnx",
    "onnxruntime",
    "openvino",
    "sqlalchemy",
    "pydantic",
    "cryptography",
    "c2pa",
    "ray",
    "fastapi",
    "torch",
    "bystander.vision",
    "bystander.consent",
    "bystander.evidence",
    "bystander.recognition",
)

_PROBE = """
import json, sys
from bystander.cli.app import main
sys.argv = ["bystander", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
print("LOADED=" + json.dumps(loaded))
"""


def loaded_after(args: list[str]) -> list[str]:
    """Heavy modules in ``sys.modules`` after ``bystander ARGS`` ran in a fresh interpreter."""
    code = f"HEAVY = {HEAVY!r}\n" + _PROBE
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("LOADED=")]
    assert line, done.stdout + done.stderr
    return list(json.loads(line[-1].removeprefix("LOADED=")))


def test_help_imports_no_heavy_module() -> None:
    assert loaded_after(["--help"]) == []


def test_no_arguments_imports_no_heavy_module() -> None:
    assert loaded_after([]) == []


def test_version_imports_no_heavy_module() -> None:
    assert loaded_after(["--version"]) == []


def test_protect_help_loads_the_image_stack_but_no_database_or_runtime() -> None:
    loaded = loaded_after(["protect", "--help"])
    assert "numpy" in loaded  # it did import the protect command
    for name in ("sqlalchemy", "onnx", "onnxruntime", "openvino", "ray", "fastapi", "torch"):
        assert not any(m == name or m.startswith(name + ".") for m in loaded), name
    assert not any(m.startswith(("bystander.consent", "bystander.evidence")) for m in loaded)


def test_help_lists_every_command_with_its_own_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bystander", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "240", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    for command in lazy.COMMANDS:
        assert f" {command.name} " in done.stdout
        assert command.help in done.stdout


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


@pytest.mark.parametrize("entry", lazy.COMMANDS, ids=lambda e: e.name)
def test_static_table_matches_the_real_command(entry: lazy.LazyCommand) -> None:
    command = lazy.load_command(entry.name)
    assert command is not None, f"{entry.module} registers no command {entry.name!r}"
    assert _first_paragraph(command.short_help or command.help) == entry.help


def test_every_registered_command_is_in_the_table() -> None:
    for entry in lazy.COMMANDS:
        lazy.load_command(entry.name)
    assert set(lazy._LOADED) == set(lazy.BY_NAME)


def test_unknown_command_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    from bystander.cli.app import app

    result = CliRunner().invoke(app, ["protekt"])
    assert result.exit_code == 2
    assert "protekt" in result.output


def test_protecting_a_photo_loads_openvino_without_its_model_converter(tmp_path: Path) -> None:
    """``openvino/__init__`` imports the converter (~0.1 s) that bystander never uses."""
    import cv2
    import numpy as np

    photo = tmp_path / "photo.png"
    assert cv2.imwrite(str(photo), np.full((96, 128, 3), 127, np.uint8))
    out = tmp_path / "out.png"
    code = (
        "import sys\n"
        "from bystander.cli.app import main\n"
        f"sys.argv = ['bystander', 'protect', {str(photo)!r}, '-o', {str(out)!r}, '--no-sign']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "import openvino\n"
        "print('CONVERTER=' + str('openvino.tools.ovc' in sys.modules))\n"
        "assert callable(openvino.convert_model)\n"  # the package's API is intact
        "import openvino.tools.ovc\n"  # still importable when someone asks for it
        "print('EXPLICIT=ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "CONVERTER=False" in done.stdout and "EXPLICIT=ok" in done.stdout
    assert out.is_file()
