"""Strategies: they turn candles into Signals (values with their reasons), never into orders."""

from engine.strategy.params import Confirmation, PrimaryTrigger, ScalpingParams
from engine.strategy.scalping_v1 import ScalpingV1, signal_at, signals_frame
from engine.strategy.signal import Role, Side, Signal, Vote

__all__ = [
    "Confirmation",
    "PrimaryTrigger",
    "Role",
    "ScalpingParams",
    "ScalpingV1",
    "Side",
    "Signal",
    "Vote",
    "signal_at",
    "signals_frame",
]
