"""The study's progress bar: trials done of all folds, the fold running, and the best so far (in-sample)."""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from engine.optimize.objectives import Objective


class StudyProgress:
    def __init__(self, console: Console, total: int, objectives: tuple[Objective, ...]) -> None:
        self.objectives = objectives
        self._best: float | None = None
        self._fold = ""
        self._progress = Progress(TextColumn("[bold]optimize"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("trials"), TimeElapsedColumn(), TimeRemainingColumn(),
                                  TextColumn("{task.fields[status]}"), console=console, transient=False)
        self._task = self._progress.add_task("optimize", total=total, status="")

    def __enter__(self) -> StudyProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def fold(self, label: str) -> None:
        self._fold, self._best = label, None
        self._refresh()

    def skip(self, done: int) -> None:
        """Trials a resumed study had already run."""
        self._progress.advance(self._task, done)

    def trial(self, trial: FrozenTrial) -> None:
        self._progress.advance(self._task, 1)
        if trial.state == TrialState.COMPLETE and trial.values:
            value = trial.values[0]
            sign = 1 if self.objectives[0].direction == "maximize" else -1
            if self._best is None or sign * value > sign * self._best:
                self._best = value
        self._refresh()

    def _refresh(self) -> None:
        best = "—" if self._best is None else f"{self._best:.4g}"
        status = f"{self._fold} · best {self.objectives[0].name} (in-sample) {best}"
        self._progress.update(self._task, status=status)
