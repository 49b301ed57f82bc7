"""Walk-forward folds: search on a train window, judge the best trial on the test window after it.

`--walk-forward TRAIN:TEST[:STEP]` in durations (`60d:30d`, `60d:30d:15d`); STEP defaults to TEST, so
the test windows tile the span. Rolling by default (every train window is TRAIN long); a TRAIN ending
in `+` (`60d+:30d`) is anchored: every train window starts at `--from` and grows by STEP. Folds are
laid from `--from` while a whole test window fits before `--to`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.config.durations import parse_duration
from engine.errors import UserError

MAX_FOLDS = 100


@dataclass(frozen=True)
class Fold:
    index: int  # 1-based
    train_start: datetime
    train_end: datetime
    test_start: datetime | None  # None: a plain search, no out-of-sample window
    test_end: datetime | None

    @property
    def label(self) -> str:
        train = f"IS {self.train_start:%Y-%m-%d} → {self.train_end:%Y-%m-%d}"
        if self.test_start is None:
            return train
        return f"{train} · OOS {self.test_start:%Y-%m-%d} → {self.test_end:%Y-%m-%d}"


def single_window(start: datetime, end: datetime) -> list[Fold]:
    return [Fold(1, start, end, None, None)]


def _duration(text: str, part: str, spec: str) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise UserError(f"--walk-forward {spec}: {part} {text!r}: {exc}") from None
    if value <= timedelta(0):
        raise UserError(f"--walk-forward {spec}: {part} must be longer than 0")
    return value


def parse_folds(spec: str, start: datetime, end: datetime) -> list[Fold]:
    """Raises UserError (exit 2) for a malformed spec or one that leaves no whole fold in the span."""
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise UserError(f"--walk-forward {spec}: expected TRAIN:TEST or TRAIN:TEST:STEP, e.g. 60d:30d or 60d+:30d "
                        "(anchored)")
    anchored = parts[0].endswith("+")
    train = _duration(parts[0].rstrip("+"), "TRAIN", spec)
    test = _duration(parts[1], "TEST", spec)
    step = _duration(parts[2], "STEP", spec) if len(parts) == 3 else test
    folds = []
    train_end = start + train
    while train_end + test <= end:
        train_start = start if anchored else train_end - train
        folds.append(Fold(len(folds) + 1, train_start, train_end, train_end, train_end + test))
        if len(folds) > MAX_FOLDS:
            raise UserError(f"--walk-forward {spec}: more than {MAX_FOLDS} folds; use a longer STEP")
        train_end += step
    if not folds:
        raise UserError(f"--walk-forward {spec}: TRAIN + TEST ({train + test}) does not fit between --from "
                        f"{start:%Y-%m-%d} and --to {end:%Y-%m-%d}")
    return folds
