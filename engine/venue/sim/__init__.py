"""The simulated matching engine shared by backtest, paper and the fake Binance server."""

from engine.venue.sim.engine import FUNDING_INTERVAL_MS, FinerCandles, MatchingEngine
from engine.venue.sim.fees import DEFAULT_FEES, FeeSchedule
from engine.venue.sim.state import STATE_VERSION, StateError
from engine.venue.sim.venue import SimVenue

__all__ = [
    "DEFAULT_FEES",
    "FUNDING_INTERVAL_MS",
    "STATE_VERSION",
    "FeeSchedule",
    "FinerCandles",
    "MatchingEngine",
    "SimVenue",
    "StateError",
]
