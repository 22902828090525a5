"""Every ```python block of README.md runs unchanged, in a private BYSTANDER_HOME.

A block may be marked with an HTML comment just above it (invisible on GitHub)::

    <!-- example: given=NAME,NAME needs=FILE,FILE raises=ErrorName (why) -->

``needs`` names the files it reads (written here: a synthetic clip of a real face, a photo),
``given`` the names it takes from the surrounding text (supplied here), ``raises`` the error
it documents. An unmarked block must run as it is.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bystander.measure.synthetic import astronaut_head, background, make_demo_clip, paste

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"(?:<!-- example:(?P<marks>[^>]*?)-->\n)?```python\n(?P<code>.*?)```", re.DOTALL
)


def _blocks() -> list[tuple[dict[str, list[str]], str]]:
    readme = (ROOT / "README.md").read_text("utf-8")
    found = []
    for match in BLOCK.finditer(readme):
        marks: dict[str, list[str]] = {key: [] for key in ("given", "needs", "raises")}
        for key, value in re.findall(r"(\w+)=(\S+)", match.group("marks") or ""):
            marks[key] = value.split(",")
        found.append((marks, match.group("code")))
    return found


BLOCKS = _blocks()


def _frame() -> np.ndarray[Any, np.dtype[np.uint8]]:
    head, _ = astronaut_head()
    frame = background(320, 240)
    paste(frame, head, 80, 20)
    return frame


def _needed(name: str, folder: Path) -> None:
    if name == "clip.mp4":
        make_demo_clip(folder / name, width=320, height=180, frames=12, audio=True)
    elif name == "photo.jpg":
        Image.fromarray(_frame()).save(folder / name, quality=92)
    else:  # a new example needs data this test does not know how to make
        raise AssertionError(f"README example needs {name}: teach this test to make it")


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.slow
@pytest.mark.parametrize(("marks", "code"), BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(
    marks: dict[str, list[str]], code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BYSTANDER_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    for name in marks["needs"]:
        _needed(name, tmp_path)
    uploads: list[object] = []
    supplied: dict[str, Any] = {
        "clip": tmp_path / "clip.mp4",
        "upload": uploads.append,
        "rgb_frame": _frame(),
    }
    unknown = set(marks["given"]) - set(supplied)
    assert not unknown, f"README example is given {unknown}: supply them here"
    namespace: dict[str, Any] = {name: supplied[name] for name in marks["given"]}
    original = supplied["rgb_frame"].copy()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if marks["raises"]:
            with pytest.raises(Exception) as raised:
                exec(compile(code, "README.md", "exec"), namespace)
            assert type(raised.value).__name__ == marks["raises"][0], raised.value
        else:
            exec(compile(code, "README.md", "exec"), namespace)
    assert uploads == [], "a denied transfer must not run its sender"
    for target in re.findall(r'"([\w.]+\.protected\.\w+)"', code):
        assert (tmp_path / target).stat().st_size > 0, target
    if "safe" in namespace:
        assert namespace["safe"].shape == original.shape
        assert not np.array_equal(namespace["safe"], original)  # the face was redacted
    if "report" in namespace:
        assert namespace["report"].summary.regions_redacted > 0
        assert out.getvalue().strip() == str(namespace["report"].summary.regions_redacted)
