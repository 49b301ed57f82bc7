"""What a symbol must be told on the venue before an entry: its margin mode and its leverage.

The margin mode (`orders.margin_mode`) is set once per symbol before its first entry. The leverage is
set before the first entry too, and again whenever an entry wants another one than the symbol was
last given: a leverage rule (`orders.leverage_rule`, engine.trading.leverage_rule) chooses one per
entry; with the fixed rule that happens only when a profile switch changes `orders.leverage`.
"""

from __future__ import annotations

import logging

from engine.config.profile import OrdersSection
from engine.venue.base import Venue
from engine.venue.errors import VenueError
from engine.venue.markets import Market

log = logging.getLogger("engine.trading")

_UNKNOWN = 0  # a leverage the venue refused: the symbol's own is unknown, the next rule's choice is sent


class SymbolSetup:
    """The margin mode and leverage each symbol was given. Not thread-safe: the engine loop's only."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.leverage: dict[str, int] = {}  # symbol -> the leverage last sent (prepared symbols only)

    async def prepare(self, market: Market, orders: OrdersSection, leverage: int | None = None) -> bool:
        """Make `market` ready for an entry sized at `leverage` (None: `orders.leverage`).

        False (no entry) when the venue refuses a rule's `leverage`: the plan was sized with it. A
        refused `orders.leverage` is logged and not asked again, as before the rule existed."""
        symbol, told = market.symbol, self.leverage.get(market.symbol)
        wanted = orders.leverage if leverage is None else leverage
        if told == wanted:
            return True
        if told is None:
            try:
                await self.venue.set_margin_mode(symbol, orders.margin_mode)  # type: ignore[arg-type]
            except VenueError as exc:
                log.debug("%s margin mode: %s", symbol, exc)
        try:
            await self.venue.set_leverage(symbol, wanted)
        except VenueError as exc:
            log.warning("%s leverage %s refused: %s", symbol, wanted, exc)
            if leverage is not None:
                self.leverage[symbol] = _UNKNOWN
                return False
        self.leverage[symbol] = wanted
        return True
