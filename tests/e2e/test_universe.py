"""The universe rules in a backtest, end to end through `python -m engine backtest`: the candidates named
on the command line, the rules choosing among them at each rotation, a blacklisted symbol never traded
(and the report saying why), no entry on a symbol while it is out of the universe, and `backtest`
without `--data` reading the default store or saying how to fill it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.cli.main import main
from engine.market.candles import timeframe_ms
from engine.market.datadir import find_candles
from engine.market.rotation import UniverseChange
from tests.e2e.support import make_profile

FROM, TO = "2025-03-01", "2025-03-08"
SYMBOLS = ["BTC", "ETH", "SOL", "DOGE", "XRP", "BNB"]
# A tight ATR band and few slots, so that the universe really rotates over a week of 5m candles.
UNIVERSE: dict[str, Any] = {"max_symbols": 3, "min_quote_volume_24h": 20_000_000, "atr_pct_min": 0.35,
                            "atr_pct_max": 3.0, "rotation": "2h", "blacklist": ["BTCUSDC"]}


def backtest(*args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["backtest", *args])
    return rc, stdout.getvalue(), stderr.getvalue()


class Run:
    def __init__(self, out: Path, rc: int, stdout: str, stderr: str) -> None:
        self.out, self.rc, self.stdout, self.stderr = out, rc, stdout, stderr
        self.universe = json.loads((out / "universe.json").read_text()) if rc == 0 else {}
        self.changes = [UniverseChange.from_dict(c) for c in self.universe.get("changes", [])]
        with (out / "trades.csv").open(newline="") as fh:
            self.trades = list(csv.DictReader(fh)) if rc == 0 else []


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Run:
    root = tmp_path_factory.mktemp("universe")
    profile = make_profile(root, "uni", universe=UNIVERSE)
    out = root / "out"
    rc, stdout, stderr = backtest(str(profile), "--data", str(shared_data), "--from", FROM, "--to", TO,
                                  "--symbols", *SYMBOLS, "--out", str(out))
    return Run(out, rc, stdout, stderr)


def test_the_blacklisted_symbol_named_on_the_command_line_is_not_traded_and_the_report_says_why(run: Run) -> None:
    assert run.rc == 0, run.stderr
    assert "BTC/USDC:USDC is not traded: on the blacklist" in run.stdout
    assert "Universe (6 candidates" in run.stdout
    assert not [t for t in run.trades if t["symbol"] == "BTC/USDC:USDC"]
    assert all("BTC/USDC:USDC" not in c.symbols for c in run.changes)
    assert "data: " + str(Path(run.out).parent.parent) not in run.stdout  # (the shared data, named below)
    assert "data: " in run.stdout and "klines-csv" in run.stdout


def test_the_universe_rotates_within_max_symbols_and_the_report_lists_the_changes(run: Run) -> None:
    assert len(run.changes) >= 3, "the ATR band should move symbols in and out over a week"
    assert all(len(c.symbols) <= 3 for c in run.changes)
    assert run.universe["picks"] == 7 * 12  # one per 2 h boundary
    step = 2 * 3_600_000
    assert all(c.at_ms % step == 0 for c in run.changes)
    assert any(c.removed for c in run.changes[1:])
    assert f"{run.changes[1].at:%Y-%m-%d %H:%M} UTC" in run.stdout


def test_no_entry_while_a_symbol_is_out_of_the_universe_but_open_positions_run_to_their_end(run: Run) -> None:
    """Every trade opened while its symbol was in the universe; some close after it left."""
    intervals: dict[str, list[tuple[int, int | None]]] = {}
    for i, change in enumerate(run.changes):
        until = run.changes[i + 1].at_ms if i + 1 < len(run.changes) else None
        for symbol in change.symbols:
            intervals.setdefault(symbol, []).append((change.at_ms, until))
    step = timeframe_ms("5m")

    def inside(symbol: str, when_ms: int) -> bool:
        # An entry decided on the candle opening at t is sent at its close, t + step.
        return any(a <= when_ms - step and (b is None or when_ms - step < b) for a, b in intervals.get(symbol, []))

    assert len(run.trades) > 30
    closed_outside = 0
    for trade in run.trades:
        opened = int(datetime.fromisoformat(trade["opened_at"]).timestamp() * 1000)
        closed = int(datetime.fromisoformat(trade["closed_at"]).timestamp() * 1000)
        assert inside(trade["symbol"], opened), (trade["id"], trade["symbol"], trade["opened_at"])
        closed_outside += not inside(trade["symbol"], closed)
    assert closed_outside >= 1, "no position was still open when its symbol left the universe"


def test_the_pick_at_each_boundary_uses_only_candles_closed_before_it(run: Run, shared_data: Path) -> None:
    """Re-derive the first changes' ATR exclusions from candles cut at the boundary."""
    from engine.market.universe import activity_from_candles

    checked = 0
    for change in run.changes[1:4]:
        for exclusion in change.excluded:
            if exclusion.code not in ("atr_low", "atr_high"):
                continue
            base = exclusion.symbol.split("/")[0]
            frame = find_candles(shared_data, f"{base}USDT", "5m", datetime(2025, 2, 25, tzinfo=UTC),
                                 change.at).frame  # nothing at or after the boundary is even loaded
            atr_pct = activity_from_candles(frame, change.at_ms).atr_pct
            assert atr_pct is not None and f"ATR {atr_pct:.3%}" in exclusion.detail
            checked += 1
    assert checked


def test_backtest_without_data_and_an_empty_default_store_exits_2_saying_what_to_do(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, "nodata")
    rc, _, stderr = backtest(str(profile), "--from", FROM, "--to", TO, "--out", str(tmp_path / "out"))
    assert rc == 2
    assert "python -m engine download" in stderr and "--data" in stderr
    assert str(tmp_path / "state" / "market") in stderr.replace("\n", "")


def test_backtest_without_data_reads_the_default_store(tmp_path: Path, shared_data: Path) -> None:
    from engine.market.store import write_klines

    store = tmp_path / "state" / "market"
    start, end = datetime(2025, 2, 27, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC)
    for venue_id in ("ETHUSDT", "SOLUSDT"):
        frame = find_candles(shared_data, venue_id, "5m", start, end).frame
        frame = frame.drop(frame.index[600:612])  # an hour missing: the report names the gap it jumped
        write_klines(store, venue_id, "5m", frame, [(int(frame.index[0]), int(frame.index[-1]) + 300_000)])
    profile = make_profile(tmp_path, "store", venue={"quote_assets": ["USDT"]})
    rc, stdout, stderr = backtest(str(profile), "--from", "2025-03-01", "--to", "2025-03-03",
                                  "--out", str(tmp_path / "out"))
    assert rc == 0, stderr
    assert f"data: {store}" in stdout.replace("\n", "") or "the default store" in stdout
    assert "store-parquet" in stdout and "the default store" in stdout
    assert "the run jumped the gap" in stdout
    assert "ETH/USDT:USDT" in stdout and "SOL/USDT:USDT" in stdout


def test_only_blacklisted_candidates_exit_2_saying_why(tmp_path: Path, shared_data: Path) -> None:
    profile = make_profile(tmp_path, "black", universe={"blacklist": ["BTCUSDC"]})
    rc, _, stderr = backtest(str(profile), "--data", str(shared_data), "--from", FROM, "--to", "2025-03-02",
                             "--symbols", "BTC", "--out", str(tmp_path / "out"))
    assert rc == 2
    assert "BTC/USDC:USDC excluded (blacklisted): on the blacklist" in stderr.replace("\n", "")
    assert not (tmp_path / "out").exists(), "refused before the output folder is made"
