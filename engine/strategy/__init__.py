"""Strategies: they turn candles into Signals (values with their reasons), never into orders."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.strategy.params import Confirmation, PrimaryTrigger, ScalpingParams

if TYPE_CHECKING:
    from engine.strategy.scalping_v1 import ScalpingV1, signal_at, signals_frame
    from engine.strategy.signal import Role, Side, Signal, Vote

# The strategy modules pull in numpy, pandas, pandas_ta and numba; they load on first use, so that
# importing the parameters (the profile model does) keeps the light CLI commands' start-up time low.
_LAZY = {
    "ScalpingV1": "engine.strategy.scalping_v1",
    "signal_at": "engine.strategy.scalping_v1",
    "signals_frame": "engine.strategy.scalping_v1",
    "Role": "engine.strategy.signal",
    "Side": "engine.strategy.signal",
    "Signal": "engine.strategy.signal",
    "Vote": "engine.strategy.signal",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
