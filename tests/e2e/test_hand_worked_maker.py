"""A maker trade worked out by hand on REAL candles, through the real backtest path (`run_backtest`: the
profile, sizing on the market's filters, the position machine, the simulated venue's fill model, the
closed-position record with its fills): a post-only limit entry rests and fills as the maker, a limit
take-profit fills as the maker, the stop takes the rest as the taker. Asserted to the cent.

Market: BTCUSDT (USDT-margined: maker 0.02 %, taker 0.05 %, the profile's default fee tier), mainnet
filters from the shared exchangeInfo (tick 0.10, step 0.001, min notional 100), candles
/work/shared/data/klines/BTCUSDT-5m.csv.gz, 2023-07-04 (UTC), no finer candles there, no funding data.
Profile: balanced, USDT, 1 000 starting balance, `venue.slippage_bps: 0` (pinned: the default is becoming
market-aware), sizing fixed: stake 100 × leverage 5, stop 0.5 % (kept after the take-profit), take-profits
+0.3 % (50 %) and +1.5 % (50 %), entry {limit, post_only, offset_ticks 0, timeout 30m}, take_profit_type
limit, max hold 6 h. The signal is forced at one candle by a test-only signal source standing in for the
strategy (`OneSignal`); everything after it is the production path.

The candles that matter (open UTC, open, high, low, close, volume):
  15:00  30963.1 30963.2 30945.4 30953.8   526.727  <- the signal candle: long at its close 30953.8
  15:05  30953.7 30955.0 30913.5 30939.9  1045.709  <- low 30913.5 < 30953.8: the resting entry fills
  15:35  30937.9 30954.1 30869.1 30910.4  2281.986  <- the lowest low before TP1, above the stop
  16:15  30951.6 31023.5 30934.2 31019.9  2616.003  <- the highest high before TP1 fills: below it
  16:20  31019.9 31055.0 31016.2 31044.0  1682.149  <- high 31055.0 > 31046.6: TP1 fills
  16:50  30917.1 30950.4 30775.1 30940.0  8331.421  <- low 30775.1 <= 30799.1: the stop fires
No candle in between trades through another order's price; TP2 (31418.1) is never reached; a tenth of
each filling candle's volume is far above the 0.016 BTC, so nothing fills in part.

By hand:
  entry price 30953.8 (the close, 0 ticks away); qty = 100 × 5 / 30953.8 = 0.016153… -> step 0.001: 0.016
  stop  30953.8 × (1 - 0.005) = 30799.031 -> toward the entry, on the tick: 30799.1
  TP1   30953.8 × 1.003 = 31046.6614 -> toward the entry: 31046.6, qty 0.016 × 50 % = 0.008
  TP2   30953.8 × 1.015 = 31418.107  -> 31418.1, qty 0.008 (never fills; cancelled at the close)
  entry  maker 0.016 × 30953.8 = 495.2608;  fee × 0.0002 = 0.09905216
  TP1    maker 0.008 × 31046.6 = 248.3728;  fee × 0.0002 = 0.04967456;  pnl 0.008 × (+92.8)  = +0.7424
  stop   taker 0.008 × 30799.1 = 246.3928;  fee × 0.0005 = 0.1231964;   pnl 0.008 × (-154.7) = -1.2376
         (its candle opens at 30917.1, above the trigger: it fills at the trigger, no slippage)
  gross 0.7424 - 1.2376 = -0.4952; fees 0.09905216 + 0.04967456 + 0.1231964 = 0.27192312
  (maker 0.14872672, taker 0.1231964); net -0.4952 - 0.27192312 = -0.76712312
  wallet 1000 - 0.76712312 = 999.23287688 -> 999.23 to the cent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import engine.run.backtest as backtest
from engine.config.loading import load_profile
from engine.market.candles import Row
from engine.strategy.signal import Side, Signal
from tests.e2e.support import journal, make_profile

BTC = "BTC/USDT:USDT"
SIGNAL_MS = 1688482800000  # 2023-07-04 15:00 UTC: the signal candle


class OneSignal:
    """A test-only signal source in place of the strategy's (`VectorSignals(candles, params)`): one long at
    the close of the candle opening at SIGNAL_MS, nothing else."""

    def __init__(self, candles: Any, params: Any) -> None:
        self.symbols = list(candles)

    def signal_times(self) -> dict[str, list[int]]:  # where the backtest's event loop must stop for a signal
        return {symbol: [SIGNAL_MS] for symbol in self.symbols}

    def on_candle(self, symbol: str, open_ms: int, row: Row) -> Signal | None:
        if open_ms != SIGNAL_MS:
            return None
        return Signal(symbol, Side("long"), open_ms, row[3], 0.1, (), "long: the hand-worked trade")


def hand_profile(root: Path) -> Path:
    return make_profile(
        root, "hand",
        venue={"quote_assets": ["USDT"], "slippage_bps": 0, "starting_balance": 1000},
        orders={"sizing": "fixed", "stake": 100, "leverage": 5, "stop_loss_pct": 0.5, "stop_after_tp": "keep",
                "take_profit": [{"at_pct": 0.3, "size_pct": 50}, {"at_pct": 1.5, "size_pct": 50}],
                "entry": {"type": "limit", "post_only": True, "offset_ticks": 0, "timeout": "30m",
                          "on_timeout": "abandon"},
                "take_profit_type": "limit"},
        risk={"max_hold": "6h"})


def test_a_resting_entry_a_maker_take_profit_and_the_stop_to_the_cent(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backtest, "VectorSignals", OneSignal)
    loaded = load_profile(hand_profile(tmp_path))
    fees = loaded.profile.venue.fees["USDT"]
    assert (fees.maker_pct, fees.taker_pct) == (0.02, 0.05)  # the default USDT tier: the maker fee is not zero
    run = asyncio.run(backtest.run_backtest(loaded, shared_data, datetime(2023, 7, 4, 14, tzinfo=UTC),
                                            datetime(2023, 7, 4, 18, tzinfo=UTC), symbols=[BTC],
                                            out_dir=tmp_path / "out"))

    [trade] = run.trades
    assert (trade["symbol"], trade["side"], trade["exit_reason"]) == (BTC, "long", "sl")
    assert D(trade["entry_price"]) == D("30953.8")
    # placed at the signal candle's close, filled at the next one's: it rested on the book
    assert (trade["created_at"], trade["opened_at"], trade["closed_at"]) == (
        "2023-07-04T15:05:00+00:00", "2023-07-04T15:10:00+00:00", "2023-07-04T16:55:00+00:00")
    fills = [(f["role"], f["type"], D(f["qty"]), D(f["price"]), D(f["fee"]), f["liquidity"]) for f in trade["fills"]]
    assert fills == [
        ("entry", "limit", D("0.016"), D("30953.8"), D("0.09905216"), "maker"),
        ("tp1", "limit", D("0.008"), D("31046.6"), D("0.04967456"), "maker"),
        ("sl", "stop_market", D("0.008"), D("30799.1"), D("0.1231964"), "taker"),
    ]
    maker = sum(fee for *_, fee, liquidity in fills if liquidity == "maker")
    taker = sum(fee for *_, fee, liquidity in fills if liquidity == "taker")
    assert (maker, taker) == (D("0.14872672"), D("0.1231964"))
    assert D(trade["fees"]) == D("0.27192312")
    assert D(trade["realised_pnl"]) == D("-0.76712312")  # 0.7424 - 1.2376 - 0.27192312, net of fees
    assert run.final_balance["USDT"] == D("999.23287688")
    assert run.final_balance["USDT"].quantize(D("0.01")) == D("999.23")

    # the machine's path: the entry rested, TP1 filled (the stop resized to what is left, at its price), the stop
    records = journal(tmp_path / "out")
    assert [(r["event"], r["from"], r["to"]) for r in records] == [
        ("signal", "idle", "resting"), ("entry_filled", "resting", "open"),
        ("tp_filled", "open", "partial_tp"), ("sl_filled", "partial_tp", "closed")]
    entry = records[0]["intents"][0]
    assert (entry["kind"], D(entry["price"]), D(entry["qty"])) == ("entry", D("30953.8"), D("0.016"))
    protect = [(i["kind"], D(i["price"]), D(i["qty"])) for i in records[1]["intents"]]
    assert protect == [("stop_loss", D("30799.1"), D("0.016")), ("take_profit", D("31046.6"), D("0.008")),
                       ("take_profit", D("31418.1"), D("0.008"))]
    resized = records[2]["intents"][0]
    assert (resized["kind"], D(resized["price"]), D(resized["qty"])) == ("stop_loss", D("30799.1"), D("0.008"))
