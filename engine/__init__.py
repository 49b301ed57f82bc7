"""Declarative state-machine trading engine for Binance USD-M perpetuals."""
