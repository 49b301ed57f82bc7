"""An order intent fitted to its market's filters as they are now.

Binance changes a market's filters now and then (a coarser step, a new tick, a higher MIN_NOTIONAL) under
open positions and resting orders. An intent sized on the old filters is then refused (-1111, -1013,
-4164, ...); the executor re-reads the markets and sends it once more, fitted here:

- a reduce-only close or stop-loss is rounded UP to the step: the venue trims a reduce-only order to the
  position, so rounding up still closes (or covers) exactly what is held, where rounding down would leave
  a sliver no order could ever close;
- an entry or a take-profit slice is rounded DOWN (never more than sized);
- a trigger price is rounded toward the entry (a stop never further away, a take-profit never further
  out), as sizing rounds it (`engine.venue.filters`).

The intent in the journal keeps what was asked; the fill that comes back says what was done.
"""

from __future__ import annotations

from dataclasses import replace

from engine.positions.model import Intent, IntentKind
from engine.venue.filters import (
    TriggerKind,
    ceil_to_step,
    check_price,
    check_quantity,
    floor_qty,
    round_trigger_price,
)
from engine.venue.markets import Market
from engine.venue.types import PositionSide, Side

_TRIGGER = {IntentKind.STOP_LOSS: TriggerKind.STOP_LOSS, IntentKind.TAKE_PROFIT: TriggerKind.TAKE_PROFIT}
_ROUND_UP = frozenset({IntentKind.CLOSE, IntentKind.STOP_LOSS})


def refit(intent: Intent, market: Market) -> Intent | None:
    """The intent with quantity (and trigger price) on `market`'s filters; None when it already fits them
    (sending it again would be refused again) or cannot fit them at all (below the minimum, ...)."""
    if intent.kind is IntentKind.CANCEL:
        return None
    step = market.market_step_size  # every order the engine sends is a market or stop/take-profit market
    qty = ceil_to_step(intent.qty, step) if intent.kind in _ROUND_UP else floor_qty(market, intent.qty)
    price = intent.price
    kind = _TRIGGER.get(intent.kind)
    if kind is not None and price is not None:
        # Exits: a sell protects a long position, a buy a short one.
        side = PositionSide.LONG if intent.side is Side.SELL else PositionSide.SHORT
        price = round_trigger_price(market, price, position_side=side, kind=kind)
        if check_price(market, price) is not None:
            return None
    if check_quantity(market, qty, market_order=True) is not None:
        return None
    if qty == intent.qty and price == intent.price:
        return None
    return replace(intent, qty=qty, price=price)
