"""Corpora (issue 20, part 3): one job per file, a corrupt file failing alone, one report,
resume that redoes only unfinished files, and Ray giving the same outcomes as local."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from PIL import Image

from bystander.cli.app import app
from bystander.corpus.inputs import plan_corpus
from bystander.corpus.report import CorpusItem
from bystander.corpus.runner import run_corpus
from bystander.corpus.state import STATE_DIR, sidecar_path
from bystander.errors import OutputError
from bystander.jobs.protect import ProtectSettings
from bystander.measure.synthetic import (
    astronaut_head,
    background,
    moving_face_frames,
    paste,
    write_clip,
)
from bystander.provenance.pki import ensure_identity
from bystander.provenance.verify import verify_file
from tests.helpers import runner

#: single-scale search: the corpus logic is under test here, not the detector's recall
FAST = ["--search", "single"]


def _image(path: Path, offset: int) -> None:
    head, _ = astronaut_head()
    scene = background(200, 150)
    paste(scene, cv2.resize(head, None, fx=0.5, fy=0.5), 20 + 15 * offset, 20)
    Image.fromarray(scene).save(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four photos (JPEG, PNG), one short clip in a sub-folder, and a corrupt JPEG."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "clips").mkdir()
    for index, name in enumerate(["a.jpg", "b.jpg", "c.png", "d.jpg"]):
        _image(root / name, index)
    frames, _ = moving_face_frames(160, 120, frames=6, min_face=30, max_face=40)
    write_clip(root / "clips" / "walk.mp4", frames, fps=10, audio=False)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 8)
    return root


def _protect(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["protect", *args, *FAST])
    return result.exit_code, result.output


def _report(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "corpus-report.json").read_text())
    return data


def _statuses(report: dict[str, object]) -> dict[str, str]:
    items = report["items"]
    assert isinstance(items, list)
    return {Path(i["input"]).name: i["status"] for i in items}


def test_a_corrupt_file_fails_alone_with_its_reason(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _protect(str(corpus), "-o", str(out), "--corpus")
    assert code == 1, output
    report = _report(out)
    assert report["totals"] == {"files": 6, "done": 5, "skipped": 0, "failed": 1}
    assert _statuses(report)["broken.jpg"] == "failed"
    (broken,) = [i for i in report["items"] if i["status"] == "failed"]  # type: ignore[union-attr]
    assert "cannot decode image" in broken["error"] and "\n" not in broken["error"]
    assert f"{corpus / 'broken.jpg'}: InputError: cannot decode image" in output
    for rel in ("a.jpg", "b.jpg", "c.png", "d.jpg", "clips/walk.mp4"):
        assert (out / rel).is_file()
        assert sidecar_path(out, Path(rel)).is_file()
    assert not (out / "broken.jpg").exists()
    root = ensure_identity()[0].root_path
    assert verify_file(out / "clips" / "walk.mp4", [root]).state == "trusted"
    assert not list(out.rglob("*.partial*"))


def test_rerun_redoes_only_unfinished_or_damaged_files(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _protect(str(corpus), "-o", str(out), "--corpus")
    untouched = (out / "b.jpg").stat().st_mtime_ns
    (out / "a.jpg").unlink()  # cut off after its sidecar, before publication
    with (out / "c.png").open("ab") as handle:  # changed after it was made
        handle.write(b"tampered")
    code, _ = _protect(str(corpus), "-o", str(out), "--corpus")
    assert code == 1  # the corrupt file still fails
    report = _report(out)
    assert report["totals"] == {"files": 6, "done": 2, "skipped": 3, "failed": 1}
    items = {Path(i["input"]).name: i for i in report["items"]}  # type: ignore[union-attr]
    assert items["a.jpg"]["reason"] == "output missing"
    assert items["c.png"]["reason"] == "output differs from its report"
    assert items["b.jpg"]["status"] == "skipped" and items["walk.mp4"]["status"] == "skipped"
    assert items["walk.mp4"]["frames"] == 6  # a skipped file keeps its summary
    assert (out / "b.jpg").stat().st_mtime_ns == untouched
    root = ensure_identity()[0].root_path
    assert verify_file(out / "c.png", [root]).state == "trusted"


def test_an_output_signed_by_another_identity_is_redone(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    args = [str(corpus / "a.jpg"), str(corpus / "b.jpg"), "-o", str(out), "--corpus"]
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path / "old-device"))
    assert _protect(*args)[0] == 0
    monkeypatch.setenv("BYSTANDER_HOME", str(tmp_path / "new-device"))
    assert _protect(*args)[0] == 0  # the old signatures do not verify against the new root
    items = _report(out)["items"]
    assert {(i["status"], i["reason"]) for i in items} == {("done", "signature valid")}  # type: ignore[union-attr]
    assert _protect(*args)[0] == 0
    assert {i["status"] for i in _report(out)["items"]} == {"skipped"}  # type: ignore[union-attr]


def test_a_driver_killed_halfway_leaves_only_whole_files(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    planned = plan_corpus([corpus], [], out)
    settings = ProtectSettings(image_search="single", video_search="single")
    identity, _ = ensure_identity()
    seen: list[CorpusItem] = []

    class Killed(BaseException):
        pass

    def die_after_two(item: CorpusItem) -> None:
        seen.append(item)
        if sum(i.status == "done" for i in seen) == 2:
            raise Killed

    with pytest.raises(Killed):
        run_corpus(planned, out, settings, identity, on_item=die_after_two)
    first = {i.output for i in seen if i.status == "done"}
    assert len(first) == 2
    published = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    published = {p for p in published if not p.startswith(STATE_DIR)}
    assert published == first  # nothing half-written under a final name
    unfinished = sorted({"a.jpg", "b.jpg", "c.png", "d.jpg"} - first)[0]
    stale = out / f".{Path(unfinished).stem}.x1y2.partial{Path(unfinished).suffix}"
    stale.write_bytes(b"a killed worker's temporary output")
    report = run_corpus(planned, out, settings, identity)
    assert not stale.exists() and report.stale_partials_removed == 1
    done = {i.output for i in report.items if i.status == "done"}
    skipped = {i.output for i in report.items if i.status == "skipped"}
    assert skipped == first
    assert done == {"a.jpg", "b.jpg", "c.png", "d.jpg", "clips/walk.mp4"} - first


def test_other_settings_redo_every_file(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [str(corpus / "a.jpg"), str(corpus / "d.jpg"), "-o", str(out), "--corpus"]
    assert _protect(*args)[0] == 0
    assert _protect(*args, "--mode", "pixelate")[0] == 0
    report = _report(out)
    assert report["totals"] == {"files": 2, "done": 2, "skipped": 0, "failed": 0}
    assert {i["reason"] for i in report["items"]} == {"made with other settings"}  # type: ignore[union-attr]


def test_an_output_no_corpus_run_made_is_not_replaced(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.jpg").write_bytes(b"somebody else's file")
    code, output = _protect(str(corpus / "a.jpg"), "-o", str(out), "--corpus")
    assert code == 1 and "not from a corpus run" in output
    assert (out / "a.jpg").read_bytes() == b"somebody else's file"
    code, _ = _protect(str(corpus / "a.jpg"), "-o", str(out), "--corpus", "--overwrite")
    assert code == 0 and (out / "a.jpg").read_bytes() != b"somebody else's file"


def test_manifest_and_glob_inputs(corpus: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "list.txt"
    rel = os.path.relpath(corpus / "a.jpg", tmp_path)
    manifest.write_text(f"# photos\n{rel}\n\n{corpus / 'missing.jpg'}\n")
    out = tmp_path / "out"
    planned = plan_corpus([str(corpus / "*.png"), str(corpus / "clips")], [manifest], out)
    assert sorted(str(j.rel) for j in planned.jobs) == ["a.jpg", "c.png", "walk.mp4"]
    assert planned.rejected == [
        (str(corpus / "missing.jpg"), f"no such file: {corpus}/missing.jpg")
    ]
    nested = plan_corpus([str(corpus) + "/**/*.mp4"], [], out)
    assert [str(j.rel) for j in nested.jobs] == ["clips/walk.mp4"]
    twin = tmp_path / "elsewhere" / "a.jpg"
    twin.parent.mkdir()
    twin.write_bytes((corpus / "a.jpg").read_bytes())
    assert (
        len(plan_corpus([corpus / "a.jpg", corpus / "clips" / ".." / "a.jpg"], [], out).jobs) == 1
    )
    with pytest.raises(OutputError, match="same output"):
        plan_corpus([corpus / "a.jpg", twin], [], out)
    with pytest.raises(OutputError, match="must be a folder"):
        plan_corpus([corpus / "a.jpg"], [], tmp_path / "single.jpg")


# --- Ray -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A small local cluster (2 CPUs); the corpus runner joins it as it is."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, logging_level="ERROR")  # fmt: skip
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_matches_local_and_resumes(cluster: None, corpus: Path, tmp_path: Path) -> None:
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert _protect(str(corpus), "-o", str(local), "--corpus")[0] == 1
    code, output = _protect(str(corpus), "-o", str(on_ray), "--ray", "--workers", "2")
    assert code == 1, output
    here, there = _report(local), _report(on_ray)
    assert there["engine"] == "ray" and there["workers"] == 2
    keep = ("input", "output", "status", "kind", "frames", "error")
    assert [{k: i[k] for k in keep} for i in sorted(here["items"], key=str)] == [  # type: ignore[arg-type]
        {k: i[k] for k in keep}
        for i in sorted(there["items"], key=str)  # type: ignore[arg-type]
    ]
    nodes = there["nodes"]
    assert isinstance(nodes, list) and sum(n["files"] for n in nodes) == 5
    assert all(i["node"] != "local" for i in there["items"] if i["status"] == "done")  # type: ignore[union-attr]
    root = ensure_identity()[0].root_path
    assert verify_file(on_ray / "d.jpg", [root]).state == "trusted"
    (on_ray / "d.jpg").unlink()
    assert _protect(str(corpus), "-o", str(on_ray), "--ray")[0] == 1
    assert _report(on_ray)["totals"] == {"files": 6, "done": 1, "skipped": 4, "failed": 1}
