"""`optimize` end to end on real candles: outputs, best.yaml runs as is and gives the OOS figures it
reports, a rerun resumes, Ctrl+C stops cleanly, shared candles equal the files, Ray equals the pool."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli.main import main

REPO = Path(__file__).resolve().parents[2]
SPACE = REPO / "profiles" / "spaces" / "scalping.yaml"
BALANCED = REPO / "tests" / "optimize" / "base.yaml"  # the tests' fixed base (the seed's balanced)


def study_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["optimize", str(BALANCED), "--space", str(SPACE), "--data", str(data), "--from", "2025-01-01",
            "--to", "2025-01-22", "--symbols", "BTC", "ETH", "--trials", "4", "--workers", "2",
            "--walk-forward", "7d:7d", "--seed", "3", "--out", str(out), *extra]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def study(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study") / "out"
    assert main(study_args(shared_data, out)) == 0
    return out


def test_outputs(study: Path, shared_data: Path) -> None:
    for name in ("best.yaml", "trials.csv", "summary.json", "report.html", "study.journal", "history.png",
                 "importances.png", "parallel.png", "is_vs_oos.png"):
        assert (study / name).stat().st_size > 0, name
    assert not (study / "scratch").exists() or not any((study / "scratch").iterdir())  # trials cleaned up
    summary = json.loads((study / "summary.json").read_text())
    assert [f["train"][0][:10] for f in summary["folds"]] == ["2025-01-01", "2025-01-08"]
    assert [f["test"][0][:10] for f in summary["folds"]] == ["2025-01-08", "2025-01-15"]
    trials = rows(study / "trials.csv")
    assert [r["fold"] for r in trials] == ["1"] * 4 + ["2"] * 4
    assert {r["state"] for r in trials} <= {"COMPLETE", "FAIL"}
    for fold in summary["folds"]:
        best = next(r for r in trials if r["fold"] == str(fold["fold"]) and r["trial"] == str(fold["best_trial"]))
        done = [float(r["value"]) for r in trials if r["fold"] == str(fold["fold"]) and r["state"] == "COMPLETE"]
        assert float(best["value"]) == max(done)  # the best is the search's best, in-sample
        assert fold["in_sample"]["sharpe"] == pytest.approx(float(best["is_sharpe"]))
    oos = summary["out_of_sample"]
    assert oos["trades"] == sum(f["out_of_sample"]["trades"] for f in summary["folds"])
    assert oos["net_pnl"] == pytest.approx(sum(f["out_of_sample"]["net_pnl"] for f in summary["folds"]))
    page = (study / "report.html").read_text()
    assert "plotly.js v" in page and "<script src" not in page  # plotly.js inline: the page opens offline
    header = (study / "best.yaml").read_text().split("\nextends:")[0]
    assert "OUT-OF-SAMPLE, all folds" in header and "in-sample (fold 2" in header and "objective: sharpe" in header


def test_best_yaml_validates_and_runs_to_the_reported_oos(study: Path, shared_data: Path) -> None:
    from engine.config.loading import load_profile
    from engine.optimize.apply import get_key
    from engine.optimize.objectives import figures
    from engine.report.metrics import compute_metrics
    from engine.run.backtest import run_backtest

    best = study / "best.yaml"
    checked = subprocess.run([sys.executable, "-m", "engine", "--offline", "validate", str(best), "-q"], cwd=REPO,
                             capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0, checked.stderr
    summary = json.loads((study / "summary.json").read_text())
    last = summary["folds"][-1]
    loaded = load_profile(best)
    assert last["values"] and all(get_key(loaded.data, k) == v for k, v in last["values"].items())  # last fold's
    start, end = (datetime.fromisoformat(t) for t in last["test"])
    run = asyncio.run(run_backtest(loaded, shared_data, start, end, symbols=["BTC", "ETH"],
                                   out_dir=study.parent / "bt"))
    got = figures(compute_metrics(run.trades, run.starting_balance, run.start, run.end))
    assert got["trades"] == last["out_of_sample"]["trades"]
    assert got["net_pnl"] == pytest.approx(last["out_of_sample"]["net_pnl"])


def test_rerun_resumes_and_adds_no_trial(study: Path, shared_data: Path) -> None:
    import optuna

    before = (study / "trials.csv").read_text()
    assert main(study_args(shared_data, study)) == 0
    assert (study / "trials.csv").read_text() == before
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(study / "study.journal")))
    counts = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage)}
    assert sorted(counts.values()) == [4, 4] and all(name.endswith((".fold1", ".fold2")) for name in counts)


def test_shared_candles_are_the_files_mapped_once(shared_data: Path, tmp_path: Path) -> None:
    from engine.config.loading import load_profile
    from engine.market.datadir import DataDir
    from engine.optimize.shared_candles import SharedCandles, shares_memory, write_shared
    from engine.run.backtest import run_backtest
    from engine.venue.catalog import markets_for

    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 6, tzinfo=UTC)
    markets, _ = markets_for(("USDC",), shared_data)
    folder = write_shared(DataDir(shared_data), ["SOL/USDC:USDC"], markets, "5m", start, end, tmp_path / "c")
    shared = SharedCandles(shared_data, folder)
    mine = shared.load("SOL/USDC:USDC", "5m", start, end)
    theirs = DataDir(shared_data).load("SOL/USDC:USDC", "5m", start, end)
    assert mine.frame.equals(theirs.frame) and mine.candles_of == theirs.candles_of == "SOL/USDT:USDT"
    assert shares_memory(mine, shared) and not mine.frame["close"].to_numpy().flags.writeable
    loaded = load_profile(BALANCED, with_overrides=False)
    plain = asyncio.run(run_backtest(loaded, shared_data, start, end, symbols=["SOL"], out_dir=tmp_path / "a"))
    via = asyncio.run(run_backtest(loaded, shared_data, start, end, symbols=["SOL"], out_dir=tmp_path / "b",
                                   data=shared))
    assert [t["realised_pnl"] for t in via.trades] == [t["realised_pnl"] for t in plain.trades]
    assert via.fills_resolution == plain.fills_resolution and len(plain.trades) > 5


def test_ray_cluster_gives_the_same_trials_as_the_local_pool(study: Path, shared_data: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # workers use this interpreter, not `uv run`
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "ENGINE_OFFLINE": "1"}})
    try:
        assert main(study_args(shared_data, tmp_path / "ray", "--ray", "auto")) == 0
    finally:
        ray.shutdown()
    assert (tmp_path / "ray" / "trials.csv").read_text() == (study / "trials.csv").read_text()
    mine = json.loads((tmp_path / "ray" / "summary.json").read_text())
    theirs = json.loads((study / "summary.json").read_text())
    assert mine["out_of_sample"] == theirs["out_of_sample"]
    assert [f["values"] for f in mine["folds"]] == [f["values"] for f in theirs["folds"]]


def test_without_ray_installed_the_flag_says_how(shared_data: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` finds without the extra
    assert main(study_args(shared_data, tmp_path / "o", "--ray", "auto")) == 2
    assert "install the ray extra: uv sync --extra ray" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_and_the_study_resumes(shared_data: Path, tmp_path: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    out = tmp_path / "out"
    args = ["optimize", str(BALANCED), "--space", str(SPACE), "--data", str(shared_data), "--from", "2025-01-01",
            "--to", "2025-01-15", "--symbols", "BTC", "--workers", "2", "--study", "cc", "--out", str(out)]
    env = {**os.environ, "ENGINE_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "engine", *args, "--trials", "200"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal, done = out / "study.journal", 0
    deadline = time.monotonic() + 90
    try:
        while done < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if journal.exists():
                storage = JournalStorage(JournalFileBackend(str(journal)))
                try:
                    study = optuna.load_study(study_name="cc", storage=storage)
                    done = len(study.get_trials(states=(TrialState.COMPLETE,)))
                except KeyError:  # the study is not created yet
                    pass
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # only on a failure above: never leave the study running
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout and "Traceback" not in stderr
    finished = [r for r in rows(out / "trials.csv") if r["state"] == "COMPLETE"]
    assert 2 <= len(finished) < 200 and (out / "best.yaml").is_file()
    again = subprocess.run([sys.executable, "-m", "engine", *args, "--trials", str(len(finished) + 2)], cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    after = rows(out / "trials.csv")
    counted = [r for r in after if r["state"] == "COMPLETE" or (r["state"] == "FAIL" and r["note"] != "interrupted")]
    assert len(counted) == len(finished) + 2
    assert [r["trial"] for r in after if r["state"] == "COMPLETE"][:len(finished)] == [r["trial"] for r in finished]


def test_several_objectives_give_a_pareto_best_and_invalid_combinations_are_recorded(
        shared_data: Path, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("params:\n  strategy.ema_fast: {int: [5, 20]}\n  strategy.ema_slow: {int: [10, 40]}\n"
                     "  risk.max_hold: {choice: [10m, 1h]}\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["optimize", str(BALANCED), "--space", str(space), "--data", str(shared_data), "--from", "2025-01-01",
                 "--to", "2025-01-08", "--symbols", "BTC", "--trials", "6", "--workers", "2", "--seed", "2",
                 "--objective", "net_pnl,max_drawdown_pct", "--out", str(out)]) == 0
    trials = rows(out / "trials.csv")
    assert len(trials) == 6  # invalid combinations count towards --trials
    invalid = [r for r in trials if r["state"] == "FAIL"]
    assert invalid, "seed 2 draws ema_fast >= ema_slow"
    for r in invalid:
        assert int(r["strategy.ema_fast"]) >= int(r["strategy.ema_slow"])
        assert f"strategy.ema_fast={r['strategy.ema_fast']}, strategy.ema_slow={r['strategy.ema_slow']}" in r["note"]
        assert "must be below ema_slow" in r["note"]
    done = [(float(r["values_0"]), float(r["values_1"]), r["trial"]) for r in trials if r["state"] == "COMPLETE"]
    summary = json.loads((out / "summary.json").read_text())
    best = next(d for d in done if d[2] == str(summary["folds"][0]["best_trial"]))
    # on the front (more PnL, less drawdown): no finished trial is at least as good on both and better on one
    assert not any(p >= best[0] and d <= best[1] and (p, d) != best[:2] for p, d, _ in done)
    assert summary["out_of_sample"] is None and "OUT-OF-SAMPLE: none" in (out / "best.yaml").read_text()


def test_a_storage_url_holds_the_study_and_a_rerun_resumes_from_it(shared_data: Path, tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = ["optimize", str(BALANCED), "--space", str(SPACE), "--data", str(shared_data), "--from", "2025-02-01",
            "--to", "2025-02-05", "--symbols", "ETH", "--trials", "2", "--workers", "1", "--storage", url,
            "--study", "s1", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert not (tmp_path / "out" / "study.journal").exists()  # the study is in the database, not the journal
    assert main([*args[:args.index("--trials") + 1], "3", *args[args.index("--trials") + 2:]]) == 0  # one more
    trials = optuna.load_study(study_name="s1", storage=url).get_trials()
    assert [t.number for t in trials] == [0, 1, 2] and len(rows(tmp_path / "out" / "trials.csv")) == 3
