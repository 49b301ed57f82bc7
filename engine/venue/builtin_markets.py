"""A small built-in table of USD-M perpetuals and their filters, for running with no network and no
data files (paper trading on the synthetic market). Hand-copied from Binance mainnet exchangeInfo
(2024-10); filters change over time, so anything that talks to Binance uses Binance's own answer
instead. USDT twins use the USDC filters except where noted, which is close enough for paper trading
on a synthetic market and is said so in the run banner.
"""

from __future__ import annotations

from decimal import Decimal

from engine.venue.markets import Market, unified_symbol

# base: (tick, step, market max qty, min notional USDC, min notional USDT)
_TABLE: dict[str, tuple[str, str, str, str, str]] = {
    "BTC": ("0.1", "0.001", "25", "100", "100"),
    "ETH": ("0.01", "0.001", "400", "20", "20"),
    "BNB": ("0.010", "0.01", "400", "5", "5"),
    "SOL": ("0.0100", "0.01", "1000", "5", "5"),
    "XRP": ("0.0001", "0.1", "400000", "5", "5"),
    "DOGE": ("0.000010", "1", "400000", "5", "5"),
    "1000PEPE": ("0.0000001", "1", "4000000", "5", "5"),
    "LINK": ("0.001", "0.01", "20000", "5", "20"),
    "AVAX": ("0.0010", "1", "20000", "5", "5"),
    "LTC": ("0.01", "0.001", "5000", "5", "20"),
    "BCH": ("0.01", "0.001", "850", "5", "20"),
    "SUI": ("0.000100", "0.1", "500000", "5", "5"),
}


def builtin_markets(quotes: tuple[str, ...] = ("USDC", "USDT")) -> dict[str, Market]:
    """Markets for the given margin assets, keyed by unified symbol."""
    out: dict[str, Market] = {}
    for base, (tick, step, market_max, usdc_notional, usdt_notional) in _TABLE.items():
        for quote in quotes:
            notional = usdc_notional if quote == "USDC" else usdt_notional
            market = Market(
                symbol=unified_symbol(base, quote, quote),
                id=f"{base}{quote}",
                base=base,
                quote=quote,
                settle=quote,
                contract_type="PERPETUAL",
                status="TRADING",
                tick_size=Decimal(tick),
                min_price=Decimal(tick),
                max_price=Decimal("1000000"),
                step_size=Decimal(step),
                min_qty=Decimal(step),
                max_qty=Decimal(market_max) * 10,
                market_step_size=Decimal(step),
                market_min_qty=Decimal(step),
                market_max_qty=Decimal(market_max),
                min_notional=Decimal(notional),
                order_types=("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"),
                onboard_ms=0,
                liquidation_fee=Decimal("0.0125"),
            )
            out[market.symbol] = market
    return out
