"""The key test: one trade on REAL candles, every number worked out by hand from the candle values.

Candles: shared_data/klines/BTCUSDT-5m.csv.gz, 2023-07-04 15:00 -> 16:55 UTC (USDT candles traded
against the BTCUSDC filters, tick 0.1 step 0.001, since no USDC intraday history exists; see the data
README). Engine: 1 000 USDC, 10x isolated, USDC taker fee 0.0004, slippage 1 bp, no funding.

The candles that matter (open_time_ms, open, high, low, close):
  #29 1688482800000 30963.1 30963.2 30945.4 30953.8   <- entry at this close
  #36 1688484900000 30937.9 30954.1 30869.1 30910.4   <- lowest low before the TPs: above the stop
  #44 1688487300000 30951.6 31023.5 30934.2 31019.9   <- first high >= TP1 31020.0
  #46 1688487900000 31044.0 31145.0 31024.6 31032.8   <- first high >= TP2 31100.0
  #51 1688489400000 30917.1 30950.4 30775.1 30940.0   <- first low <= SL 30860.0 (opened above it: no gap)
No candle holds both a take-profit and the stop, so the order of events is not a matter of convention.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

from engine.venue.sim import MatchingEngine
from engine.venue.types import ExecutionKind, OrderStatus, OrderType, Side
from tests.venue.venue_helpers import BTCUSDC, read_klines

START_MS = 1688474100000  # first candle of the file (#0)


def test_entry_two_take_profits_and_a_stop_on_real_candles(
    shared_data: Path, make_engine: Callable[..., MatchingEngine]
) -> None:
    candles = read_klines(shared_data / "klines" / "BTCUSDT-5m.csv.gz", START_MS, 53)
    assert candles[29] == (1688482800000, 30963.1, 30963.2, 30945.4, 30953.8, 526.727)
    assert candles[44][:5] == (1688487300000, 30951.6, 31023.5, 30934.2, 31019.9)
    assert candles[46][:5] == (1688487900000, 31044.0, 31145.0, 31024.6, 31032.8)
    assert candles[51][:5] == (1688489400000, 30917.1, 30950.4, 30775.1, 30940.0)

    engine = make_engine(balances={"USDC": D(1000)}, slippage_bps=1)
    for candle in candles[:30]:
        assert engine.on_candle(BTCUSDC, *candle) == []

    # Entry: market buy 0.030 at the close 30953.8 + 1 bp = 30956.89538 -> ceil to tick = 30956.9
    entry = engine.place_market(BTCUSDC, Side.BUY, D("0.030"), "P1-E1")
    assert entry.average_price == D("30956.9")
    assert entry.fee == D("0.37148280")  # 0.030 * 30956.9 = 928.707; * 0.0004 = 0.3714828
    (position,) = engine.positions()
    assert position.margin == D("92.8707")  # 928.707 / 10

    engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.030"), D("30860.0"), "P1-SL")
    engine.place_conditional(
        BTCUSDC, OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("0.010"), D("31020.0"), "P1-TP1"
    )
    engine.place_conditional(
        BTCUSDC, OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("0.010"), D("31100.0"), "P1-TP2"
    )

    fills = []
    for candle in candles[30:53]:
        fills += engine.on_candle(BTCUSDC, *candle)

    assert [(f.client_id, f.kind, f.timestamp_ms) for f in fills] == [
        ("P1-TP1", ExecutionKind.TAKE_PROFIT_MARKET, 1688487300000),
        ("P1-TP2", ExecutionKind.TAKE_PROFIT_MARKET, 1688487900000),
        ("P1-SL", ExecutionKind.STOP_MARKET, 1688489400000),
    ]
    tp1, tp2, stop = fills
    # TP1: 31020.0 - 1 bp = 31016.898 -> floor to tick = 31016.8
    assert (tp1.qty, tp1.price) == (D("0.010"), D("31016.8"))
    assert tp1.fee == D("0.12406720")  # 0.010 * 31016.8 = 310.168; * 0.0004
    assert tp1.realized_pnl == D("0.59900000")  # 0.010 * (31016.8 - 30956.9) = 0.010 * 59.9
    # TP2: 31100.0 - 1 bp = 31096.89 -> 31096.8
    assert (tp2.qty, tp2.price) == (D("0.010"), D("31096.8"))
    assert tp2.fee == D("0.12438720")  # 310.968 * 0.0004
    assert tp2.realized_pnl == D("1.39900000")  # 0.010 * 139.9
    # SL: order for 0.030, trimmed to the 0.010 left; 30860.0 - 1 bp = 30856.914 -> 30856.9
    assert (stop.qty, stop.price, stop.position_after) == (D("0.010"), D("30856.9"), D("0"))
    assert stop.fee == D("0.12342760")  # 308.569 * 0.0004
    assert stop.realized_pnl == D("-1.00000000")  # 0.010 * (30856.9 - 30956.9)

    # Realised PnL 0.599 + 1.399 - 1.000 = 0.998
    # Fees 0.3714828 + 0.1240672 + 0.1243872 + 0.1234276 = 0.7433648
    # Wallet 1000 + 0.998 - 0.7433648 = 1000.2546352
    balance = engine.balance("USDC")
    assert balance.wallet.quantize(D("0.01")) == D("1000.25")
    assert balance.wallet == D("1000.2546352")
    assert balance.total == balance.wallet and balance.used == 0 and balance.free == balance.wallet
    assert engine.account_totals("USDC") == (D(1000), D("0.998"), D("0.7433648"), D(0))
    assert engine.positions() == []
    sl_state = engine.fetch_order(BTCUSDC, "P1-SL", conditional=True)
    assert sl_state is not None
    assert (sl_state.status, sl_state.filled, sl_state.triggered_ms) == (
        OrderStatus.FILLED,
        D("0.010"),
        1688489400000,
    )
    assert engine.open_orders() == []
