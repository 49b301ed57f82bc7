"""A backtest output folder and an optimisation study folder as their commands leave them (the files
the dashboard reads: backtest.json, trades.csv, journal.jsonl; trials.csv, best.yaml)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.positions.book import PositionBook
from engine.report.render import write_trades_csv
from tests.positions.support import machine

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# (symbol, side, pnl, exit reason): 3 wins of 4, net +9.5
TRADES = (("BTC/USDC:USDC", "long", "6.5", "take_profit_1"), ("ETH/USDC:USDC", "short", "-4.0", "stop_loss"),
          ("BTC/USDC:USDC", "short", "3.0", "take_profit_2"), ("SOL/USDC:USDC", "long", "4.0", "max_hold"))


def backtest_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    book = PositionBook(machine(), folder)  # the run's journal (a backtest writes one; `log` reads it)
    book.open()
    book.close()
    (folder / "backtest.json").write_text(json.dumps({"profile": "balanced", "from": T0.isoformat(),
                                                      "to": (T0 + timedelta(days=2)).isoformat(),
                                                      "symbols": ["BTC/USDC:USDC", "ETH/USDC:USDC"]}))
    records = []
    for i, (symbol, side, pnl, reason) in enumerate(TRADES, start=1):
        opened = T0 + timedelta(hours=6 * i)
        records.append({"id": f"P{i}", "symbol": symbol, "side": side, "plan": {"qty": "0.1"}, "entry_price": "100",
                        "opened_at": opened.isoformat(), "closed_at": (opened + timedelta(hours=1)).isoformat(),
                        "exit_reason": reason, "realised_pnl": pnl, "fees": "0.25"})
    write_trades_csv(records, folder / "trades.csv")
    return folder


def net_pnl() -> Decimal:
    return sum((Decimal(t[2]) for t in TRADES), Decimal(0))


def study_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "trials.csv").write_text("number,value,state,params_orders.stop_loss_pct\n"
                                       "0,12.5,COMPLETE,1.0\n1,48.25,COMPLETE,0.8\n2,,FAIL,0.5\n3,nan,COMPLETE,2.0\n")
    (folder / "best.yaml").write_text("extends: balanced.yaml\norders:\n  stop_loss_pct: 0.8\n")
    return folder
