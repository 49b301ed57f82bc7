"""The study's console report (per fold IS vs OOS, overall OOS first, stability, warnings) and the
writing of every output file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.optimize.charts import write_html, write_pngs
from engine.optimize.outputs import summary, write_best, write_summary, write_trials_csv
from engine.optimize.runner import Study


def write_outputs(study: Study) -> list[Path]:
    out = study.request.out
    shutil.rmtree(out / "scratch", ignore_errors=True)  # trials' backtest folders an abandoned batch left
    written = [write_trials_csv(study, out / "trials.csv"), write_summary(study, out / "summary.json")]
    best = write_best(study, out / "best.yaml")
    if best is not None:
        written.append(best)
    notes = write_html(study, out / "report.html")
    written.append(out / "report.html")
    pngs, png_notes = write_pngs(study, out)
    written.extend(pngs)
    if notes or png_notes:
        (out / "report-notes.txt").write_text("\n".join([*notes, *png_notes]) + "\n", encoding="utf-8")
    return written


def _cell(figures: dict[str, Any] | None, key: str, fmt: str) -> str:
    if not figures or "error" in figures or key not in figures:
        return "—"
    return format(figures[key], fmt)


def print_summary(study: Study, console: Console, written: list[Path]) -> None:
    data = summary(study)
    oos = data["out_of_sample"]
    if oos:
        console.print(f"[bold]OUT-OF-SAMPLE (all {oos['folds']} test windows):[/bold] {oos['trades']} trades, "
                      f"win-rate {oos['win_rate_pct']:.1f} %, net PnL {oos['net_pnl']:+.2f} after fees, "
                      f"max drawdown {oos['max_drawdown_pct']:.1f} %, worst day {oos['worst_day_pct']:.2f} %, "
                      f"Sharpe {oos['sharpe']:.2f}, {oos['profitable_folds']} of {oos['folds']} folds profitable")
    else:
        console.print("[bold]no out-of-sample figures[/bold] (no --walk-forward): everything below is in-sample")
    objective = study.request.objectives[0].name
    table = Table(title=f"per fold — IS = in-sample (searched), OOS = out-of-sample (objective {objective})")
    for column in ("fold", "train (IS)", "test (OOS)", "trials", f"IS {objective}", "IS net PnL", "IS trades",
                   f"OOS {objective}", "OOS net PnL", "OOS trades", "OOS win %", "OOS max DD %", "DSR"):
        table.add_column(column, justify="right")
    for r in study.results:
        f = r.fold
        test = "—" if f.test_start is None else f"{f.test_start:%Y-%m-%d}→{f.test_end:%Y-%m-%d}"
        table.add_row(str(f.index), f"{f.train_start:%Y-%m-%d}→{f.train_end:%Y-%m-%d}", test, str(len(r.trials)),
                      _cell(r.in_sample, objective, ".3g"), _cell(r.in_sample, "net_pnl", "+.2f"),
                      _cell(r.in_sample, "trades", "d"), _cell(r.out_of_sample, objective, ".3g"),
                      _cell(r.out_of_sample, "net_pnl", "+.2f"), _cell(r.out_of_sample, "trades", "d"),
                      _cell(r.out_of_sample, "win_rate_pct", ".1f"), _cell(r.out_of_sample, "max_drawdown_pct", ".1f"),
                      "—" if r.dsr is None else f"{r.dsr:.2f}")
    console.print(table)
    if len(study.results) > 1:
        stab = Table(title="stability of the chosen values across folds")
        for column in ("key", "values per fold", "spread of range", "agreement", "stable"):
            stab.add_column(column)
        for row in data["stability"]:
            stab.add_row(row["key"], ", ".join(map(str, row["values"])),
                         "—" if row["spread"] is None else f"{row['spread']:.0%}",
                         "—" if row["agreement"] is None else f"{row['agreement']:.0%}",
                         "yes" if row["stable"] else "NO")
        console.print(stab)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if study.interrupted:
        console.print("interrupted: outputs cover the trials finished so far; run the same command again to resume")
    console.print("wrote " + ", ".join(str(p) for p in written))
