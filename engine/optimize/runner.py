"""A whole optimisation: prepare once (profile, space, symbols, shared candles, storage), then per fold
search on the train window and run the best trial on the test window, then write the outputs.

The out-of-sample (OOS) figures are the headline; the in-sample (IS) ones are what the search fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from engine.config.loading import LoadedProfile, load_profile
from engine.errors import UserError
from engine.market.datadir import DataDir
from engine.optimize.apply import check_space
from engine.optimize.objectives import Objective, sharpe
from engine.optimize.overfit import deflated_sharpe
from engine.optimize.search import VALUES, SearchSettings, best_trial, counted, open_study, search
from engine.optimize.shared_candles import write_shared
from engine.optimize.space import Space, load_space
from engine.optimize.stop import StopRequest
from engine.optimize.trial import StudyContext, TrialJob
from engine.optimize.walkforward import Fold
from engine.optimize.workers import Workers


@dataclass(frozen=True)
class Request:
    profile: Path
    space: Path
    data_dir: Path
    start: datetime
    end: datetime
    symbols: list[str] | None
    trials: int
    workers: int | None  # None: as many as the Ray cluster has CPUs
    folds: list[Fold]
    objectives: tuple[Objective, ...]
    study: str | None
    storage: str | None
    ray: str | None
    seed: int
    out: Path


@dataclass
class FoldResult:
    fold: Fold
    study_name: str
    trials: list[FrozenTrial]
    best: FrozenTrial | None
    best_feasible: bool
    values: dict[str, Any]  # the best trial's dotted key → value
    in_sample: dict[str, Any]  # the best trial's figures on the train window
    out_of_sample: dict[str, Any] | None  # the same values on the test window
    dsr: float | None  # deflated Sharpe ratio of the in-sample best


@dataclass
class Study:
    request: Request
    base: LoadedProfile
    space: Space
    symbols: list[str]
    context: StudyContext
    storage: Any
    name: str
    results: list[FoldResult] = field(default_factory=list)
    interrupted: bool = False


def prepare(req: Request) -> Study:
    """Everything checked before a worker starts: exit 2 for a bad profile, space, symbol or window."""
    from engine.run.backtest import resolve_symbols
    from engine.venue.catalog import markets_for

    base = load_profile(req.profile, with_overrides=False)
    space = load_space(req.space)
    check_space(space, base)
    profile = base.profile
    data = DataDir(req.data_dir)
    markets, _ = markets_for(profile.venue.quote_assets, req.data_dir)
    symbols = resolve_symbols(req.symbols, markets, profile.venue.quote_assets, data, profile.venue.timeframe)
    if not symbols:
        raise UserError(f"--data {req.data_dir}: no {profile.venue.timeframe} candles of a "
                        f"{'/'.join(profile.venue.quote_assets)} perpetual; name some with --symbols")
    req.out.mkdir(parents=True, exist_ok=True)
    candles = write_shared(data, symbols, markets, profile.venue.timeframe, req.start, req.end,
                           req.out / "candles")
    context = StudyContext(req.profile.resolve(), req.data_dir.resolve(), candles.resolve(), tuple(symbols),
                           (req.out / "scratch").resolve())
    name = req.study or f"{profile.name}-{req.space.stem}-{req.start:%Y%m%d}-{req.end:%Y%m%d}"
    return Study(req, base, space, symbols, context, _storage(req), name)


def _storage(req: Request) -> Any:
    """Optuna's journal file under --out unless a storage URL (sqlite:///…, a journal file path) is given."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if req.storage is None:
        return JournalStorage(JournalFileBackend(str(req.out / "study.journal")))
    if "://" not in req.storage:
        return JournalStorage(JournalFileBackend(req.storage))
    return req.storage


def run_study(study: Study, workers: Workers, progress: Any) -> Study:
    """Every fold in turn; on Ctrl+C abandons the batch in flight and stops (study.interrupted)."""
    req = study.request
    settings = SearchSettings(study.space, study.base, req.objectives, req.trials, req.seed)
    with StopRequest() as stop:
        guarded = stop.guard(workers)
        for fold in req.folds:
            name = study.name if len(req.folds) == 1 and fold.test_start is None else f"{study.name}.fold{fold.index}"
            optuna_study = open_study(study.storage, name, settings, req.seed + fold.index - 1)
            progress.fold(f"fold {fold.index}/{len(req.folds)}")
            progress.skip(min(counted(optuna_study), req.trials))
            finished = search(optuna_study, settings, guarded, fold.train_start, fold.train_end, progress.trial,
                              should_stop=lambda: stop.requested)
            # Interrupted: the fold's figures so far, without its out-of-sample run (the user asked to stop).
            study.results.append(_fold_result(optuna_study, name, fold, settings, guarded if finished else None))
            if not finished or stop.requested:
                study.interrupted = True
                break
    return study


def _fold_result(optuna_study: Any, name: str, fold: Fold, settings: SearchSettings,
                 workers: Workers | None) -> FoldResult:
    trials = optuna_study.get_trials(deepcopy=False)
    best, ok = best_trial(optuna_study, settings.objectives)
    if best is None:
        return FoldResult(fold, name, trials, None, False, {}, {}, None, None)
    values = dict(best.user_attrs.get(VALUES, best.params))
    oos = None
    if fold.test_start is not None and workers is not None:
        try:
            result = workers.run([TrialJob(-fold.index, values, fold.test_start, fold.test_end)])[0]
        except KeyboardInterrupt:
            result = {"error": "interrupted before the out-of-sample run"}
        oos = result
    sharpes = [sharpe(t.user_attrs.get("daily_returns", []), annualise=False) for t in trials
               if "daily_returns" in t.user_attrs]
    dsr = deflated_sharpe(best.user_attrs.get("daily_returns", []), sharpes)
    return FoldResult(fold, name, trials, best, ok, values, dict(best.user_attrs.get("figures", {})), oos, dsr)


def overall_oos(results: list[FoldResult]) -> dict[str, Any] | None:
    """The test windows together: sums, the worst drawdown, Sharpe of the joined daily returns."""
    runs = [r.out_of_sample for r in results if r.out_of_sample and "error" not in r.out_of_sample]
    if not runs:
        return None
    trades = sum(r["trades"] for r in runs)
    wins = sum(r["trades"] * r["win_rate_pct"] / 100 for r in runs)
    returns = [x for r in runs for x in r["daily_returns"]]
    return {"folds": len(runs), "trades": trades, "win_rate_pct": 100 * wins / trades if trades else 0.0,
            "net_pnl": sum(r["net_pnl"] for r in runs), "fees": sum(r["fees"] for r in runs),
            "max_drawdown_pct": max(r["max_drawdown_pct"] for r in runs),
            "worst_day_pct": min(r["worst_day_pct"] for r in runs), "sharpe": sharpe(returns),
            "profitable_folds": sum(1 for r in runs if r["net_pnl"] > 0)}
