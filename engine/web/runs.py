"""Backtest output folders (`backtest.json` beside `trades.csv`, `equity.png`, `journal.jsonl`) and
optimisation study folders (`trials.csv`, `best.yaml`, report HTML) found under a folder. Tolerant:
a folder that does not read as either is skipped, a file that is missing is simply not shown."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from decimal import InvalidOperation
from pathlib import Path
from typing import Any

from engine.report.metrics import Trade, parse_trades

BACKTEST_MARKER = "backtest.json"  # engine.run.backtest.MARKER (run/ is a driver: not imported from here)
TRIALS = "trials.csv"
MAX_DEPTH = 3
MAX_RUNS = 200
MAX_FOLDERS = 2000  # a state root also holds the market store's folders: the walk stops looking after these
SERVED_SUFFIXES = (".png", ".html", ".svg")


@dataclass
class Run:
    name: str  # the path under the root, with /
    folder: Path
    kind: str  # "backtest" | "study"
    info: dict[str, Any] = field(default_factory=dict)


def find_runs(root: Path | None) -> list[Run]:
    """Every run folder under `root` (itself included), at most MAX_DEPTH deep, newest first."""
    if root is None or not root.is_dir():
        return []
    found: list[Run] = []
    _walk(root, root, 0, found, [MAX_FOLDERS])
    found.sort(key=lambda r: r.folder.stat().st_mtime, reverse=True)
    return found[:MAX_RUNS]


def _walk(root: Path, folder: Path, depth: int, found: list[Run], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    run = run_at(root, folder)
    if run is not None:
        found.append(run)
        return
    if depth >= MAX_DEPTH:
        return
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for child in children:
        _walk(root, child, depth + 1, found, budget)


def run_at(root: Path, folder: Path) -> Run | None:
    name = folder.relative_to(root).as_posix() if folder != root else "."
    if (folder / BACKTEST_MARKER).is_file():
        try:
            info = json.loads((folder / BACKTEST_MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        return Run(name, folder, "backtest", info if isinstance(info, dict) else {})
    if (folder / TRIALS).is_file():
        return Run(name, folder, "study")
    return None


def resolve(root: Path | None, name: str) -> Path | None:
    """The folder or file `name` names under `root`; None when it leaves the root or does not exist."""
    if root is None:
        return None
    base = root.resolve()
    path = (base / name).resolve()
    if path != base and base not in path.parents:
        return None
    return path if path.exists() else None


def backtest_trades(folder: Path) -> list[Trade]:
    """The trades of `trades.csv` (engine.report.render.CSV_COLUMNS)."""
    path = folder / "trades.csv"
    if not path.is_file():
        return []
    records = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            records.append({"id": row.get("id", ""), "symbol": row.get("symbol", ""), "side": row.get("side", ""),
                            "plan": {"qty": row.get("qty") or "0"}, "entry_price": row.get("entry") or None,
                            "opened_at": row.get("opened_at"), "closed_at": row.get("closed_at"),
                            "exit_reason": row.get("exit_reason", ""), "realised_pnl": row.get("realised_pnl") or "0",
                            "fees": row.get("fees") or "0"})
    try:
        return parse_trades(records)[0]
    except (KeyError, ValueError, InvalidOperation):
        return []


@dataclass
class Study:
    columns: list[str]
    rows: list[dict[str, str]]  # best first
    best: dict[str, str] | None
    best_yaml: str
    reports: list[str]  # report files in the folder, by name


def read_study(folder: Path) -> Study:
    with (folder / TRIALS).open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    key = next((c for c in ("value", "values_0", "objective") if c in columns), None)
    complete = [r for r in rows if r.get("state", "COMPLETE").upper() == "COMPLETE"]
    if key is not None:
        lowest = _minimised(folder)
        # Best first whatever the direction; a failed trial (no number) last either way.
        complete.sort(key=lambda r: -_number(r.get(key)) if lowest and _number(r.get(key)) != float("-inf")
                      else _number(r.get(key)), reverse=True)
    best_yaml = folder / "best.yaml"
    reports = sorted(p.name for p in folder.iterdir() if p.suffix in SERVED_SUFFIXES)
    return Study(columns, complete, complete[0] if complete and key else None,
                 best_yaml.read_text(encoding="utf-8") if best_yaml.is_file() else "", reports)


# The optimiser's objectives that are better low (engine.optimize.objectives); the first one orders the table.
MINIMISED = frozenset({"max_drawdown_pct"})


def _minimised(folder: Path) -> bool:
    """Whether the study's first objective (summary.json) is one to minimise."""
    try:
        names = json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("objectives") or []
    except (OSError, ValueError, AttributeError):
        return False
    return bool(names) and names[0] in MINIMISED


def _number(text: str | None) -> float:
    """A trial's value for sorting; a failed or pruned trial (empty, nan) sorts last."""
    try:
        value = float(str(text))
    except ValueError:
        return float("-inf")
    return value if value == value else float("-inf")
