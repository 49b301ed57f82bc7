"""Binance's 24 h tickers for the universe rules: `GET /fapi/v1/ticker/24hr` without a symbol (weight 40),
one row per listed contract, read for its `quoteVolume` (the quote asset traded over the last 24 h)."""

from __future__ import annotations

from typing import Any


async def read_quote_volumes(exchange: Any) -> dict[str, float]:
    """Venue id → 24 h quote volume, through a ccxt `binanceusdm` (keys not needed). Rows without a
    readable volume are left out; ccxt's own errors propagate to the caller's error mapping."""
    rows = await exchange.fapiPublicGetTicker24hr()
    out: dict[str, float] = {}
    for row in rows or ():
        try:
            out[str(row["symbol"])] = float(row["quoteVolume"])
        except (KeyError, TypeError, ValueError):
            continue
    return out
