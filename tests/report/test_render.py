"""The rendered report, the trades CSV and the equity PNG."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from engine.report import check_kpis, compute_metrics, plot_equity, print_report, write_trades_csv
from engine.report.metrics import Metrics, parse_trades
from tests.report.support import BALANCE, BTC, END, START, at, closed_position, sample_history

NOTES = [
    "USDC market filters with USDT candles of the same base asset",
    "synthetic market (seed 42)",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def render(metrics: Metrics, notes: list[str] = NOTES, title: str = "balanced · backtest") -> str:
    console = Console(record=True, width=140)
    print_report(metrics, check_kpis(metrics), console, title=title, notes=notes)
    return console.export_text()


@pytest.fixture
def metrics() -> Metrics:
    return compute_metrics(sample_history(), BALANCE, START, END)


def test_report_shows_notes_first(metrics: Metrics) -> None:
    text = render(metrics)
    assert "balanced · backtest" in text
    for note in NOTES:
        assert note in text
        assert text.index(note) < text.index("Summary")


def test_report_shows_the_key_numbers(metrics: Metrics) -> None:
    text = render(metrics)
    for expected in [
        "-42.00",  # net PnL
        "6.20",  # fees
        "-0.88",  # PnL per hour: −42 / 48 h = −0.875
        "42.85 %",  # win rate, rounded down
        "80.00 (7.77 %)",  # max drawdown, % rounded up
        "2025-01-02: -52.00",  # worst day
        "5.95 % on 2025-01-02",  # worst daily drawdown
        "2025-01-01: +10.00",  # best day
        "958.00 (-4.20 %)",  # final equity
        "3 / 4",  # wins / losses
        "18m 17s",  # average hold: 128 min / 7
        "(2d 0h 0m)",  # run length
        "0.52",  # profit factor 45 / 87
    ]:
        assert expected in text, expected


def test_report_tables(metrics: Metrics) -> None:
    lines = render(metrics).splitlines()

    def row(first: str) -> str:  # the last table's row wins: "win rate" is in the summary and the KPIs
        return [line for line in lines if line.strip().startswith(first)][-1]

    # per symbol, best first
    symbols = [line.strip().split()[0] for line in lines if "/USDC:USDC" in line]
    assert symbols == ["SOL/USDC:USDC", "ETH/USDC:USDC", "BTC/USDC:USDC"]
    assert row("BTC/USDC:USDC").split()[1:] == ["3", "33.33", "%", "-35.00"]
    # per exit reason
    assert row("SL ").split() == ["SL", "2", "-80.00", "-40.00", "3.00"]  # fees of P2 (1) and P3 (2)
    assert row("TP2").split() == ["TP2", "0", "—", "—", "—"]
    assert row("other").split() == ["other", "1", "-5.00", "-5.00", "0.50", "close_requested"]
    # KPIs
    assert "✘ FAIL" in row("win rate ")
    assert "NOT all passed" in "\n".join(lines)
    assert "not trades (rejected / never filled)" in row("not trades")


def test_passing_kpis_are_marked() -> None:
    history = [closed_position("P1", BTC, "12.5", "0.4", at(1, 1), at(1, 2), "tp2")]
    text = render(compute_metrics(history, BALANCE, START, END))
    assert text.count("✔ pass") == 3 and "all passed" in text and "✘" not in text


def test_empty_run_still_renders() -> None:
    text = render(compute_metrics([], BALANCE, START, END), notes=[])
    assert "(no trades)" in text and "NOTE" not in text
    assert "0.00 %" in text and "✘ FAIL" in text


def test_pnl_of_records_that_are_not_trades_is_flagged() -> None:
    history = [closed_position("P1", BTC, "-0.05", "0.05", None, at(1, 5), "emergency")]
    text = render(compute_metrics(history, BALANCE, START, END), notes=[])
    assert "1 record(s) that are not trades carry -0.05 of PnL" in text


def test_trades_csv_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out" / "trades.csv"
    assert write_trades_csv(sample_history(), path) == 7
    frame = pd.read_csv(path, dtype=str)
    assert list(frame.columns) == [
        "id", "symbol", "side", "qty", "entry", "opened_at", "closed_at", "hold_s", "exit_reason", "realised_pnl",
        "fees", "fees_maker", "fees_taker", "fills",
    ]
    trades, _, _ = parse_trades(sample_history())
    assert list(frame["id"]) == [t.id for t in trades]
    for t, (_, row) in zip(trades, frame.iterrows(), strict=True):
        assert row["symbol"] == t.symbol and row["side"] == t.side and row["exit_reason"] == t.exit_reason
        assert Decimal(row["qty"]) == t.qty and Decimal(row["entry"]) == t.entry_price
        assert Decimal(row["realised_pnl"]) == t.realised_pnl and Decimal(row["fees"]) == t.fees
        assert pd.Timestamp(row["opened_at"]) == pd.Timestamp(t.opened_at)
        assert pd.Timestamp(row["closed_at"]) == pd.Timestamp(t.closed_at)
        assert float(row["hold_s"]) == t.hold.total_seconds()
    assert frame.loc[frame["id"] == "P3", "hold_s"].item() == "1200"
    assert frame.loc[frame["id"] == "P2", "side"].item() == "short"


def test_trades_csv_of_no_trades_has_a_header(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    assert write_trades_csv([], path) == 0
    frame = pd.read_csv(path)
    assert frame.empty and "realised_pnl" in frame.columns


@pytest.mark.parametrize("history", [sample_history(), []], ids=["trades", "empty"])
def test_equity_png(tmp_path: Path, history: list) -> None:
    metrics = compute_metrics(history, BALANCE, START, END)
    path = plot_equity(metrics, tmp_path / "plots" / "equity.png", title="balanced · backtest")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000
