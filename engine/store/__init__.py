"""Durable state: the transition journal, the live-state snapshot and the closed-trade history."""
