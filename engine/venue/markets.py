"""Markets and their trading filters, parsed from a Binance `GET /fapi/v1/exchangeInfo` answer.

Filters are kept as `Decimal` because they are exact decimal strings on the wire and every
quantity/price the bot sends must be an exact multiple of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# Binance marks perpetuals with this delivery date (2100-12-25); ccxt uses the same test.
PERPETUAL_DELIVERY_MS = 4133404800000


@dataclass(frozen=True, slots=True)
class Market:
    """One USD-M contract with the filters every order on it must pass."""

    symbol: str  # unified ccxt symbol, e.g. "BTC/USDC:USDC"
    id: str  # venue id, e.g. "BTCUSDC"
    base: str
    quote: str
    settle: str  # margin asset
    contract_type: str  # "PERPETUAL", "CURRENT_QUARTER", ...
    status: str  # "TRADING", "SETTLING", "PENDING_TRADING", ...
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    order_types: tuple[str, ...]
    onboard_ms: int
    liquidation_fee: Decimal

    @property
    def is_perpetual(self) -> bool:
        return self.contract_type == "PERPETUAL"

    @property
    def is_trading(self) -> bool:
        return self.status == "TRADING"


def unified_symbol(base: str, quote: str, settle: str) -> str:
    return f"{base}/{quote}:{settle}"


def _filters(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in raw.get("filters", [])}


def parse_market(raw: dict[str, Any]) -> Market:
    """Build a Market from one `exchangeInfo.symbols[]` entry. Raises KeyError on a malformed entry."""
    f = _filters(raw)
    price, lot = f["PRICE_FILTER"], f["LOT_SIZE"]
    market_lot = f.get("MARKET_LOT_SIZE", lot)
    notional = f.get("MIN_NOTIONAL", {}).get("notional", "0")
    contract_type = raw.get("contractType") or (
        "PERPETUAL" if raw.get("deliveryDate") == PERPETUAL_DELIVERY_MS else "UNKNOWN"
    )
    return Market(
        symbol=unified_symbol(raw["baseAsset"], raw["quoteAsset"], raw["marginAsset"]),
        id=raw["symbol"],
        base=raw["baseAsset"],
        quote=raw["quoteAsset"],
        settle=raw["marginAsset"],
        contract_type=contract_type,
        status=raw["status"],
        tick_size=Decimal(price["tickSize"]),
        min_price=Decimal(price["minPrice"]),
        max_price=Decimal(price["maxPrice"]),
        step_size=Decimal(lot["stepSize"]),
        min_qty=Decimal(lot["minQty"]),
        max_qty=Decimal(lot["maxQty"]),
        market_step_size=Decimal(market_lot["stepSize"]),
        market_min_qty=Decimal(market_lot["minQty"]),
        market_max_qty=Decimal(market_lot["maxQty"]),
        min_notional=Decimal(str(notional)),
        order_types=tuple(raw.get("orderTypes", ())),
        onboard_ms=int(raw.get("onboardDate", 0)),
        liquidation_fee=Decimal(str(raw.get("liquidationFee", "0"))),
    )


def parse_exchange_info(payload: dict[str, Any]) -> dict[str, Market]:
    """All markets of an exchangeInfo answer, keyed by unified symbol. Dated futures are kept too:
    selection (not parsing) decides what is tradable."""
    markets: dict[str, Market] = {}
    for raw in payload.get("symbols", []):
        market = parse_market(raw)
        if market.contract_type != "PERPETUAL":
            # ccxt names dated contracts BASE/QUOTE:SETTLE-YYMMDD; keep ours unique the same way.
            market = _replace_symbol(market, f"{market.symbol}-{raw.get('deliveryDate', 0)}")
        markets[market.symbol] = market
    return markets


def _replace_symbol(market: Market, symbol: str) -> Market:
    from dataclasses import replace

    return replace(market, symbol=symbol)


def load_exchange_info(path: Path) -> dict[str, Market]:
    """Markets from an exchangeInfo JSON file on disk."""
    with path.open("r", encoding="utf-8") as fh:
        return parse_exchange_info(json.load(fh))
