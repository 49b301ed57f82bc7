"""What Binance changes under a running bot, through the fake's admin hooks, as the real ccxt client sees
it: a filter change, a status other than TRADING, a symbol taken out of exchangeInfo; and the fault that
refuses only closes."""

from __future__ import annotations

from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.errors import BadRequest, BadSymbol, ExchangeError

from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.binance.tests.conftest import MakeClient
from tests.fakes.binance.tests.support import BTC, ETH


def _filters(market: dict) -> dict[str, dict]:
    return {f["filterType"]: f for f in market["info"]["filters"]}


async def _holding(fake: FakeBinance, make_client: MakeClient, symbol: str, qty: float) -> ccxt_async.binanceusdm:
    """A client with markets loaded, after buying `qty` of `symbol`."""
    ex = make_client(fake)
    await ex.load_markets()
    await ex.create_order(symbol, "market", "buy", qty, None, {"clientOrderId": "e1"})
    return ex


async def _close(ex: ccxt_async.binanceusdm, symbol: str, qty: float, client_id: str) -> None:
    await ex.create_order(symbol, "market", "sell", qty, None, {"reduceOnly": True, "clientOrderId": client_id})


async def test_a_step_change_is_published_and_enforced_and_old_sizes_keep_their_digits(
    fake: FakeBinance, make_client: MakeClient
) -> None:
    ex = await _holding(fake, make_client, BTC, 0.123)
    fake.set_filters(BTC, step_size="0.01", tick_size="1", min_notional="50")
    markets = await ex.load_markets(reload=True)
    filters = _filters(markets[BTC])
    assert (filters["LOT_SIZE"]["stepSize"], filters["MARKET_LOT_SIZE"]["stepSize"]) == ("0.01", "0.01")
    assert (filters["PRICE_FILTER"]["tickSize"], filters["MIN_NOTIONAL"]["notional"]) == ("1", "50")
    assert markets[BTC]["precision"]["amount"] == 0.01
    with pytest.raises(BadRequest, match="-1111"):  # 0.123 is finer than the new step: Binance's -1111
        # (raw: ccxt itself would truncate the amount to its precision before sending)
        await ex.fapiPrivatePostOrder({"symbol": "BTCUSDC", "side": "SELL", "type": "MARKET", "quantity": "0.123",
                                       "reduceOnly": "true", "newClientOrderId": "c1"})
    [row] = await ex.fapiPrivateV3GetPositionRisk()
    assert row["positionAmt"] == "0.123", "the position keeps the size it had"
    # a reduce-only close rounded up to the new step is trimmed to the position: flat
    await _close(ex, BTC, 0.13, "c2")
    assert fake.positions() == []


async def test_a_settling_market_refuses_openings_and_fills_reduce_only(ex: ccxt_async.binanceusdm,
                                                                        fake: FakeBinance) -> None:
    await ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "e1"})
    fake.set_status(BTC, "SETTLING")
    markets = await ex.load_markets(reload=True)
    assert markets[BTC]["info"]["status"] == "SETTLING" and markets[BTC]["active"] is False
    with pytest.raises(ExchangeError, match="-4140"):
        await ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "e2"})
    await _close(ex, BTC, 0.01, "c1")
    assert fake.positions() == []


async def test_a_delisted_symbol_leaves_exchange_info_and_answers_invalid_symbol(
    fake: FakeBinance, make_client: MakeClient
) -> None:
    ex = await _holding(fake, make_client, ETH, 0.1)
    fake.delist(ETH)
    fresh = make_client(fake)
    markets = await fresh.load_markets()
    assert ETH not in markets and BTC in markets
    with pytest.raises(BadSymbol, match="-1121"):  # the client that still knows the symbol is refused
        await _close(ex, ETH, 0.1, "c1")
    rows = await fresh.fapiPrivateV3GetPositionRisk()
    assert [r["symbol"] for r in rows] == ["ETHUSDC"], "the position is still on the account"
    fake.relist(ETH)
    await _close(ex, ETH, 0.1, "c2")
    assert fake.positions() == []


async def test_reject_closes_refuses_only_reduce_only_market_orders(ex: ccxt_async.binanceusdm,
                                                                     fake: FakeBinance) -> None:
    fault = fake.inject(Fault.reject_closes())
    await ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "e1"})
    for n in range(2):
        with pytest.raises(BadRequest, match="-1111"):
            await _close(ex, BTC, 0.01, f"c{n}")
    assert fault in fake.faults.active and len(fake.fired) == 2
    assert Decimal(fake.positions()[0]["positionAmt"]) == Decimal("0.010")
