"""What a study leaves in `--out`: best.yaml (a profile that extends the base), trials.csv, summary.json.

best.yaml holds the values of the last fold's best trial (searched on the most recent train window,
the one a user would deploy); its header gives the data, the folds, the objective and the
out-of-sample figures, or says plainly that there are none.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import yaml

from engine.optimize.apply import get_key, set_key
from engine.optimize.overfit import DSR_THRESHOLD, stability
from engine.optimize.runner import FoldResult, Study, overall_oos

FIGURE_COLUMNS = ("trades", "win_rate_pct", "net_pnl", "fees", "return_pct", "max_drawdown_pct", "worst_day_pct",
                  "sharpe", "sortino", "calmar", "profit_factor")


def describe(figures: dict[str, Any] | None) -> str:
    """One line: trades, win-rate, net PnL, max drawdown, Sharpe (or why there are none)."""
    if not figures:
        return "none"
    if "error" in figures:
        return f"failed: {figures['error']}"
    return (f"{figures['trades']} trades, win-rate {figures['win_rate_pct']:.1f} %, net PnL {figures['net_pnl']:+.2f}, "
            f"max drawdown {figures['max_drawdown_pct']:.1f} %, Sharpe {figures['sharpe']:.2f}")


def warnings(study: Study) -> list[str]:
    """The overfitting warnings: a weak deflated Sharpe, unstable values, IS far above OOS."""
    out = []
    for r in study.results:
        if r.dsr is not None and r.dsr < DSR_THRESHOLD:
            out.append(f"fold {r.fold.index}: deflated Sharpe ratio {r.dsr:.2f} < {DSR_THRESHOLD}: the in-sample "
                       f"best of {len(r.trials)} trials is not distinguishable from luck (likely overfit)")
        if not r.best_feasible and r.best is not None:
            out.append(f"fold {r.fold.index}: no trial met the constraints; the best shown breaks them")
        oos = r.out_of_sample
        if oos and "error" not in oos and r.in_sample and r.in_sample["net_pnl"] > 0 >= oos["net_pnl"]:
            out.append(f"fold {r.fold.index}: profitable in-sample ({r.in_sample['net_pnl']:+.2f}) but not "
                       f"out-of-sample ({oos['net_pnl']:+.2f})")
    if len(study.results) > 1:
        shaky = [s["key"] for s in stability(study.space, [r.values for r in study.results]) if not s["stable"]]
        if shaky:
            out.append(f"chosen values unstable across folds: {', '.join(shaky)}")
    return out


def summary(study: Study) -> dict[str, Any]:
    req = study.request
    return {
        "profile": str(req.profile), "space": str(req.space), "data": str(req.data_dir),
        "from": req.start.isoformat(), "to": req.end.isoformat(), "symbols": study.symbols,
        "objectives": [o.name for o in req.objectives], "trials_per_fold": req.trials, "seed": req.seed,
        "workers": req.workers, "study": study.name, "interrupted": study.interrupted,
        "folds": [_fold_summary(r) for r in study.results],
        "out_of_sample": overall_oos(study.results),
        "stability": stability(study.space, [r.values for r in study.results]),
        "warnings": warnings(study),
    }


def _strip(figures: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if figures is None else {k: v for k, v in figures.items() if k not in ("daily_returns", "trace")}


def _fold_summary(r: FoldResult) -> dict[str, Any]:
    f = r.fold
    return {"fold": f.index, "train": [f.train_start.isoformat(), f.train_end.isoformat()],
            "test": None if f.test_start is None else [f.test_start.isoformat(), f.test_end.isoformat()],
            "study": r.study_name, "best_trial": None if r.best is None else r.best.number,
            "best_feasible": r.best_feasible, "values": r.values, "in_sample": _strip(r.in_sample),
            "out_of_sample": _strip(r.out_of_sample), "deflated_sharpe": r.dsr}


def write_best(study: Study, path: Path) -> Path | None:
    """best.yaml: `extends:` the base profile by relative path, the chosen values, and the machine and
    state folder of the base (relative paths resolve against a profile's folder's parent)."""
    chosen = next((r for r in reversed(study.results) if r.best is not None), None)
    if chosen is None:
        return None
    req, base = study.request, study.base
    here = path.parent.resolve()
    body: dict[str, Any] = {"extends": os.path.relpath(base.path.resolve(), here),
                            "name": f"{base.profile.name}-optimised"[:60],
                            "description": f"{base.profile.name} with values found by `engine optimize`"}
    overlay: dict[str, Any] = {}
    for key, value in chosen.values.items():
        top = key.split(".")
        if any(p.isdigit() for p in top):  # a list item: YAML merging replaces lists, so write the whole list
            index = next(i for i, p in enumerate(top) if p.isdigit())
            listed = ".".join(top[:index])
            if listed not in _flat_keys(overlay):
                set_key(overlay, listed, json.loads(json.dumps(get_key(base.data, listed))))
        set_key(overlay, key, value)
    root = here.parent
    overlay.setdefault("runtime", {})
    overlay["runtime"]["machine"] = os.path.relpath(base.machine_path.resolve(), root)
    overlay["runtime"]["state_dir"] = os.path.relpath((base.state_dir.parent).resolve(), root)
    body.update(overlay)
    oos = overall_oos(study.results)
    folds = "; ".join(r.fold.label for r in study.results)
    lines = [
        "# Written by `python -m engine optimize` — a profile: validate it, backtest it, then decide.",
        f"# base: {req.profile} · space: {req.space} · seed {req.seed} · {req.trials} trials per fold",
        f"# data: {req.data_dir}, {req.start:%Y-%m-%d} → {req.end:%Y-%m-%d}, symbols {' '.join(study.symbols)}",
        f"# objective: {', '.join(o.name for o in req.objectives)} · folds: {folds}",
        f"# values: fold {chosen.fold.index}'s best trial (#{chosen.best.number}, study {chosen.study_name})",  # type: ignore[union-attr]
        f"# in-sample (fold {chosen.fold.index}, what the search fitted): {describe(chosen.in_sample)}",
        f"# OUT-OF-SAMPLE, all folds: {describe(oos)}" if oos else
        "# OUT-OF-SAMPLE: none (no --walk-forward): every figure above is in-sample and flatters the values",
        *[f"# warning: {w}" for w in warnings(study)],
    ]
    text = "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def _flat_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        out.add(prefix + key)
        if isinstance(value, dict):
            out |= _flat_keys(value, f"{prefix}{key}.")
    return out


def write_trials_csv(study: Study, path: Path) -> Path:
    keys = [p.key for p in study.space.params]
    names = [o.name for o in study.request.objectives]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        # Optuna's own column names (trials_dataframe): `value`, or `values_0`… with several objectives.
        value_columns = ["value"] if len(names) == 1 else [f"values_{i}" for i in range(len(names))]
        out.writerow(["fold", "window", "trial", "state", *value_columns, *keys,
                      *[f"is_{c}" for c in FIGURE_COLUMNS], "feasible", "note"])
        for r in study.results:
            window = f"IS {r.fold.train_start:%Y-%m-%d}..{r.fold.train_end:%Y-%m-%d}"
            for t in r.trials:
                figs = t.user_attrs.get("figures", {})
                note = t.user_attrs.get("invalid") or t.user_attrs.get("error") or (
                    "interrupted" if t.user_attrs.get("interrupted") else "")
                values = list(t.values) if t.values else [""] * len(names)
                chosen = t.user_attrs.get("values", t.params)
                out.writerow([r.fold.index, window, t.number, t.state.name, *values,
                              *[chosen.get(k, "") for k in keys], *[figs.get(c, "") for c in FIGURE_COLUMNS],
                              all(v <= 0 for v in t.user_attrs.get("constraints", [])) if figs else "", note])
    return path


def write_summary(study: Study, path: Path) -> Path:
    path.write_text(json.dumps(summary(study), indent=1, default=str), encoding="utf-8")
    return path
