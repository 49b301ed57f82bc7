"""The backtest command's PNG worker draws exactly the chart the in-process drawing does, and a worker
that cannot draw is replaced by drawing in this process (the command never ends without its PNG)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.report import compute_metrics
from engine.report.equity_png import PngWorker
from engine.report.render import equity_chart
from tests.report.support import BALANCE, END, START, sample_history


def _chart():  # noqa: ANN202 - an EquityChart
    return equity_chart(compute_metrics(sample_history(), BALANCE, START, END), title="worker · backtest")


def _by_worker(chart, path: Path):  # noqa: ANN001, ANN202 - an EquityChart; the decoded pixels
    import matplotlib.image

    worker = PngWorker()
    try:
        worker.draw(chart, path)
        assert worker.wait() == path
    finally:
        worker.close()
    return matplotlib.image.imread(path)


def test_the_worker_draws_the_chart_it_is_sent(tmp_path: Path) -> None:
    """Two workers draw the same chart pixel for pixel, and another chart differently. (Not compared with a
    drawing in the test process: matplotlib's state there depends on what other tests drew before.)"""
    import numpy as np

    first = _by_worker(_chart(), tmp_path / "a" / "equity.png")
    assert first.shape == (650, 1100, 4) and (first[..., :3] < 0.5).any()  # a picture, not a blank canvas
    assert np.array_equal(first, _by_worker(_chart(), tmp_path / "b" / "equity.png"))
    other = equity_chart(compute_metrics(sample_history()[:2], BALANCE, START, END), title="another")
    assert not np.array_equal(first, _by_worker(other, tmp_path / "c" / "equity.png"))


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
