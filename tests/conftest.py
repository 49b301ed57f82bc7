"""Shared fixtures. The whole suite runs offline: nothing may reach Binance or Telegram."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.offline import force_offline

force_offline()
pytest_plugins = ["tests.fakes.binance.fixture"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "ENGINE_SHARED_DATA"


def shared_data_path() -> Path:
    return Path(os.environ.get(SHARED_DATA_ENV, REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real Binance market data beside the project; tests that need it skip with the reason."""
    path = shared_data_path()
    if not (path / "klines").is_dir():
        pytest.skip(f"real market data not found at {path} (set {SHARED_DATA_ENV} to its folder)")
    return path


@pytest.fixture(scope="session")
def mainnet_exchange_info(shared_data: Path) -> Path:
    path = shared_data / "exchangeinfo" / "fapi-exchangeInfo-mainnet-2024-10-20.json"
    if not path.is_file():
        pytest.skip(f"mainnet exchangeInfo snapshot not found at {path}")
    return path
