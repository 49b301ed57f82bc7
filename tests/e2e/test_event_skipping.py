"""The event-skipping backtest (engine.run.events) and the candle-by-candle loop paper uses give the same
run: the same trades CSV, the same journal (transitions and bot records, order ids aside from the random
prefix), the same final balances. On real candles for each shipped profile and for one with resting limit
entries and limit take-profits, and with the equity hard stop tight enough to fire; on generated candles
with hypothesis.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config.loading import load_profile
from engine.report import write_trades_csv
from engine.run.backtest import BacktestRun, run_backtest
from tests.e2e.support import make_profile

MAY = datetime(2025, 5, 5, tzinfo=UTC)  # the shared 1m files cover 2025-05: fills walk 1m candles too
REAL_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]
RESTING = {"entry": {"type": "limit", "post_only": True, "offset_ticks": 1, "timeout": "15m",
                     "on_timeout": "market"},
           "take_profit_type": "limit"}


def _both(profile: Path, data: Path, start: datetime, end: datetime, symbols: list[str] | None,
          out: Path) -> tuple[BacktestRun, BacktestRun]:
    loaded = load_profile(profile, with_overrides=False)
    runs = []
    for every in (False, True):
        run = asyncio.run(run_backtest(loaded, data, start, end, symbols=symbols, out_dir=out / str(every),
                                       every_candle=every))
        write_trades_csv(run.trades, run.out_dir / "trades.csv")
        runs.append(run)
    return runs[0], runs[1]


def _journal(run: BacktestRun) -> list[str]:
    """The journal's lines with the run's random order-id prefix and the checksums taken out."""
    text = (run.out_dir / "journal.jsonl").read_text()
    prefix = re.search(r'"order_prefix":"([0-9a-f]+)"', text).group(1)  # type: ignore[union-attr]
    text = re.sub(r',"crc32":\d+', "", text)
    return text.replace(f'"{prefix}-', '"PFX-').replace(f'"order_prefix":"{prefix}"', '"order_prefix":""').splitlines()


def _assert_same(skipping: BacktestRun, stepping: BacktestRun) -> None:
    assert skipping.steps == stepping.steps
    assert skipping.steps_worked < skipping.steps, "the event loop jumped nothing: no comparison was made"
    assert stepping.steps_worked == stepping.steps
    assert (skipping.out_dir / "trades.csv").read_text() == (stepping.out_dir / "trades.csv").read_text()
    a, b = _journal(skipping), _journal(stepping)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"journal line {i + 1} differs"
    assert skipping.final_balance == stepping.final_balance
    assert skipping.end == stepping.end
    assert skipping.fills_resolution == stepping.fills_resolution


# The re-tuned balanced trades rarely (an ATR gate of 0.4 %, a 4h trend filter): eight weeks of six
# symbols (the 1m files cover May and June) give it as many trades as a fortnight gives the others.
WIDER = {"days": 56, "symbols": [*REAL_SYMBOLS, "XRPUSDT", "BNBUSDT"]}


@pytest.mark.parametrize(("base", "sections", "span"), [
    ("conservative", {}, {}),
    ("balanced", {}, WIDER),
    ("aggressive", {}, {}),
    ("balanced", {"orders": RESTING}, WIDER),
    # a hard stop of 1.5 % fires inside the fortnight: the equity marks between events decide when
    ("aggressive", {"risk": {"max_drawdown_pct": 1.5}, "orders": RESTING}, {}),
])
def test_the_skipping_backtest_equals_the_candle_by_candle_one_on_real_candles(
        shared_data: Path, tmp_path: Path, base: str, sections: dict[str, Any], span: dict[str, Any]) -> None:
    profile = make_profile(tmp_path, "same", base=base, **sections)
    end = MAY + timedelta(days=span.get("days", 14))
    skipping, stepping = _both(profile, shared_data, MAY, end, span.get("symbols", REAL_SYMBOLS), tmp_path / "out")
    assert len(skipping.trades) > 10
    _assert_same(skipping, stepping)
    if "max_drawdown_pct" in sections.get("risk", {}):
        assert '"to":"stopped_out"' in (skipping.out_dir / "journal.jsonl").read_text(), "the hard stop never fired"


# --- generated candles ----------------------------------------------------------------------------

STEP_MS = 300_000
T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)


def _walk(seed: int, n: int, start: float, vol: float, gap: tuple[int, int] | None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.r_[start, close[:-1]]
    spread = np.abs(rng.normal(0, vol, n)) * close
    frame = pd.DataFrame({
        "open_time_ms": T0 + STEP_MS * np.arange(n, dtype=np.int64),
        "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": rng.uniform(50, 5000, n)})
    if gap is not None:  # a hole in one symbol's candles: the others go on
        frame = frame.drop(frame.index[gap[0]:gap[0] + gap[1]])
    return frame


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(300, 700), vol=st.sampled_from([0.002, 0.004, 0.008]),
       stop=st.sampled_from([0.3, 0.8, 1.5]), hold=st.sampled_from(["15m", "1h", "6h"]),
       resting=st.booleans(), hard_stop=st.sampled_from([None, 2.0, 6.0]),
       gap=st.one_of(st.none(), st.tuples(st.integers(50, 250), st.integers(1, 30))))
def test_the_two_loops_agree_on_generated_candles(tmp_path_factory: pytest.TempPathFactory, seed: int, n: int,
                                                  vol: float, stop: float, hold: str, resting: bool,
                                                  hard_stop: float | None, gap: tuple[int, int] | None) -> None:
    root = tmp_path_factory.mktemp("gen")
    data = root / "data"
    data.mkdir()
    _walk(seed, n, 60_000.0, vol, None).to_csv(data / "BTCUSDT-5m.csv", index=False)
    _walk(seed + 1, n, 3_000.0, vol * 1.5, gap).to_csv(data / "ETHUSDT-5m.csv", index=False)
    orders: dict[str, Any] = {"stop_loss_pct": stop, **(RESTING if resting else {})}
    profile = make_profile(root, "gen", base="testaggressive", venue={"quote_assets": ["USDT"]}, orders=orders,
                           strategy={"atr_scaled_exits": False, "atr_pct_min": 0.0},
                           risk={"max_hold": hold, "max_drawdown_pct": hard_stop})
    start = datetime.fromtimestamp(T0 / 1000, UTC)
    skipping, stepping = _both(profile, data, start, start + timedelta(minutes=5 * n), None, root / "out")
    _assert_same(skipping, stepping)
