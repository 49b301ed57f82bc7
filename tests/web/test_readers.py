"""The dashboard's incremental readers: the journal index (filters, the live log's news, a line still
being written, the position shortcut) and the equity chart's thinning, which keeps the deepest drawdown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.inspect.transitions_log import LogFilter
from engine.report.metrics import Trade
from engine.store.fsio import to_json
from engine.store.sealed import seal
from engine.web.journal_index import JournalIndex
from engine.web.trades import MAX_POINTS, equity_points

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def record(seq: int, position: str, event: str, minutes: int, symbol: str = "ETH/USDC:USDC") -> bytes:
    return seal(to_json({"seq": seq, "time": (T0 + timedelta(minutes=minutes)).isoformat(), "position": position,
                         "symbol": symbol, "event": event, "from": "a", "to": "b"}))


async def test_the_index_reads_what_was_appended_and_never_half_a_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(record(1, "P1", "signal", 0) + record(2, "P1", "entry_filled", 1) + b"\0" * 64)
    index = JournalIndex(path)
    assert await index.refresh() == 2
    line = record(3, "P2", "signal", 5, "BTC/USDC:USDC")
    with path.open("r+b") as fh:  # over the preallocated padding, as the journal writes
        fh.seek(len(record(1, "P1", "signal", 0) + record(2, "P1", "entry_filled", 1)))
        fh.write(line[:20])
    assert await index.refresh() == 0, "a record being written waits for its end"
    with path.open("r+b") as fh:
        fh.seek(len(path.read_bytes().rstrip(b"\0")))
        fh.write(line[20:] + record(4, "P2", "entry_filled", 6, "BTC/USDC:USDC"))
    assert await index.refresh() == 2 and index.damage is None
    assert [e.label for e in index.select(LogFilter(), 10)] == ["4", "3", "2", "1"]
    assert [e.label for e in index.select(LogFilter(position="P1"), 10)] == ["2", "1"]
    assert [e.label for e in index.select(LogFilter(symbol="BTCUSDC"), 10)] == ["4", "3"]
    assert [e.label for e in index.select(LogFilter(event="signal"), 1)] == ["3"]
    assert [e.label for e in index.select(LogFilter(since=T0 + timedelta(minutes=2)), 10)] == ["4", "3"]
    assert [e.label for e in index.after(2, LogFilter(event="entry_filled"))] == ["4"]
    [full] = index.records(index.select(LogFilter(position="P2", event="signal"), 1))
    assert full["seq"] == 3 and full["symbol"] == "BTC/USDC:USDC"


def _trade(i: int, pnl: str) -> Trade:
    at = T0 + timedelta(minutes=i)
    return Trade(f"P{i}", "ETH/USDC:USDC", "long", Decimal(1), Decimal(100), at, at, "stop_loss", Decimal(pnl),
                 Decimal(0))


def test_a_long_equity_curve_is_thinned_but_keeps_its_deepest_drawdown_and_last_point() -> None:
    pnls = ["1"] * 5000 + ["-7"] * 1 + ["1"] * 5000
    pnls[2345] = "-40"  # the deepest fall, on a point a plain every-n-th thinning would skip
    trades = [_trade(i, p) for i, p in enumerate(pnls)]
    times, equity, drawdown = equity_points(trades, Decimal(1000))
    assert len(times) <= MAX_POINTS + 2
    full_equity = [1000.0]
    for p in pnls:
        full_equity.append(full_equity[-1] + float(p))
    assert equity[-1] == full_equity[-1] and times[-1] == trades[-1].closed_at.isoformat()
    peak = max(full_equity[:2347])
    assert min(drawdown) == (full_equity[2346] - peak) / peak * 100


async def test_requests_at_once_read_the_history_once(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """The server's first read and a first visitor overlap: each closed trade is counted once."""
    import asyncio
    import json
    import time

    import engine.web.trades as trades_module

    read = trades_module.appended_lines

    def slow_read(path: Path, start: int):  # noqa: ANN202 - a disk slow enough for two readers to overlap
        got = read(path, start)
        time.sleep(0.2)
        return got

    monkeypatch.setattr(trades_module, "appended_lines", slow_read)

    from engine.web.source import BIG_READ, Source
    from tests.positions.support import machine

    line = {"id": "P1", "symbol": "ETH/USDC:USDC", "side": "long", "plan": {"qty": "1"}, "entry_price": "100",
            "opened_at": T0.isoformat(), "closed_at": (T0 + timedelta(minutes=5)).isoformat(),
            "exit_reason": "stop_loss", "realised_pnl": "-1", "fees": "0.1", "pad": "x" * 2000}
    count = BIG_READ // 2000 + 50  # more than a big read: it goes to a worker thread
    lines = [json.dumps({**line, "id": f"P{i}"}) + "\n" for i in range(count)]
    (tmp_path / "history.jsonl").write_text("".join(lines))
    source = Source(tmp_path, machine().spec, "t")
    await asyncio.gather(source.refresh(), source.refresh(), source.refresh())
    assert len(source.trades.trades) == count


async def test_without_a_bot_today_is_the_journal_s_last_day_not_the_wall_clock_s(tmp_path: Path) -> None:
    """A replay or a backtest trades in market time: its "today" is the day of its newest record."""
    import json

    from engine.web.source import Source
    from tests.positions.support import machine

    (tmp_path / "journal.jsonl").write_bytes(record(1, "P1", "signal", 0) + record(2, "P1", "sl_filled", 30))
    trade = {"id": "P1", "symbol": "ETH/USDC:USDC", "side": "long", "plan": {"qty": "1"}, "entry_price": "100",
             "opened_at": T0.isoformat(), "closed_at": (T0 + timedelta(minutes=30)).isoformat(),
             "exit_reason": "stop_loss", "realised_pnl": "-2.5", "fees": "0.1"}
    (tmp_path / "history.jsonl").write_text(json.dumps(trade) + "\n")
    source = Source(tmp_path, machine().spec, "t")
    await source.refresh()
    assert source.now() == T0 + timedelta(minutes=30)
    figures = source.trades.figures(source.now().date())
    assert (figures.today_trades, figures.today_pnl) == (1, Decimal("-2.5"))


def test_a_study_lists_its_best_trial_first_in_its_objectives_direction(tmp_path: Path) -> None:
    from engine.web.runs import read_study

    rows = "number,value,state\n0,12.5,COMPLETE\n1,,FAIL\n2,3.0,COMPLETE\n3,,COMPLETE\n4,7.0,COMPLETE\n"
    for objective, order in (("net_pnl", ["0", "4", "2", "3"]), ("max_drawdown_pct", ["2", "4", "0", "3"])):
        folder = tmp_path / objective
        folder.mkdir()
        (folder / "trials.csv").write_text(rows)
        (folder / "summary.json").write_text(json.dumps({"objectives": [objective]}))
        study = read_study(folder)
        assert [r["number"] for r in study.rows] == order  # a trial without a value last, either way
        assert study.best is not None and study.best["number"] == order[0]
