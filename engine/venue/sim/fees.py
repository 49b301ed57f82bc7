"""Trading fees of the simulator. They are parameters, not facts: pass your own schedule per quote asset
(VIP tiers, BNB discounts and promotions change them). The defaults are Binance USD-M's regular-user
rates: USDT-margined taker 0.05 % / maker 0.02 %; USDC-margined taker 0.04 % / maker 0 %."""

from __future__ import annotations

from decimal import Decimal

from engine.values import value


@value
class FeeSchedule:
    """Fee rates as fractions of notional (0.0005 = 5 bps)."""

    maker: Decimal
    taker: Decimal


DEFAULT_FEES: dict[str, FeeSchedule] = {
    "USDT": FeeSchedule(maker=Decimal("0.0002"), taker=Decimal("0.0005")),
    "USDC": FeeSchedule(maker=Decimal("0"), taker=Decimal("0.0004")),
}
