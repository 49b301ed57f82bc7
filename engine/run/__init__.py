"""Drivers: where candles and time come from (backtest files, paper replay, synthetic market)."""
