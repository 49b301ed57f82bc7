"""The statistics store (TinyDB `stats.json`) is a fold over `history.jsonl`: folded one close at a
time it equals a rebuild from the whole file, its totals equal the backtest report's metrics of the
same history, and a store that is missing, corrupt, lagging or from another history is repaired."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.bot.stats import aggregates as aggregates_module
from engine.bot.stats.aggregates import STATS_FILE, Aggregates
from engine.bot.stats.chart import equity_png
from engine.report.metrics import compute_metrics

T0 = datetime(2025, 1, 30, 22, 0, tzinfo=UTC)
HISTORY = "history.jsonl"
REASONS = ("sl", "tp1", "tp2", "tp3", "max_hold", "emergency", "manual")


def record(n: int, closed_at: datetime, hold_s: int, pnl: str, fee: str, reason: str, filled: bool = True) -> dict:
    """A closed position as the book appends it (`Position.to_dict()`, the fields that matter)."""
    return {
        "id": f"P{n}", "symbol": "BTC/USDC:USDC", "order_prefix": "ab12", "state": "closed", "side": "long",
        "plan": {"side": "long", "qty": "0.01"}, "qty": "0", "entry_price": "60000" if filled else None,
        "realised_pnl": pnl, "fees": fee, "created_at": (closed_at - timedelta(seconds=hold_s + 1)).isoformat(),
        "opened_at": (closed_at - timedelta(seconds=hold_s)).isoformat() if filled else None,
        "closed_at": closed_at.isoformat(),
        "exit_reason": reason if filled else "rejected -2019 Margin is insufficient",
        "last_seq": 3 * n,
    }


def append(folder: Path, *records: dict) -> None:
    with (folder / HISTORY).open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, separators=(",", ":")) + "\n")


def snapshot(agg: Aggregates) -> dict[str, Any]:
    """Everything the store holds, minus the bookkeeping of how far it has read."""
    s = agg.state
    return {"meta": {k: v for k, v in s.to_doc().items()}, "days": {k: b.to_doc() for k, b in s.days.items()},
            "hours": {k: b.to_doc() for k, b in s.hours.items()}, "equity": list(s.equity)}


trade = st.tuples(
    st.integers(0, 4 * 3600),  # seconds since the previous close
    st.integers(1, 3 * 3600),  # hold
    st.decimals(-50, 50, places=4, allow_nan=False, allow_infinity=False),
    st.decimals(0, 1, places=6, allow_nan=False, allow_infinity=False),
    st.sampled_from(REASONS),
    st.sampled_from([True, True, True, False]),  # mostly filled, sometimes a rejected entry
    st.integers(0, 3),  # reopen the store before this record (0) or not
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trade, max_size=40))
def test_folding_close_by_close_equals_a_rebuild_and_the_report_metrics(trades: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / HISTORY).touch()
        records, at = [], T0
        incremental = Aggregates(folder).open()
        try:
            for n, (gap, hold, pnl, fee, reason, filled, reopen) in enumerate(trades, 1):
                at += timedelta(seconds=gap)
                r = record(n, at, hold, str(pnl), str(fee), reason, filled)
                records.append(r)
                append(folder, r)
                if reopen == 0:  # a restart between two closes: the store catches up from its offset
                    incremental.close()
                    incremental = Aggregates(folder).open()
                    assert incremental.rebuilt is None
                else:
                    incremental.sync()
            incremental_state = snapshot(incremental)
        finally:
            incremental.close()
        (folder / STATS_FILE).unlink()
        with Aggregates(folder) as rebuilt:
            assert rebuilt.rebuilt == "missing"
            assert snapshot(rebuilt) == incremental_state
            with Aggregates(folder) as reopened:  # and what was written reads back the same
                assert reopened.rebuilt is None and snapshot(reopened) == incremental_state
            end = at + timedelta(hours=1)
            metrics = compute_metrics(records, Decimal(1000), T0 - timedelta(days=1), end)
            summary = rebuilt.summary(end).all_time
            assert (summary.trades, summary.wins, summary.losses) == (metrics.trades, metrics.wins, metrics.losses)
            assert summary.net_pnl == metrics.net_pnl and summary.fees == metrics.fees
            assert rebuilt.summary(end).excluded == metrics.excluded
            performance = rebuilt.performance(end, Decimal(1000), days=5)
            assert performance.avg_hold == metrics.avg_hold
            if metrics.trades:
                assert performance.equity[-1][1] == metrics.final_equity
                assert performance.equity[0][1] == Decimal(1000)
            filled = [r for r in records if r["opened_at"] is not None]
            assert performance.max_sl_streak == _max_streak(filled)


def _max_streak(filled: list[dict]) -> int:
    best = run = 0
    for r in filled:
        run = run + 1 if r["exit_reason"] == "sl" and Decimal(r["realised_pnl"]) <= 0 else 0
        best = max(best, run)
    return best


def _history(folder: Path, n: int = 6) -> list[dict]:
    records = [record(k, T0 + timedelta(minutes=37 * k), 300, f"{(-1) ** k * k}.5", "0.1", "sl" if k % 2 else "tp1")
               for k in range(1, n + 1)]
    append(folder, *records)
    return records


def test_today_and_all_time_summaries_and_the_daily_bucket(tmp_path: Path) -> None:
    _history(tmp_path)  # closes from 22:37 on Jan 30 to 01:42 on Jan 31
    with Aggregates(tmp_path) as agg:
        today = agg.summary(datetime(2025, 1, 31, 12, tzinfo=UTC))
        assert today.day == date(2025, 1, 31)
        assert (today.today.trades, today.all_time.trades) == (3, 6)
        assert today.all_time.wins == 3 and today.all_time.win_rate_pct == 50
        # P1..P6 close at 22:37, 23:14, 23:51, 00:28, 01:05, 01:42 with -1.5, 2.5, -3.5, 4.5, -5.5, 6.5
        assert today.today.net_pnl == Decimal("4.5") + Decimal("-5.5") + Decimal("6.5")
        assert today.today.wins == 2
        assert agg.day(date(2025, 1, 31)) == today.today  # as stored in TinyDB
        perf = agg.performance(datetime(2025, 1, 31, 2, 30, tzinfo=UTC), Decimal(1000), hours=6, days=3)
        assert [h.hour for h, _ in perf.hourly] == [21, 22, 23, 0, 1, 2]
        assert [v for _, v in perf.hourly] == [0, Decimal("-1.5"), Decimal("2.5") + Decimal("-3.5"),
                                              Decimal("4.5"), Decimal("-5.5") + Decimal("6.5"), 0]
        assert [d for d, _ in perf.daily] == [date(2025, 1, 29), date(2025, 1, 30), date(2025, 1, 31)]
        assert perf.avg_hold == timedelta(minutes=5)
        assert perf.sl_streak == 0 and perf.max_sl_streak == 1


@pytest.mark.parametrize("damage", ["garbage", "empty-json", "other-schema", "truncated"])
def test_a_corrupt_store_is_rebuilt_from_history(tmp_path: Path, damage: str) -> None:
    _history(tmp_path)
    with Aggregates(tmp_path) as agg:
        expected = snapshot(agg)
    path = tmp_path / STATS_FILE
    if damage == "garbage":
        path.write_bytes(b"\x00{not json")
    elif damage == "empty-json":
        path.write_text("{}")
    elif damage == "other-schema":
        data = json.loads(path.read_text())
        data["meta"]["1"]["schema"] = 999
        path.write_text(json.dumps(data))
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with Aggregates(tmp_path) as agg:
        assert agg.rebuilt is not None and agg.rebuilt != "missing"
        assert snapshot(agg) == expected


def test_a_lagging_store_catches_up_and_a_replaced_history_forces_a_rebuild(tmp_path: Path) -> None:
    records = _history(tmp_path, 4)
    with Aggregates(tmp_path) as agg:
        assert agg.summary(T0).all_time.trades == 4
    # closes appended while the store was closed (a crash between history and stats, say)
    append(tmp_path, record(5, T0 + timedelta(hours=5), 60, "-9", "0.2", "sl"))
    with Aggregates(tmp_path) as agg:
        assert agg.rebuilt is None and agg.summary(T0).all_time.trades == 5
    # a different history of the same length (a state folder restored from elsewhere)
    lines = (tmp_path / HISTORY).read_text().splitlines()
    other = [dict(json.loads(line), realised_pnl="7.0") for line in lines]
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in other)
    text = text + " " * (len("".join(line + "\n" for line in lines)) - len(text))  # same size, other bytes
    (tmp_path / HISTORY).write_text(text)
    with Aggregates(tmp_path) as agg:
        assert agg.rebuilt is not None and "history replaced" in agg.rebuilt
        assert agg.summary(T0).all_time.net_pnl == 35 and agg.summary(T0).all_time.wins == 5
    # a shorter history than what was folded
    (tmp_path / HISTORY).write_text(json.dumps(records[0], separators=(",", ":")) + "\n")
    with Aggregates(tmp_path) as agg:
        assert agg.rebuilt is not None and agg.summary(T0).all_time.trades == 1


def test_a_line_being_written_waits_for_its_newline(tmp_path: Path) -> None:
    _history(tmp_path, 2)
    with Aggregates(tmp_path) as agg:
        line = json.dumps(record(3, T0 + timedelta(hours=3), 60, "1", "0", "tp1"))
        with (tmp_path / HISTORY).open("a") as fh:
            fh.write(line[:40])
        assert agg.sync() == 0 and agg.summary(T0).all_time.trades == 2
        with (tmp_path / HISTORY).open("a") as fh:
            fh.write(line[40:] + "\n")
        assert agg.sync() == 1 and agg.summary(T0).all_time.trades == 3


def test_pruned_equity_points_keep_the_curve_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregates_module, "EQUITY_POINTS", 5)
    records = [record(k, T0 + timedelta(hours=5 * k), 60, str(k), "0", "tp1") for k in range(1, 13)]
    append(tmp_path, *records)
    with Aggregates(tmp_path) as agg:
        curve = agg.equity_curve(Decimal(100))
        assert len(agg.state.equity) == 5
        assert curve[0][1] == 100 and curve[-1][1] == 100 + sum(range(1, 13))
        times = [t for t, _ in curve]
        assert times == sorted(times)
        values = [v for _, v in curve]
        assert values == sorted(values)  # every trade won: equity only rises
        png = equity_png(curve)
        assert png.startswith(b"\x89PNG")
