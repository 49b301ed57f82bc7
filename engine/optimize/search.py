"""One Optuna study on one window: ask a batch, run it on the workers, tell the results in trial order.

Reproducible by construction: the sampler is seeded, a batch (`batch_size`: the random start-up trials
at once, then 2 × `workers`) is asked before any result is told (TPE's constant liar sees the ones in
flight), and results are told in the order the trials were asked, not the order they finished. Same
seed, space, data and `--workers` → same trials, on the local pool or on Ray.

Resumable: the study lives in the storage (a journal file under `--out` by default) under its name;
a rerun loads it, marks the trials an interrupted run left running as failed (`interrupted`), and runs
only the trials still missing. Ctrl+C abandons the batch in flight the same way and returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from engine.config.loading import LoadedProfile
from engine.optimize.apply import applies, invalid_reason, set_key
from engine.optimize.objectives import Objective, violations
from engine.optimize.space import Space
from engine.optimize.trial import TrialJob
from engine.optimize.workers import Workers

INTERRUPTED = "interrupted"
# A batch waits for its slowest trial; two trials per worker keep the workers busy while it runs (trial
# lengths vary several-fold with the values). The batch size depends on --workers only: reproducible.
BATCH_PER_WORKER = 2
FIGURES = "figures"
VALUES = "values"


@dataclass(frozen=True)
class SearchSettings:
    space: Space
    base: LoadedProfile
    objectives: tuple[Objective, ...]
    trials: int
    seed: int


def startup_trials(settings: SearchSettings) -> int:
    """Trials the sampler draws at random before it learns: TPE's start-up, NSGA-II's first generation."""
    if len(settings.objectives) > 1:
        return max(4, min(50, settings.trials // 3))
    return min(10, settings.trials)


def make_sampler(settings: SearchSettings, seed: int) -> optuna.samplers.BaseSampler:
    """Constraints reach either sampler through `Trial.set_constraint` (see `tell`)."""
    if len(settings.objectives) > 1:
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=startup_trials(settings))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(settings))


def batch_size(settings: SearchSettings, done: int, workers: int) -> int:
    """Trials asked before any is told. The random start-up trials depend on no result, so they go out
    together (the pool stays busy); then two per worker. A function of the study's state and --workers
    only, never of timing: the same seed gives the same trials wherever they run."""
    return max(BATCH_PER_WORKER * workers, startup_trials(settings) - done)


def open_study(storage: Any, name: str, settings: SearchSettings, seed: int) -> optuna.Study:
    study = optuna.create_study(storage=storage, study_name=name, sampler=make_sampler(settings, seed),
                                directions=[o.direction for o in settings.objectives], load_if_exists=True)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    return study


def counted(study: optuna.Study) -> int:
    """Trials that count towards --trials: finished, or refused as an invalid profile; not interrupted."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.FAIL) and not t.user_attrs.get(INTERRUPTED))


def _values_of(space: Space, base: LoadedProfile, trial: optuna.Trial) -> dict[str, Any]:
    """Draw the trial's values in file order; a `when:` is read on the profile as decided so far."""
    import copy

    data = copy.deepcopy(base.data)
    values: dict[str, Any] = {}
    for param in space.params:
        if applies(param, data):
            values[param.key] = param.suggest(trial)
            set_key(data, param.key, values[param.key])
    return values


def search(study: optuna.Study, settings: SearchSettings, workers: Workers, start: datetime, end: datetime,
           on_trial: Callable[[FrozenTrial], None], should_stop: Callable[[], bool] = lambda: False) -> bool:
    """Run the study's missing trials on [start, end). Returns False when interrupted: Ctrl+C out of
    `workers.run` (the batch in flight is marked interrupted), or `should_stop` at a batch boundary."""
    while (missing := settings.trials - counted(study)) > 0 and not should_stop():
        asked = []
        for _ in range(min(missing, batch_size(settings, settings.trials - missing, workers.size))):
            trial = study.ask()
            values = _values_of(settings.space, settings.base, trial)
            trial.set_user_attr(VALUES, values)  # as the profile gets them (Optuna keeps its raw floats)
            reason = invalid_reason(settings.space, settings.base, values)
            if reason is not None:  # recorded and counted: the space can produce it, the user must know
                trial.set_user_attr("invalid", reason)
                study.tell(trial, state=TrialState.FAIL)
                on_trial(study._storage.get_trial(trial._trial_id))
                continue
            asked.append((trial, TrialJob(trial.number, values, start, end)))
        try:
            results = workers.run([job for _, job in asked]) if asked else []
        except KeyboardInterrupt:
            for trial, _ in asked:
                trial.set_user_attr(INTERRUPTED, True)
                study.tell(trial, state=TrialState.FAIL)
            return False
        for (trial, _), result in zip(asked, results, strict=True):
            tell(study, trial, result, settings)
            on_trial(study._storage.get_trial(trial._trial_id))
        if results and all("error" in r for r in results):  # the backtest itself is broken: say so, stop
            raise RuntimeError(f"all {len(results)} trials of a batch failed; the first: {results[0]['error']}")
    return not should_stop()


def tell(study: optuna.Study, trial: optuna.Trial, result: dict[str, Any], settings: SearchSettings) -> None:
    if "error" in result:
        trial.set_user_attr("error", result["error"])
        study.tell(trial, state=TrialState.FAIL)
        return
    trial.set_user_attr(FIGURES, {k: v for k, v in result.items() if k != "daily_returns"})
    trial.set_user_attr("daily_returns", result["daily_returns"])
    missed = violations(result, settings.space.constraints)
    trial.set_user_attr("constraints", list(missed.values()))
    for name, value in missed.items():
        trial.set_constraint(name, value)
    values = [result[o.name] for o in settings.objectives]
    if any(not math.isfinite(v) for v in values):
        trial.set_user_attr("error", f"objective not finite: {values}")
        study.tell(trial, state=TrialState.FAIL)
        return
    study.tell(trial, values)


def feasible(trial: FrozenTrial) -> bool:
    return all(v <= 0 for v in trial.user_attrs.get("constraints", []))


def best_trial(study: optuna.Study, objectives: tuple[Objective, ...]) -> tuple[FrozenTrial | None, bool]:
    """(best trial, whether it meets the constraints). Among feasible trials when any is; with several
    objectives, the Pareto front's best on the first objective."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not done:
        return None, False
    pool = [t for t in done if feasible(t)] or done
    sign = 1 if objectives[0].direction == "maximize" else -1
    if len(objectives) > 1:
        pool = _pareto(pool, objectives)
    best = max(pool, key=lambda t: (sign * t.values[0], -t.number))
    return best, feasible(best)


def _pareto(trials: list[FrozenTrial], objectives: tuple[Objective, ...]) -> list[FrozenTrial]:
    signs = [1 if o.direction == "maximize" else -1 for o in objectives]

    def dominates(a: FrozenTrial, b: FrozenTrial) -> bool:
        pairs = [(s * x, s * y) for s, x, y in zip(signs, a.values, b.values, strict=True)]
        return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)

    return [t for t in trials if not any(dominates(o, t) for o in trials if o is not t)]
