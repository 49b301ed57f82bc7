"""Pytest fixtures for the fake Binance (registered in tests/conftest.py through `pytest_plugins`).

- `fake_binance`: a started FakeBinance on a manual clock, on the real candles of the shared data folder
  when present (USDC markets on their USDT twins' candles), else on the seeded synthetic market.
- `binance_client`: the real `ccxt.async_support.binanceusdm` pointed at `fake_binance` (closed after).
- `make_fake_binance(**kwargs)`: an async factory for fakes with other options (stopped after the test).
- `ccxt_client(fake, **options)`: a configured client for any fake; the caller closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tests.fakes.binance.fake import FakeBinance, default_shared_data


def shared_candles() -> Path | None:
    """The shared data folder when it holds candles, else None (use the synthetic market)."""
    path = default_shared_data()
    return path if (path / "klines").is_dir() else None


def ccxt_client(fake: FakeBinance, **options: Any) -> ccxt_async.binanceusdm:
    """A real binanceusdm client for `fake`, configured as reference §2 says for a local fapi: fapi URLs
    overridden, no sapi currency call, localhost gets the USD-M error table, symbol-less open-order
    sweeps allowed, no client-side rate limiting. `options` are merged into ccxt's `options`; the
    keys `timeout` and `rateLimit` go to the client itself."""
    base = fake.base_url
    if not base:
        raise RuntimeError("start the fake before building a client for it")
    config: dict[str, Any] = {
        "apiKey": fake.api_key,
        "secret": fake.secret,
        "enableRateLimit": False,
        "urls": {
            "api": {
                "fapiPublic": f"{base}/fapi/v1", "fapiPrivate": f"{base}/fapi/v1",
                "fapiPublicV2": f"{base}/fapi/v2", "fapiPrivateV2": f"{base}/fapi/v2",
                "fapiPublicV3": f"{base}/fapi/v3", "fapiPrivateV3": f"{base}/fapi/v3",
                "fapiData": f"{base}/futures/data",
            }
        },
        "options": {"fetchCurrencies": False, "fetchOpenOrders": {"warnWithoutSymbol": False}},
    }
    for key in ("timeout", "rateLimit"):
        if key in options:
            config[key] = options.pop(key)
    config["options"].update(options)
    client = ccxt_async.binanceusdm(config)
    client.exceptions["exact"].update(client.exceptions["linear"]["exact"])
    client.timeout_on_exit = 0  # ccxt waits 250 ms on close for TLS shutdown; plain local HTTP has none
    return client


@pytest.fixture
async def make_fake_binance() -> AsyncIterator[Callable[..., Awaitable[FakeBinance]]]:
    """`await make_fake_binance(**kwargs)`: a started FakeBinance(**kwargs); all stopped after the test."""
    started: list[FakeBinance] = []

    async def make(**kwargs: Any) -> FakeBinance:
        port = kwargs.pop("port", 0)
        fake = FakeBinance(**kwargs)
        await fake.start(port=port)
        started.append(fake)
        return fake

    try:
        yield make
    finally:
        for fake in started:
            await fake.stop()


@pytest.fixture
async def fake_binance(make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> FakeBinance:
    """A started fake on a manual clock: real shared candles when present, else the synthetic market."""
    return await make_fake_binance(data_dir=shared_candles())


@pytest.fixture
async def binance_client(fake_binance: FakeBinance) -> AsyncIterator[ccxt_async.binanceusdm]:
    client = ccxt_client(fake_binance)
    try:
        yield client
    finally:
        await client.close()
