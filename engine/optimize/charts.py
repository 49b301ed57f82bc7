"""The study's report: report.html (Optuna's plotly views, plotly.js written inline: it opens offline)
and PNGs through matplotlib (history, importances, parallel coordinates, IS vs OOS per fold).

A chart that cannot be drawn (too few finished trials for importances, say) is skipped and the report
says why, rather than failing the study at its end.
"""

from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Any

from engine.optimize.outputs import describe
from engine.optimize.outputs import warnings as warnings_of
from engine.optimize.runner import FoldResult, Study, overall_oos


def _importance_evaluator() -> Any:
    # fANOVA, Optuna's default, needs scikit-learn, which the project does not ship.
    from optuna.importance import PedAnovaImportanceEvaluator

    return PedAnovaImportanceEvaluator()


def _last_study(study: Study) -> tuple[Any, FoldResult] | None:
    import optuna

    for r in reversed(study.results):
        if r.best is not None:
            return optuna.load_study(study_name=r.study_name, storage=study.storage), r
    return None


def _views(study: Study, plots: Any) -> list[tuple[str, str, Any]]:
    """(file stem, title, draw) of Optuna's views of the last fold's study, from `plots`: the plotly
    module (optuna.visualization) or the matplotlib one (optuna.visualization.matplotlib)."""
    found = _last_study(study)
    if found is None:
        return []
    optuna_study, r = found
    # With several objectives the views show the first (Optuna needs a target to plot one).
    target = (lambda t: t.values[0]) if len(study.request.objectives) > 1 else None
    name = study.request.objectives[0].name
    fold = f" · fold {r.fold.index}"
    return [
        ("history", f"optimisation history (in-sample){fold}",
         lambda: plots.plot_optimization_history(optuna_study, target=target, target_name=name)),
        ("importances", f"parameter importances (in-sample){fold}",
         lambda: plots.plot_param_importances(optuna_study, evaluator=_importance_evaluator(), target=target,
                                              target_name=name)),
        ("parallel", f"parallel coordinates (in-sample){fold}",
         lambda: plots.plot_parallel_coordinate(optuna_study, target=target, target_name=name)),
    ]


def _draw(draw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib views experimental
        return draw()


def _is_vs_oos_rows(study: Study) -> list[tuple[str, float, float | None]]:
    name = study.request.objectives[0].name
    rows = []
    for r in study.results:
        if not r.in_sample:
            continue
        oos = r.out_of_sample
        rows.append((f"fold {r.fold.index}", r.in_sample.get(name, 0.0),
                     None if not oos or "error" in oos else oos.get(name, 0.0)))
    return rows


def write_html(study: Study, path: Path) -> list[str]:
    """Returns the notes on charts left out."""
    import plotly.graph_objects as go
    from optuna import visualization as vis

    notes: list[str] = []
    parts: list[str] = []
    target_name = study.request.objectives[0].name
    for _, title, draw in _views(study, vis):
        try:
            figure = _draw(draw)
            figure.update_layout(title=title)
            parts.append(figure.to_html(full_html=False, include_plotlyjs=not parts))  # plotly.js once, inline
        except Exception as exc:  # noqa: BLE001 - a missing chart is a note, not a failed study
            notes.append(f"{title}: not drawn ({type(exc).__name__}: {exc})")
    rows = _is_vs_oos_rows(study)
    if rows:
        fig = go.Figure([go.Bar(name="in-sample (fitted)", x=[r[0] for r in rows], y=[r[1] for r in rows]),
                         go.Bar(name="out-of-sample", x=[r[0] for r in rows], y=[r[2] for r in rows])])
        fig.update_layout(title=f"{target_name}: in-sample vs out-of-sample per fold", barmode="group")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=not parts))
    oos = overall_oos(study.results)
    folds = "".join(f"<li>fold {r.fold.index}: {html.escape(r.fold.label)} — in-sample (fitted): "
                    f"{html.escape(describe(r.in_sample))}; <b>out-of-sample: {html.escape(describe(r.out_of_sample))}"
                    "</b></li>" for r in study.results)
    head = (f"<h1>optimize · {html.escape(study.base.profile.name)} · {html.escape(study.name)}</h1>"
            f"<p><b>Out-of-sample, all folds: {html.escape(describe(oos)) if oos else 'none (no walk-forward)'}"
            f"</b></p><ul>{folds}</ul>"
            + "".join(f"<p>warning: {html.escape(w)}</p>" for w in warnings_of(study))
            + "".join(f"<p>note: {html.escape(n)}</p>" for n in notes))
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(study.name)}</title>"
                    f"</head><body>{head}{''.join(parts)}</body></html>", encoding="utf-8")
    return notes


def write_pngs(study: Study, folder: Path) -> tuple[list[Path], list[str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as mvis

    written: list[Path] = []
    notes: list[str] = []
    target_name = study.request.objectives[0].name
    for stem, _, draw in _views(study, mvis):
        try:
            axes = _draw(draw)
            figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
            figure.savefig(folder / f"{stem}.png", dpi=90, bbox_inches="tight")
            plt.close(figure)
            written.append(folder / f"{stem}.png")
        except Exception as exc:  # noqa: BLE001 - a missing chart is a note, not a failed study
            notes.append(f"{stem}.png: not drawn ({type(exc).__name__}: {exc})")
    rows = _is_vs_oos_rows(study)
    if rows:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r[1] for r in rows], width=0.4, label="in-sample (fitted)")
        ax.bar([x + 0.2 for x in xs], [r[2] or 0.0 for r in rows], width=0.4, label="out-of-sample")
        ax.set_xticks(list(xs), [r[0] for r in rows])
        ax.set_ylabel(target_name)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.legend()
        ax.set_title(f"{target_name}: in-sample vs out-of-sample")
        fig.savefig(folder / "is_vs_oos.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        written.append(folder / "is_vs_oos.png")
    return written, notes
