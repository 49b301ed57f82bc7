"""Fixtures for the venue tests: real markets and brackets from the shared data, and a small engine
factory. Tests that need the real data skip (through tests/conftest.py) when it is absent."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.venue.leverage import Brackets, load_leverage_tiers
from engine.venue.markets import Market, load_exchange_info
from engine.venue.sim import MatchingEngine


@pytest.fixture(scope="session")
def markets(mainnet_exchange_info: Path) -> dict[str, Market]:
    return load_exchange_info(mainnet_exchange_info)


@pytest.fixture(scope="session")
def brackets(shared_data: Path) -> dict[str, Brackets]:
    path = shared_data / "leverage" / "binance-leverage-tiers.json"
    if not path.is_file():
        pytest.skip(f"leverage tiers not found at {path}")
    return load_leverage_tiers(path)


@pytest.fixture
def make_engine(markets: dict[str, Market], brackets: dict[str, Brackets]) -> Callable[..., MatchingEngine]:
    """MatchingEngine on the real mainnet markets and brackets; 10 000 USDC and USDT unless told."""

    def make(**options: Any) -> MatchingEngine:
        options.setdefault("balances", {"USDC": Decimal(10_000), "USDT": Decimal(10_000)})
        return MatchingEngine(markets, brackets=brackets, **options)

    return make
