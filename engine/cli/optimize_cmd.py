"""`optimize PROFILE --space SPACE.yaml --from D --to D --trials N …`: a walk-forward search on Optuna.

Every trial is the real backtest of the base profile with the trial's values applied (validated like any
profile). Outputs in --out: best.yaml, trials.csv, summary.json, report.html, PNGs, the study journal.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from engine.cli.flags import non_negative_int, output_dir, positive_int
from engine.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optimize",
        help="search a profile's parameters (Optuna, walk-forward, local workers or Ray)",
        description="Search the values of a space (YAML) for a base profile with Optuna: TPE for one objective, "
        "NSGA-II for several; every trial is the real backtest. With --walk-forward, each fold searches its "
        "train window and runs its best values on the test window after it: out-of-sample figures are the "
        "headline, in-sample ones are labelled. A stopped study resumes when the command is run again.",
    )
    p.add_argument("profile", type=Path, help="the base profile")
    p.add_argument("--space", type=Path, required=True, metavar="SPACE.yaml", help="search space (profiles/spaces/)")
    p.add_argument("--data", type=Path, metavar="DIR", help="data folder; default: the store `download` fills")
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help="first day, e.g. 2025-01-01")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="end day (exclusive)")
    p.add_argument("--symbols", nargs="+", metavar="S", help="BTC ETH … (default: every market with candles)")
    p.add_argument("--trials", type=positive_int, required=True, metavar="N", help="trials per fold")
    p.add_argument("--workers", type=positive_int, metavar="K",
                   help="trials run at once (default: the cores; with --ray the cluster's CPUs); results "
                        "depend on the seed and K, not on where the trials run")
    p.add_argument("--walk-forward", metavar="TRAIN:TEST[:STEP]",
                   help="folds, e.g. 60d:30d (rolling) or 60d+:30d (anchored train); STEP defaults to TEST")
    p.add_argument("--objective", default="sharpe", metavar="NAME",
                   help="net_pnl, sharpe (default), sortino, calmar, profit_factor, win_rate_pct, max_drawdown_pct; "
                        "several separated by commas give a Pareto front")
    p.add_argument("--study", metavar="NAME", help="study name (default from profile, space and dates)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage: sqlite:///file.db, any RDB URL, or a journal file path "
                        "(default: study.journal in --out)")
    p.add_argument("--ray", metavar="auto|ADDRESS", help="run trials as Ray tasks on a cluster")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S", help="sampler seed (default 0)")
    p.add_argument("--out", type=output_dir, metavar="DIR",
                   help="output folder (default state/optimize/<study>)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `--help` and the light commands must start fast.
    import optuna

    from engine.cli.backtest_cmd import default_store, parse_window
    from engine.cli.output import console
    from engine.config.loading import load_profile
    from engine.optimize.objectives import parse_objectives
    from engine.optimize.runner import Request, prepare
    from engine.optimize.walkforward import parse_folds, single_window
    from engine.optimize.workers import RAY_MISSING, ray_missing

    start, end = parse_window(args)
    if args.ray is not None and ray_missing():  # said before any candle is shared
        raise UserError(RAY_MISSING)
    objectives = parse_objectives(args.objective)
    folds = parse_folds(args.walk_forward, start, end) if args.walk_forward else single_window(start, end)
    data_dir = args.data if args.data is not None else default_store(load_profile(args.profile, with_overrides=False))
    name = args.study or f"{args.profile.stem}-{args.space.stem}-{start:%Y%m%d}-{end:%Y%m%d}"
    out_dir = args.out or Path("state") / "optimize" / name
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = args.workers or (None if args.ray else cores)  # None: the Ray cluster's CPUs
    request = Request(args.profile, args.space, data_dir, start, end, args.symbols, args.trials, workers, folds,
                      objectives, args.study, args.storage, args.ray, args.seed, out_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar says what its info lines would
    return finish(prepare(request), console())


def finish(study, out) -> int:  # noqa: ANN001 - engine.optimize.runner.Study, rich Console
    from engine.optimize.progress import StudyProgress
    from engine.optimize.report_text import print_summary, write_outputs
    from engine.optimize.runner import run_study
    from engine.optimize.workers import open_workers

    req = study.request
    workers = open_workers(study.context, req.workers, req.ray)
    abandon = False
    try:
        with StudyProgress(out, req.trials * len(req.folds), req.objectives) as progress:
            run_study(study, workers, progress)
        abandon = study.interrupted
    except KeyboardInterrupt:
        study.interrupted = abandon = True
    finally:
        workers.close(abandon=abandon)
    written = write_outputs(study)
    print_summary(study, out, written)
    return 130 if study.interrupted else 0
