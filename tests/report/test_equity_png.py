"""The backtest command's PNG worker draws exactly the chart the in-process drawing does, and a worker
that cannot draw is replaced by drawing in this process (the command never ends without its PNG)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.report import compute_metrics
from engine.report.equity_png import PngWorker, draw
from engine.report.render import equity_chart
from tests.report.support import BALANCE, END, START, sample_history


def _chart():  # noqa: ANN202 - an EquityChart
    return equity_chart(compute_metrics(sample_history(), BALANCE, START, END), title="worker · backtest")


def test_the_worker_draws_the_same_png_as_this_process(tmp_path: Path) -> None:
    worker = PngWorker()
    try:
        worker.draw(_chart(), tmp_path / "worker" / "equity.png")
        assert worker.wait() == tmp_path / "worker" / "equity.png"
    finally:
        worker.close()
    here = draw(_chart(), tmp_path / "here" / "equity.png")
    # The same picture, pixel for pixel (the files' bytes may differ: their zlib streams and metadata do,
    # from one process to another).
    import matplotlib.image
    import numpy as np

    worker_pixels = matplotlib.image.imread(tmp_path / "worker" / "equity.png")
    assert worker_pixels.shape == (650, 1100, 4)
    assert np.array_equal(worker_pixels, matplotlib.image.imread(here))


def test_a_dead_worker_is_replaced_by_drawing_here(tmp_path: Path) -> None:
    worker = PngWorker()
    worker.close()  # as if it had died before the chart was ready
    worker.draw(_chart(), tmp_path / "equity.png")
    assert (tmp_path / "equity.png").read_bytes().startswith(b"\x89PNG")


def test_a_worker_that_fails_is_replaced_by_drawing_here(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    worker = PngWorker()
    try:
        (tmp_path / "equity.png").mkdir()  # the worker cannot write a file where a folder is
        worker.draw(_chart(), tmp_path / "equity.png")
        with pytest.raises(IsADirectoryError):
            worker.wait()  # drawn here again, which fails the same way: the error reaches the command
    finally:
        worker.close()
    assert "IsADirectoryError" in capfd.readouterr().err  # the worker's own error is shown
