"""Optimiser throughput: trials per hour of a fixed 5-parameter space on 10 pairs × 2 months, with one
local worker and with all of them, and the memory each worker adds.

The job mirrors the freqtrade hyperopt anchor (../shared/anchors/freqtrade/README.md: ScalpV1Hyper's
four RSI bounds and the max hold over BTC ETH BNB SOL XRP DOGE BCH ZEC INJ OP, 2025-01-01 → 2025-03-01,
24 epochs with 2 workers in 125.8 s: about 690 trials per hour). Here: the seed's conservative profile
(bench/seed-conservative.yaml, fixed: the shipped one was re-tuned) with five parameters (the RSI
bounds and midline, the max hold, the stop-loss), TPE, every trial the real
backtest. The profile's equity hard stop is off unless `--keep-hard-stop`, as in bench/backtest_speed.py:
a trial the hard stop ends early measures less work than the anchor did.

Each phase is timed from the pool's start to its last trial (the candles are shared once per study
before, and that time is printed apart). Memory: every worker's peak USS (the pages only it holds:
the mapped candles and the forkserver's imports are shared) and peak RSS, sampled every 0.2 s.

    uv run python bench/optimize_throughput.py [--data DIR] [--trials N] [--workers K]
                                               [--freqtrade-python ft-venv/bin/python --freqtrade-dir DIR]

With `--freqtrade-python` (a freqtrade 2026.9 virtualenv with its hyperopt extra; `--freqtrade-dir` the
anchor folder with user_data prepared, see bench/vs_freqtrade.py), both are also timed side by side as
whole processes, the way the anchor was measured: `python -m engine optimize` (start-up, shared candles,
the study, its report) against freqtrade's `hyperopt` of ScalpV1Hyper (`-e 24 -j 2 --random-state 1`),
the same number of trials on the same pairs and months, one after the other in the same run. Without it
the anchor's recorded 690 trials/h (another day, another load) stands in, labelled as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.offline import force_offline  # noqa: E402
from engine.optimize.objectives import parse_objectives  # noqa: E402
from engine.optimize.runner import Request, prepare, run_study  # noqa: E402
from engine.optimize.walkforward import single_window  # noqa: E402
from engine.optimize.workers import LocalPool  # noqa: E402

SYMBOLS = [f"{b}USDT" for b in ("BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "BCH", "ZEC", "INJ", "OP")]
SPACE = """\
params:
  strategy.rsi_long_max: {float: [60, 85], step: 1}
  strategy.rsi_short_min: {float: [15, 40], step: 1}
  strategy.rsi_midline: {float: [45, 55], step: 1}
  risk.max_hold: {choice: [5m, 10m, 20m, 30m]}
  orders.stop_loss_pct: {float: [0.5, 3.0], step: 0.1}
"""
ANCHOR_TRIALS_PER_HOUR = 690


class _Quiet:
    def fold(self, label: str) -> None: ...
    def skip(self, done: int) -> None: ...
    def trial(self, trial: object) -> None: ...


def memory_mb(pid: int) -> tuple[float, float] | None:
    """(USS, RSS) of a process in MB from /proc/PID/smaps_rollup (Linux): USS is its private pages."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:] if line.endswith("kB")}
    return (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024, kb.get("Rss", 0) / 1024


def _sample(pool: LocalPool, peaks: dict[int, tuple[float, float]], stop: threading.Event) -> None:
    while not stop.is_set():
        for pid in pool.pids():
            now = memory_mb(pid)
            if now is not None:
                uss, rss = peaks.get(pid, (0.0, 0.0))
                peaks[pid] = (max(uss, now[0]), max(rss, now[1]))
        stop.wait(0.2)


def phase(base: Path, space: Path, data: Path, folder: Path, workers: int, trials: int, seed: int,
          start: datetime, end: datetime) -> tuple[float, float, dict[int, tuple[float, float]]]:
    req = Request(base, space, data, start, end, SYMBOLS, trials, workers, single_window(start, end),
                  parse_objectives("sharpe"), f"bench-{workers}", None, None, seed, folder)
    t0 = time.perf_counter()
    study = prepare(req)
    shared_s = time.perf_counter() - t0
    peaks: dict[int, tuple[float, float]] = {}
    stop = threading.Event()
    t1 = time.perf_counter()
    pool = LocalPool(study.context, workers)
    sampler = threading.Thread(target=_sample, args=(pool, peaks, stop), daemon=True)
    sampler.start()
    try:
        run_study(study, pool, _Quiet())
    finally:
        wall = time.perf_counter() - t1
        stop.set()
        sampler.join()
        pool.close()
    failed = [t for t in study.results[0].trials if t.state.name != "COMPLETE"]
    if failed:
        raise SystemExit(f"{len(failed)} trials failed: {failed[0].user_attrs}")
    return wall, shared_s, peaks


def side_by_side(base: Path, space: Path, args: argparse.Namespace, folder: Path, trials: int) -> tuple[float, float]:
    """Trials per hour of our optimize command and of freqtrade's hyperopt, each a whole process."""
    from vs_freqtrade import compile_bytecode, prepare_freqtrade, timed

    compile_bytecode(Path(sys.executable), REPO / "engine")
    compile_bytecode(args.freqtrade_python)
    ft_dir = prepare_freqtrade(args.freqtrade_python, args.freqtrade_dir, args.data)
    hyper = ft_dir / "user_data" / "strategies" / "ScalpV1Hyper.py"
    if not hyper.is_file():
        shutil.copy(REPO.parent / "shared" / "anchors" / "freqtrade" / "ScalpV1Hyper.py", hyper)
    env = {**os.environ, "ENGINE_OFFLINE": "1"}
    ours_cmd = [sys.executable, "-m", "engine", "--offline", "optimize", str(base), "--space", str(space),
                "--data", str(args.data), "--from", args.start, "--to", args.end, "--symbols", *SYMBOLS,
                "--trials", str(trials), "--workers", "2", "--seed", "1", "--out", str(folder / "ours")]
    ours_s, _ = timed(ours_cmd, REPO, env, folder / "ours.log")
    print(f"side by side, whole processes: ours `optimize` {trials} trials, 2 workers: {ours_s:.1f} s", flush=True)
    info = sorted((args.data / "exchangeinfo").glob("fapi-exchangeInfo-mainnet-*.json"))
    span = f"{args.start.replace('-', '')}-{args.end.replace('-', '')}"
    ft_cmd = [str(args.freqtrade_python), "ft_offline.py", "hyperopt", "--userdir", "user_data", "--config",
              "config.json", "--strategy", "ScalpV1Hyper", "--timerange", span, "--spaces", "buy", "sell",
              "stoploss", "--hyperopt-loss", "SharpeHyperOptLoss", "-e", str(trials), "-j", "2",
              "--random-state", "1", "--disable-param-export"]
    ft_s, _ = timed(ft_cmd, ft_dir, {**os.environ, "FT_EXCHANGEINFO": str(info[-1])}, folder / "freqtrade.log")
    print(f"side by side, whole processes: freqtrade hyperopt {trials} epochs, -j 2: {ft_s:.1f} s", flush=True)
    return trials / ours_s * 3600, trials / ft_s * 3600


def main() -> None:
    import optuna

    force_offline()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--from", dest="start", default="2025-01-01")
    parser.add_argument("--to", dest="end", default="2025-03-01")
    parser.add_argument("--trials", type=int, default=6, help="trials per worker in each phase (default 6)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the 'all' phase (default: cores)")
    parser.add_argument("--profile", type=Path, default=REPO / "bench" / "seed-conservative.yaml",
                        help="default: the seed's conservative profile, fixed so figures stay comparable")
    parser.add_argument("--keep-hard-stop", action="store_true")
    parser.add_argument("--freqtrade-python", type=Path, help="python of a freqtrade 2026.9 venv (hyperopt extra)")
    parser.add_argument("--freqtrade-dir", type=Path, help="the anchor folder with user_data prepared")
    parser.add_argument("--side-trials", type=int, default=24, help="trials of each side-by-side run (default 24)")
    args = parser.parse_args()
    if not (args.data / "klines").is_dir():
        raise SystemExit(f"no candle data at {args.data} (pass --data DIR)")
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    end = datetime.fromisoformat(args.end).replace(tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "profiles").mkdir()
        base = root / "profiles" / "bench.yaml"
        risk = "" if args.keep_hard_stop else "risk: {max_drawdown_pct: null, min_equity: null}\n"
        base.write_text(f"extends: {args.profile.resolve()}\nname: bench\n{risk}"
                        f"runtime: {{machine: {REPO / 'machines' / 'position.yaml'}}}\n", encoding="utf-8")
        space = root / "space.yaml"
        space.write_text(SPACE, encoding="utf-8")
        one, shared_s, _ = phase(base, space, args.data, root / "one", 1, args.trials, 1, start, end)
        n_all = args.trials * args.workers
        every, _, peaks = phase(base, space, args.data, root / "all", args.workers, n_all, 1, start, end)
        pair = None if args.freqtrade_python is None else side_by_side(base, space, args, root, args.side_trials)
    rate_1 = args.trials / one * 3600
    rate_all = n_all / every * 3600
    uss = max((p[0] for p in peaks.values()), default=0.0)
    rss = max((p[1] for p in peaks.values()), default=0.0)
    print(f"{len(SYMBOLS)} pairs {args.start} → {args.end}, 5 parameters, profile {args.profile.name}"
          + ("" if args.keep_hard_stop else " (equity hard stop off)") + f"; candles shared once in {shared_s:.1f} s")
    print(f"1 worker: {args.trials} trials in {one:.1f} s = {rate_1:,.0f} trials/h")
    print(f"{args.workers} workers: {n_all} trials in {every:.1f} s = {rate_all:,.0f} trials/h "
          f"({rate_all / rate_1:.2f}x one worker; target >= {0.8 * args.workers:.1f}x)")
    print(f"per worker: peak USS {uss:.0f} MB (its own pages), peak RSS {rss:.0f} MB (with the shared ones)")
    if pair is None:
        print(f"vs freqtrade hyperopt: not run (no --freqtrade-python); the anchor's RECORDED ~{ANCHOR_TRIALS_PER_HOUR} "
              f"trials/h (2026-12-02, 2 workers, not this machine's run): {rate_all / ANCHOR_TRIALS_PER_HOUR:.1f}x")
        print(f"RESULT trials_per_hour_1={rate_1:.0f} trials_per_hour_all={rate_all:.0f} mb_per_worker={uss:.0f}")
        return
    ours_h, ft_h = pair
    print(f"side by side ({args.side_trials} trials each, whole processes, this run): ours {ours_h:,.0f} trials/h, "
          f"freqtrade {ft_h:,.0f} trials/h: {ours_h / ft_h:.2f}x")
    print(f"RESULT trials_per_hour_1={rate_1:.0f} trials_per_hour_all={rate_all:.0f} mb_per_worker={uss:.0f} "
          f"ours_cmd_trials_per_hour={ours_h:.0f} freqtrade_trials_per_hour={ft_h:.0f} ratio={ours_h / ft_h:.2f}")


if __name__ == "__main__":
    main()
