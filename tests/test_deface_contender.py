"""The deface contender of the benchmarks: same frames, deface's own model and masks, and
nothing printed on stdout (``bystander eval --json`` writes its result there)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

pytest.importorskip("deface")

from bystander.measure.contenders import DefaceContender


def test_deface_masks_the_astronaut_and_prints_nothing_on_stdout(
    capfd: pytest.CaptureFixture[str],
) -> None:
    contender = DefaceContender()
    mask = contender.mask(np.ascontiguousarray(data.astronaut()))
    out, _ = capfd.readouterr()
    assert out == ""
    ys, xs = np.nonzero(mask)
    assert len(ys) > 1000  # the face is masked...
    assert 100 < xs.mean() < 300 and 50 < ys.mean() < 220  # ...where it is
