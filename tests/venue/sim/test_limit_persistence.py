"""Resting and partly filled limit orders survive a save and restore (paper trading after kill -9): the
restored engine continues exactly like the one that was saved, and states saved before limit orders
existed still restore."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from engine.venue.markets import Market
from engine.venue.sim import MatchingEngine
from engine.venue.sim.persistent import PersistentSimVenue, open_persistent
from engine.venue.types import Liquidity, OrderStatus, OrderType, Side
from tests.venue.venue_helpers import BTCUSDC

M5 = 300_000
T0 = 1_700_000_000_000 // M5 * M5

LATER = [  # (o, h, l, c, v) fed to the saved and the restored engine alike
    (59950.0, 59960.0, 59850.0, 59880.0, 0.05),  # the entry's rest fills 0.005 more
    (59880.0, 60000.0, 59870.0, 59990.0, 10.0),  # opens through it: the last 0.002
    (59990.0, 60700.0, 59980.0, 60650.0, 10.0),  # through the take-profit limit
    (60650.0, 60660.0, 59000.0, 59100.0, 10.0),  # the stop on the rest
]


def _with_a_partly_filled_entry(engine: MatchingEngine) -> None:
    engine.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 10.0)
    engine.place_limit(BTCUSDC, Side.BUY, D("0.012"), D("59900.0"), "P1-E1", post_only=True)
    engine.on_candle(BTCUSDC, T0 + M5, 60000.0, 60000.0, 59800.0, 59950.0, 0.05)  # 0.005 of 0.012
    engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.012"), D("59500.0"), "P1-SL")
    engine.place_limit(BTCUSDC, Side.SELL, D("0.006"), D("60500.0"), "P1-TP1", reduce_only=True)


def _continue(engine: MatchingEngine) -> list[Any]:
    out: list[Any] = []
    for i, (o, h, lo, c, v) in enumerate(LATER, start=2):
        out += engine.on_candle(BTCUSDC, T0 + i * M5, o, h, lo, c, v)
        out.append((engine.balance("USDC"), engine.positions(), engine.open_orders()))
    return out


def test_a_partly_filled_resting_order_restores_and_continues_identically(
    make_engine: Callable[..., MatchingEngine], markets: dict[str, Market], brackets: dict
) -> None:
    saved = make_engine()
    _with_a_partly_filled_entry(saved)
    state = json.loads(json.dumps(saved.state_dict(), allow_nan=False))
    (entry,) = [o for o in state["books"][0]["orders"] if o["client_id"] == "P1-E1"]
    assert (entry["status"], entry["filled"], entry["price"], entry["post_only"], entry["liquidity"]) == (
        "partially_filled", "0.005", "59900.0", True, "maker"
    )
    restored = MatchingEngine.from_state(markets, state, brackets=brackets)
    assert restored.open_orders() == saved.open_orders()
    assert restored.balance("USDC") == saved.balance("USDC")  # the margin the rest holds is derived again
    assert _continue(restored) == _continue(saved)
    assert restored.state_dict() == saved.state_dict()
    final = restored.fetch_order(BTCUSDC, "P1-E1", conditional=False)
    assert final is not None and (final.status, final.filled) == (OrderStatus.FILLED, D("0.012"))
    tp = restored.fetch_order(BTCUSDC, "P1-TP1", conditional=False)
    assert tp is not None and (tp.status, tp.liquidity) == (OrderStatus.FILLED, Liquidity.MAKER)


def test_paper_venue_on_disk_resumes_a_resting_order_after_a_kill(tmp_path: Path, markets: dict[str, Market]) -> None:
    path = tmp_path / "venue.json"

    def fresh() -> PersistentSimVenue:
        return PersistentSimVenue(MatchingEngine(markets, balances={"USDC": D(10_000)}))

    venue = open_persistent(path, markets, fresh)
    venue.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 10.0)
    asyncio.run(venue.place_limit(BTCUSDC, Side.BUY, D("0.012"), D("59900.0"), "P1-E1"))
    venue.on_candle(BTCUSDC, T0 + M5, 60000.0, 60000.0, 59800.0, 59950.0, 0.05)  # saved after it
    # kill -9 here: nothing but the file survives
    again = open_persistent(path, markets, fresh, existed="the journal has records")
    (order,) = asyncio.run(again.open_orders(BTCUSDC))
    assert (order.status, order.filled, order.price) == (OrderStatus.PARTIALLY_FILLED, D("0.005"), D("59900.0"))
    assert again.on_candle(BTCUSDC, T0 + M5, 60000.0, 60000.0, 59800.0, 59950.0, 0.05) == []  # fed already
    (fill,) = again.on_candle(BTCUSDC, T0 + 2 * M5, 59950.0, 59960.0, 59000.0, 59100.0, 10.0)
    assert (fill.qty, fill.order_filled) == (D("0.007"), D("0.012"))
    placed = asyncio.run(again.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("58000.0"), "P1-E2"))
    assert placed.status is OrderStatus.NEW  # place_limit saves the venue, as every changing call does
    assert json.loads(path.read_text())["engine"]["books"][0]["orders"][0]["client_id"] == "P1-E2"


def test_a_state_saved_before_limit_orders_existed_still_restores(
    make_engine: Callable[..., MatchingEngine], markets: dict[str, Market], brackets: dict
) -> None:
    saved = make_engine(slippage_bps=1)
    saved.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 10.0)
    saved.place_market(BTCUSDC, Side.BUY, D("0.010"), "P1-E1")
    saved.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.010"), D("59500.0"), "P1-SL")
    state = saved.state_dict()
    for key in ("slippage_model", "impact", "max_volume_share"):
        del state["config"][key]
    for book in state["books"]:
        del book["volume"]
        for order in book["orders"]:
            for key in ("price", "post_only", "liquidity"):
                del order[key]
    for order in state["closed_orders"]:
        for key in ("price", "post_only", "liquidity"):
            del order[key]
    restored = MatchingEngine.from_state(markets, state, brackets=brackets)
    assert restored.slippage_model == "flat" and restored.slippage == saved.slippage
    assert restored.open_orders() == saved.open_orders()
    saved.restore_state(state)  # an engine built with today's defaults takes it too
