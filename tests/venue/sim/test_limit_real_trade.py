"""A maker trade worked out by hand on REAL candles: a resting post-only entry, two take-profit limits
resting on the book (maker), and the stop-loss (taker) on the rest, to the cent, fees by liquidity.

Candles: /work/shared/data/klines/BTCUSDT-5m.csv.gz (BTCUSDT's own candles, traded on the BTCUSDT
filters: tick 0.10, step 0.001), loaded with engine.market.datadir.DataDir, from 2023-07-04 15:00 UTC.
Engine: 1 000 USDT, 10x isolated, USDT fees maker 0.0002 / taker 0.0005, flat slippage 1 bp (taker fills
only), volume share 10 %, no funding.

The candles that matter (index, open_time_ms, open, high, low, close, volume):
  #29 1688482800000 30963.1 30963.2 30945.4 30953.8  526.727  <- entry limit placed after this close
  #30 1688483100000 30953.7 30955.0 30913.5 30939.9 1045.709  <- low 30913.5 < 30920.0: entry fills
  #31 1688483400000 30939.9 30986.6 30937.3 30972.4  672.486  <- high below TP1: nothing
  #32 1688483700000 30972.3 31007.0 30964.2 31000.7  809.157  <- high 31007.0 > 31000.0: TP1 fills
  #36 1688484900000 30937.9 30954.1 30869.1 30910.4 2281.986  <- lowest low before TP2: above the stop
  #46 1688487900000 31044.0 31145.0 31024.6 31032.8 7008.554  <- high 31145.0 > 31100.0: TP2 fills
  #51 1688489400000 30917.1 30950.4 30775.1 30940.0 8331.421  <- first low <= 30860.0: the stop fires
Each limit's candle trades 10 % of its volume far above 0.030 BTC, so nothing fills in part; no candle
holds a take-profit and the stop together.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

from engine.market.datadir import DataDir
from engine.venue.sim import MatchingEngine
from engine.venue.types import ExecutionKind, Liquidity, OrderStatus, OrderType, Side
from tests.venue.venue_helpers import BTCUSDT

START_MS = 1688474100000  # first candle of the file (#0)
M5 = 300_000


def test_resting_entry_maker_take_profits_and_the_stop_on_real_candles(
    shared_data: Path, make_engine: Callable[..., MatchingEngine]
) -> None:
    series = DataDir(shared_data).load(BTCUSDT, "5m", START_MS, START_MS + 53 * M5)
    assert not series.is_twin_fallback
    candles = [(int(r.Index), r.open, r.high, r.low, r.close, r.volume) for r in series.frame.itertuples()]
    assert len(candles) == 53
    assert candles[29] == (1688482800000, 30963.1, 30963.2, 30945.4, 30953.8, 526.727)
    assert candles[30][:4] == (1688483100000, 30953.7, 30955.0, 30913.5)
    assert candles[32][:3] == (1688483700000, 30972.3, 31007.0)
    assert candles[46][:3] == (1688487900000, 31044.0, 31145.0)
    assert candles[51][:4] == (1688489400000, 30917.1, 30950.4, 30775.1)

    engine = make_engine(balances={"USDT": D(1000)}, slippage_bps=1)
    for c in candles[:30]:
        assert engine.on_candle(BTCUSDT, *c) == []

    # Entry: post-only buy 0.030 @ 30920.0, below the last 30953.8: it rests (GTX accepted).
    entry = engine.place_limit(BTCUSDT, Side.BUY, D("0.030"), D("30920.0"), "P1-E1", post_only=True)
    assert entry.status is OrderStatus.NEW
    assert engine.balance("USDT").used == D("92.76")  # held while it rests: 0.030 * 30920.0 / 10

    (fill,) = engine.on_candle(BTCUSDT, *candles[30])  # low 30913.5 < 30920.0
    # maker at its own price: fee 0.030 * 30920.0 = 927.6; * 0.0002 = 0.18552
    assert (fill.client_id, fill.kind, fill.liquidity, fill.qty, fill.price, fill.fee) == (
        "P1-E1", ExecutionKind.LIMIT, Liquidity.MAKER, D("0.030"), D("30920.0"), D("0.18552000")
    )
    (position,) = engine.positions()
    assert (position.qty, position.entry_price, position.margin) == (D("0.030"), D("30920.0"), D("92.76"))

    # Protection, as the bot places it once the entry is filled (last price 30939.9):
    engine.place_conditional(BTCUSDT, OrderType.STOP_MARKET, Side.SELL, D("0.030"), D("30860.0"), "P1-SL")
    for cid, price in (("P1-TP1", "31000.0"), ("P1-TP2", "31100.0")):
        tp = engine.place_limit(BTCUSDT, Side.SELL, D("0.010"), D(price), cid, reduce_only=True, post_only=True)
        assert tp.status is OrderStatus.NEW

    fills = []
    for c in candles[31:53]:
        fills += engine.on_candle(BTCUSDT, *c)
    assert [(f.client_id, f.liquidity, f.timestamp_ms) for f in fills] == [
        ("P1-TP1", Liquidity.MAKER, 1688483700000),
        ("P1-TP2", Liquidity.MAKER, 1688487900000),
        ("P1-SL", Liquidity.TAKER, 1688489400000),
    ]
    tp1, tp2, stop = fills
    # TP1: 0.010 @ 31000.0 (its limit, no slippage); fee 310.0 * 0.0002 = 0.062
    assert (tp1.qty, tp1.price, tp1.fee) == (D("0.010"), D("31000.0"), D("0.06200000"))
    assert tp1.realized_pnl == D("0.80000000")  # 0.010 * (31000.0 - 30920.0) = 0.010 * 80.0
    # TP2: 0.010 @ 31100.0; fee 311.0 * 0.0002 = 0.0622
    assert (tp2.qty, tp2.price, tp2.fee) == (D("0.010"), D("31100.0"), D("0.06220000"))
    assert tp2.realized_pnl == D("1.80000000")  # 0.010 * 180.0
    # SL: for 0.030, trimmed to the 0.010 left; a taker: 30860.0 - 1 bp = 30856.914 -> floor to tick
    # 30856.90; fee 0.010 * 30856.9 = 308.569; * 0.0005 = 0.1542845
    assert (stop.qty, stop.price, stop.position_after) == (D("0.010"), D("30856.9"), D(0))
    assert stop.fee == D("0.15428450")
    assert stop.realized_pnl == D("-0.63100000")  # 0.010 * (30856.9 - 30920.0) = 0.010 * -63.1

    # Realised PnL: 0.80 + 1.80 - 0.631 = 1.969
    # Fees: maker 0.18552 + 0.062 + 0.0622 = 0.30972; taker 0.1542845; total 0.4640045
    # Net: 1.969 - 0.4640045 = 1.5049955 -> wallet 1 001.5049955, i.e. 1 001.50 to the cent
    initial, pnl, fees, funding = engine.account_totals("USDT")
    assert (initial, pnl, fees, funding) == (D(1000), D("1.969"), D("0.4640045"), D(0))
    maker_fees = sum(e.fee for e in engine.executions if e.liquidity is Liquidity.MAKER)
    taker_fees = sum(e.fee for e in engine.executions if e.liquidity is Liquidity.TAKER)
    assert (maker_fees, taker_fees) == (D("0.30972"), D("0.1542845"))
    balance = engine.balance("USDT")
    assert balance.wallet == D("1001.5049955")
    assert balance.wallet.quantize(D("0.01")) == D("1001.50")
    assert balance.used == 0 and engine.positions() == [] and engine.open_orders() == []
    # the stop was for 0.030: once trimmed and filled, it is done
    sl = engine.fetch_order(BTCUSDT, "P1-SL", True)
    assert sl is not None and (sl.status, sl.filled) == (OrderStatus.FILLED, D("0.010"))
