"""Ctrl+C during a study, taken only where it is safe.

While the study waits for its workers, Ctrl+C abandons the batch in flight at once (KeyboardInterrupt
out of `Workers.run`, which the search turns into `interrupted` trials). Anywhere else — Optuna writing
the study's journal, telling a result — it is only noted, so no write is cut in half; the search stops
at its next check and the next wait is refused.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from engine.optimize.trial import TrialJob
from engine.optimize.workers import Workers


class StopRequest:
    def __init__(self) -> None:
        self.requested = False
        self._waiting = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._waiting:
            raise KeyboardInterrupt

    def guard(self, workers: Workers) -> Workers:
        return _Guarded(workers, self)


class _Guarded:
    """The workers, with their waits interruptible and nothing else."""

    def __init__(self, workers: Workers, stop: StopRequest) -> None:
        self._workers, self._stop = workers, stop
        self.size = workers.size

    def run(self, jobs: list[TrialJob]) -> list[dict[str, Any]]:
        if self._stop.requested:
            raise KeyboardInterrupt
        self._stop._waiting = True
        try:
            return self._workers.run(jobs)
        finally:
            self._stop._waiting = False

    def close(self, *, abandon: bool = False) -> None:
        self._workers.close(abandon=abandon)
