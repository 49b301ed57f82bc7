"""`python -m engine backtest` on real Binance candles, end to end through `engine.cli.main.main`.

One three-week run of BTC, ETH and SOL (USDC perpetuals on their USDT twins' candles) with a tighter
stop (0.6 %), two take-profit steps (0.3 % / 1.5 %) and a 30 minute max hold, so that positions close
by take-profit, by stop-loss and by max hold. Its output folder is then inspected like a user would:
report, trades.csv, equity.png, the journal, `log` and `diagram`, and replayed through the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.cli.main import main
from engine.config.loading import load_profile
from engine.positions.book import replay_journal
from tests.e2e.support import (
    assert_client_ids_unique,
    assert_one_stop_per_protected_position,
    assert_protect_steps,
    assert_seq_contiguous,
    history,
    journal,
    machine_for,
    make_profile,
)

FROM, TO = "2025-03-01", "2025-03-22"
SYMBOLS = ["BTC", "ETH", "SOL"]
EDITS: dict[str, Any] = {
    "orders": {"stop_loss_pct": 0.6, "take_profit": [{"at_pct": 0.3, "size_pct": 50}, {"at_pct": 1.5, "size_pct": 50}]},
    "risk": {"max_hold": "30m"},
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Run:
    def __init__(self, profile: Path, out: Path, rc: int, stdout: str, stderr: str) -> None:
        self.profile, self.out, self.rc, self.stdout, self.stderr = profile, out, rc, stdout, stderr
        self.records = journal(out)
        self.history = history(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Run:
    root = tmp_path_factory.mktemp("backtest")
    profile = make_profile(root, "bt", **EDITS)
    out = root / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["backtest", str(profile), "--data", str(shared_data), "--from", FROM, "--to", TO,
                   "--symbols", *SYMBOLS, "--out", str(out)])
    return Run(profile, out, rc, stdout.getvalue(), stderr.getvalue())


def test_backtest_exits_0_and_reports_trades_win_rate_and_kpis(run: Run) -> None:
    assert run.rc == 0, run.stderr
    text = run.stdout
    for words in ("backtest · bt · 2025-03-01 → 2025-03-22", "starting balance", "final equity", "trades",
                  "win rate", "net PnL", "max drawdown", "Per symbol", "Per exit reason", "KPIs"):
        assert words in text, f"report lacks {words!r}"
    for symbol in ("BTC/USDC:USDC", "ETH/USDC:USDC", "SOL/USDC:USDC"):
        assert symbol in text
    # the USDT twins' candles stand in for the USDC markets, and the report says so
    assert "stand in" in text
    reported = int(next(line for line in text.splitlines() if line.strip().startswith("trades ")).split()[1])
    assert reported == len(run.history) > 50


def test_output_folder_holds_trades_csv_equity_png_and_journal(run: Run) -> None:
    assert (run.out / "journal.jsonl").is_file()
    assert (run.out / "equity.png").read_bytes()[:8] == PNG_MAGIC
    with (run.out / "trades.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {"id", "symbol", "side", "exit_reason", "realised_pnl"} <= set(rows[0])
    by_id = {h["id"]: h for h in run.history}
    assert sorted(r["id"] for r in rows) == sorted(by_id)
    for row in rows:
        assert Decimal(row["realised_pnl"]) == Decimal(by_id[row["id"]]["realised_pnl"])
        assert row["exit_reason"] == by_id[row["id"]]["exit_reason"]


def test_journal_shows_entries_protection_and_every_kind_of_close(run: Run) -> None:
    records = run.records
    events = Counter(r["event"] for r in records)
    assert events["signal"] == events["entry_filled"] > 50
    assert assert_protect_steps(records) == events["entry_filled"]
    closes = Counter(r["event"] for r in records if r["to"] == "closed")
    assert closes["tp_filled"] >= 1, "no position closed by its last take-profit"
    assert closes["sl_filled"] >= 1, "no position closed by its stop-loss"
    assert events["tp_filled"] > closes["tp_filled"], "no partial take-profit"
    # max hold: open/partial_tp → closing, then the reduce-only close fills with reason max_hold
    held = {r["position"] for r in records if r["event"] == "max_hold"}
    assert held
    closed_by_hold = {r["position"] for r in records if r["event"] == "close_filled"
                      and r["payload"].get("reason") == "max_hold"}
    assert held == closed_by_hold
    reasons = Counter(h["exit_reason"] for h in run.history)
    assert reasons["max_hold"] == len(held)
    assert reasons["sl"] >= closes["sl_filled"] - closes.get("flat_confirmed", 0) > 0
    assert any(r.startswith("tp") for r in reasons)


def test_every_open_position_had_exactly_one_stop_and_no_client_id_repeats(run: Run) -> None:
    assert_seq_contiguous(run.records)
    assert_client_ids_unique(run.records)
    assert_one_stop_per_protected_position(run.records)


def test_journal_replay_equals_history(run: Run) -> None:
    replayed = replay_journal(machine_for(run.profile), run.records)
    assert all(p.state == "closed" for p in replayed.values()), "a backtest ends flat"
    assert {pid: p.to_dict() for pid, p in replayed.items()} == {h["id"]: h for h in run.history}


def test_log_and_diagram_work_on_the_backtest_output(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["log", "--state", str(run.out), "--tail", "5"]) == 0
    table = capsys.readouterr().out
    last = run.records[-1]
    assert last["position"] in table and last["event"] in table
    assert main(["log", "--state", str(run.out), "--position", "P1", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines and {r["position"] for r in lines} == {"P1"}
    assert [r["seq"] for r in lines] == [r["seq"] for r in run.records if r["position"] == "P1"]
    assert main(["log", "--state", str(run.out), "--event", "sl_filled", "--json"]) == 0
    sl = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(sl) == sum(r["event"] == "sl_filled" for r in run.records)
    assert main(["diagram", "--state", str(run.out), "--position", "P1"]) == 0
    diagram = capsys.readouterr().out
    assert "stateDiagram" in diagram
    assert "position P1: now in closed" in diagram


@pytest.fixture(scope="module")
def again(run: Run, shared_data: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The same backtest through `run_backtest`, which also answers the simulated wallet."""
    from engine.run.backtest import run_backtest

    loaded = load_profile(run.profile)
    return asyncio.run(run_backtest(loaded, shared_data, datetime.fromisoformat(FROM).replace(tzinfo=UTC),
                                    datetime.fromisoformat(TO).replace(tzinfo=UTC), symbols=SYMBOLS,
                                    out_dir=tmp_path_factory.mktemp("again") / "out"))


def _without_prefix(trade: dict[str, Any]) -> dict[str, Any]:
    # `fills` (the backtest's own, not in history.jsonl) name the orders, prefix included.
    return {k: v for k, v in trade.items()
            if k not in ("order_prefix", "order_roles", "open_orders", "intents", "fills")}


def test_backtest_is_reproducible(run: Run, again) -> None:  # noqa: ANN001
    """Same profile, data and period: the same trades (only the random per-bot order prefix differs)."""
    assert [_without_prefix(t) for t in again.trades] == [_without_prefix(h) for h in run.history]


def test_trades_add_up_to_the_venue_wallet(again) -> None:  # noqa: ANN001
    """Every fill and fee of the run is booked on some position: the sum of the trades' realised PnL
    (net of fees) equals the simulated wallet's change (no funding is simulated)."""
    booked = sum((Decimal(t["realised_pnl"]) for t in again.trades), Decimal(0))
    wallet = again.final_balance["USDC"] - Decimal(again.starting_balance)
    assert booked == wallet


def test_report_equity_of_a_two_wallet_profile_is_what_the_wallets_hold(shared_data: Path, tmp_path: Path) -> None:
    from engine.report import compute_metrics
    from engine.run.backtest import run_backtest

    # aggressive trades USDC and USDT perpetuals; one take-profit keeps fills one per candle
    profile = make_profile(tmp_path, "two-wallets", base="testaggressive",
                           orders={"take_profit": [{"at_pct": 0.5, "size_pct": 100}]})
    result = asyncio.run(run_backtest(load_profile(profile), shared_data, datetime(2025, 3, 1, tzinfo=UTC),
                                      datetime(2025, 3, 8, tzinfo=UTC), symbols=["BTC"], out_dir=tmp_path / "out"))
    assert sorted(result.final_balance) == ["USDC", "USDT"]
    assert {t["symbol"] for t in result.trades} == {"BTC/USDC:USDC", "BTC/USDT:USDT"}
    booked = sum((Decimal(t["realised_pnl"]) for t in result.trades), Decimal(0))
    held = sum(result.final_balance.values(), Decimal(0))
    funded = Decimal(result.starting_balance)  # the sum of both wallets' starting balances
    assert funded == 2 * load_profile(profile).profile.venue.starting_balance
    assert held - funded == booked  # the trades are booked right: every fill is on a position
    metrics = compute_metrics(result.trades, result.starting_balance, result.start, result.end)
    assert metrics.final_equity == held
