"""One trial, as a worker runs it: the trial's profile, then the real backtest (engine.run.backtest: same
engine, fills, fees, universe rules and equity hard stop) on the shared candles, then its figures.

Everything a worker needs travels in a `StudyContext` (picklable, for a process pool or a Ray task)
and a `TrialJob`; what it loads from them (the base profile, the mapped candles) is kept per process.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.optimize.objectives import figures

_CACHE: dict[str, Any] = {}


@dataclass(frozen=True)
class StudyContext:
    profile: Path  # the base profile
    data_dir: Path  # the user's data folder (markets, funding)
    candles: Path  # the shared candles folder (engine.optimize.shared_candles)
    symbols: tuple[str, ...]
    scratch: Path  # where trials make (and delete) their backtest folders


@dataclass(frozen=True)
class TrialJob:
    number: int  # the Optuna trial number (labels only)
    values: dict[str, Any]  # dotted key → value
    start: datetime
    end: datetime


def _base(ctx: StudyContext) -> Any:
    from engine.config.loading import load_profile

    key = f"profile:{ctx.profile}"
    if key not in _CACHE:  # a study's runtime overrides (state/<name>/overrides.json) are not the base's
        _CACHE[key] = load_profile(ctx.profile, with_overrides=False)
    return _CACHE[key]


def _shared(ctx: StudyContext) -> Any:
    from engine.optimize.shared_candles import SharedCandles

    key = f"candles:{ctx.candles}"
    if key not in _CACHE:
        _CACHE[key] = SharedCandles(ctx.data_dir, ctx.candles)
    return _CACHE[key]


def run_trial(ctx: StudyContext, job: TrialJob) -> dict[str, Any]:
    """The trial's figures (engine.optimize.objectives.figures), or {"error": text} when the backtest
    failed: a failed trial is recorded, it does not end the study."""
    from engine.optimize.apply import build_profile
    from engine.report.metrics import compute_metrics
    from engine.run.backtest import run_backtest

    ctx.scratch.mkdir(parents=True, exist_ok=True)
    out_dir = Path(tempfile.mkdtemp(prefix=f"trial{job.number}-", dir=ctx.scratch))
    try:
        loaded = build_profile(_base(ctx), job.values)
        run = asyncio.run(run_backtest(loaded, ctx.data_dir, job.start, job.end, symbols=list(ctx.symbols),
                                       out_dir=out_dir / "run", data=_shared(ctx)))
        metrics = compute_metrics(run.trades, run.starting_balance, run.start, run.end)
        return figures(metrics)
    except Exception as exc:  # noqa: BLE001 - reported on the trial, with where it happened
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=6)}
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
