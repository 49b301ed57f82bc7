"""Venues: the one interface the engine trades through (simulated, paper, Binance)."""
