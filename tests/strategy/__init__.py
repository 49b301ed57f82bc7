"""Tests of the strategy layer (engine/strategy)."""
