"""The layer contract (docs/architecture.md) holds: import-linter's layers and no circles
between packages, every package placed in a layer, nothing importing the root facade, and
no module over 600 lines."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "bystander"
MAX_LINES = 600


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_lint_imports_keeps_every_contract() -> None:
    """What CI's ``lint-imports`` step runs: fails on an upward import or a circle."""
    script = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(script), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_package_and_module_of_the_root_is_in_a_layer() -> None:
    """A new top-level package cannot slip past the contract: it must be given a layer."""
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    placed = {
        name.strip()
        for layer in layers["layers"]  # type: ignore[attr-defined]
        for name in layer.replace("|", ":").split(":")
    }
    graph = grimp.build_graph("bystander")
    children = {child.removeprefix("bystander.") for child in graph.find_children("bystander")}
    assert children - placed == set(), "give these a layer in pyproject.toml"
    assert placed - children == set(), "these layers name nothing"


def test_no_module_imports_the_root_facade() -> None:
    """``bystander`` (the public names, loaded lazily) sits above every layer."""
    graph = grimp.build_graph("bystander")
    assert graph.find_modules_that_directly_import("bystander") == set()


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    """The contract is not vacuous: the same check on a copy with one upward import fails."""
    copy = tmp_path / "src"
    subprocess.run(["cp", "-r", str(PACKAGE.parent), str(copy)], check=True)
    probe = copy / "bystander" / "vision" / "probe_upward.py"
    probe.write_text("def late() -> None:\n    from bystander.measure import bench  # noqa\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text("utf-8"))
    script = Path(sys.executable).with_name("lint-imports")
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(script), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert "bystander.vision.probe_upward -> bystander.measure.bench" in done.stdout


def test_no_module_is_over_600_lines() -> None:
    """Small modules with one job (Alembic's generated migrations excepted)."""
    long = {
        p.relative_to(PACKAGE).as_posix(): lines
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.relative_to(PACKAGE).parts
        and (lines := len(p.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, "split these along their seams"
