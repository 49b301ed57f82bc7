"""Our backtest against freqtrade's on the same job, side by side, as whole processes.

The job: `../shared/anchors/freqtrade/ftparity.yaml` (the rules of the anchor's ScalpV1.py as a profile of
this project) on 10 USDT perpetuals, 2025-01-01 → 2025-08-31, 5m candles. Ours is the command a user runs,
`python -m engine --offline backtest PROFILE --data DIR --from … --to … --symbols … --out DIR`, with its
report, trades.csv, equity PNG and journal. freqtrade 2026.9 runs the anchor's harness (ft_offline.py,
ScalpV1, config.json) when its virtualenv's python is given; the runs are interleaved (ours, theirs, ours,
…) so both see the same machine load, and the medians are compared.

    uv run python bench/vs_freqtrade.py [--freqtrade-python ft-venv/bin/python] [--runs 3] [--data DIR]

Setting freqtrade up is described in ../shared/anchors/freqtrade/README.md (a venv with freqtrade==2026.9,
then its make_data.py into a user_data folder); pass that folder with --freqtrade-dir (default: a copy of
the anchor folder under the system's temp dir, prepared on first use with make_data.py). Without
--freqtrade-python, our figures are printed beside the anchor's recorded ones, labelled as such.
Peak memory is each child process's own maximum resident set (os.wait4).

Before timing, both interpreters' packages (and our `engine/`) are compiled to bytecode, as a first run of
each normally leaves them: where PYTHONDONTWRITEBYTECODE is set (some CI images, this project's sandboxes)
nothing would be cached and every run would compile its imports again (seconds here, more for freqtrade).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANCHOR = REPO.parent / "shared" / "anchors" / "freqtrade"
SYMBOLS = [f"{b}USDT" for b in ("BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "BCH", "ZEC", "INJ", "OP")]
START, END = "2025-01-01", "2025-08-31"
# The anchor's README, 2026-12-02 (3 runs interleaved, median), for when freqtrade is not given.
RECORDED = {"freqtrade_s": 45.8, "freqtrade_mb": 1229.0, "freqtrade_trades": 26435}


def timed(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run `cmd` to the end; (wall seconds, peak RSS MB of that process)."""
    with log.open("w") as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} … failed ({child.returncode}); see {log}")
    return wall, usage.ru_maxrss / 1024


def compile_bytecode(python: Path, *extra: Path) -> None:
    """Write the .pyc files of `python`'s installed packages (and `extra` folders) that are missing."""
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", purelib, *map(str, extra)],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def parity_profile(folder: Path) -> Path:
    """The anchor's profile with the machine it needs (it names none)."""
    text = (ANCHOR / "ftparity.yaml").read_text()
    runtime = f"runtime: {{machine: {REPO / 'machines' / 'position.yaml'}, state_dir: {folder / 'state'}}}\n"
    text = text.replace("name: ftparity\n", "name: ftparity\n" + runtime, 1)
    path = folder / "ftparity.yaml"
    path.write_text(text)
    return path


def ours(profile: Path, data: Path, out: Path, log: Path) -> tuple[float, float, int]:
    env = {**os.environ, "ENGINE_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "engine", "--offline", "backtest", str(profile), "--data", str(data),
           "--from", START, "--to", END, "--symbols", *SYMBOLS, "--out", str(out)]
    wall, mb = timed(cmd, REPO, env, log)
    trades = sum(1 for _ in (out / "trades.csv").open()) - 1
    return wall, mb, trades


def prepare_freqtrade(python: Path, folder: Path | None, data: Path) -> Path:
    if folder is not None:
        return folder
    folder = Path(tempfile.gettempdir()) / "engine-bench-freqtrade"
    if not (folder / "user_data" / "data" / "binance").is_dir():
        shutil.copytree(ANCHOR, folder, dirs_exist_ok=True)
        (folder / "user_data" / "strategies").mkdir(parents=True, exist_ok=True)
        shutil.copy(ANCHOR / "ScalpV1.py", folder / "user_data" / "strategies" / "ScalpV1.py")
        subprocess.run([str(python), "make_data.py", str(data / "klines"), "user_data/data/binance"], cwd=folder,
                       check=True, stdout=subprocess.DEVNULL)
    return folder


def freqtrade(python: Path, folder: Path, data: Path, log: Path) -> tuple[float, float, int]:
    info = sorted((data / "exchangeinfo").glob("fapi-exchangeInfo-mainnet-*.json"))
    env = {**os.environ, "FT_EXCHANGEINFO": str(info[-1])}
    cmd = [str(python), "ft_offline.py", "backtesting", "--userdir", "user_data", "--config", "config.json",
           "--strategy", "ScalpV1", "--timerange", f"{START.replace('-', '')}-{END.replace('-', '')}",
           "--export", "none", "--cache", "none"]
    wall, mb = timed(cmd, folder, env, log)
    found = re.search(r"Total/Daily Avg Trades\s*│\s*(\d+)", log.read_text())
    return wall, mb, int(found.group(1)) if found else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--freqtrade-python", type=Path, help="python of a freqtrade 2026.9 virtualenv")
    parser.add_argument("--freqtrade-dir", type=Path, help="the anchor folder with user_data prepared")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (args.data / "klines").is_dir():
        raise SystemExit(f"no candle data at {args.data} (pass --data DIR)")
    work = Path(tempfile.mkdtemp(prefix="vs-freqtrade-"))
    profile = parity_profile(work)
    ft_dir = None if args.freqtrade_python is None else prepare_freqtrade(args.freqtrade_python, args.freqtrade_dir,
                                                                          args.data)
    compile_bytecode(Path(sys.executable), REPO / "engine")
    if args.freqtrade_python is not None:
        compile_bytecode(args.freqtrade_python)
    mine: list[tuple[float, float, int]] = []
    theirs: list[tuple[float, float, int]] = []
    for i in range(args.runs):
        mine.append(ours(profile, args.data, work / f"out{i}", work / f"ours{i}.log"))
        print(f"run {i + 1}: ours {mine[-1][0]:.2f} s {mine[-1][1]:.0f} MB {mine[-1][2]} trades", flush=True)
        if ft_dir is not None:
            theirs.append(freqtrade(args.freqtrade_python, ft_dir, args.data, work / f"freqtrade{i}.log"))
            print(f"run {i + 1}: freqtrade {theirs[-1][0]:.2f} s {theirs[-1][1]:.0f} MB {theirs[-1][2]} trades",
                  flush=True)
    ours_s = statistics.median(m[0] for m in mine)
    ours_mb = max(m[1] for m in mine)
    trades = mine[-1][2]
    if theirs:
        ft_s, ft_mb, ft_trades = statistics.median(t[0] for t in theirs), max(t[1] for t in theirs), theirs[-1][2]
        source = "measured"
        print(f"freqtrade (this run, median of {len(theirs)}): {ft_s:.2f} s, {ft_mb:.0f} MB, {ft_trades} trades")
    else:
        ft_s, ft_mb, ft_trades = RECORDED["freqtrade_s"], RECORDED["freqtrade_mb"], RECORDED["freqtrade_trades"]
        source = "recorded"
        print(f"freqtrade: not run (no --freqtrade-python); the anchor's RECORDED figures (2026-12-02, not this "
              f"machine's run): {ft_s} s, {ft_mb:.0f} MB, {ft_trades} trades")
    print(f"ours (median of {len(mine)}): {ours_s:.2f} s, {ours_mb:.0f} MB peak, {trades} trades; "
          f"{ft_s / ours_s:.2f}x freqtrade's wall ({source}); logs in {work}")
    print(f"RESULT ours_s={ours_s:.2f} freqtrade_s={ft_s:.2f} ratio={ft_s / ours_s:.2f} ours_mb={ours_mb:.0f} "
          f"trades={trades} freqtrade_trades={ft_trades} freqtrade_source={source}")


if __name__ == "__main__":
    main()
