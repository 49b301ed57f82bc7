"""Fixtures for the fake Binance's own tests: a synthetic (always available, deterministic) fake and real
ccxt clients pointed at it, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.fakes.binance import FakeBinance
from tests.fakes.binance.fixture import ccxt_client

MakeClient = Callable[..., ccxt_async.binanceusdm]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[ccxt_async.binanceusdm] = []

    def make(fake: FakeBinance, **options: Any) -> ccxt_async.binanceusdm:
        client = ccxt_client(fake, **options)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def fake(make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> FakeBinance:
    """Synthetic market (seed 7) from 2025-03-01, BTC and ETH USDC perpetuals, manual clock."""
    return await make_fake_binance(symbols=["BTC/USDC:USDC", "ETH/USDC:USDC"], data_dir=None)


@pytest.fixture
async def ex(fake: FakeBinance, make_client: MakeClient) -> ccxt_async.binanceusdm:
    """A real binanceusdm client on `fake`, markets loaded, the request log cleared."""
    client = make_client(fake)
    await client.load_markets()
    fake.requests.clear()
    return client
