"""The explicit offline switch. When it is on, nothing in the bot opens a connection to Binance or
Telegram, not even to probe whether they are reachable; market data comes from files or the seeded
synthetic generator. Tests and CI always run with it on."""

from __future__ import annotations

import os

OFFLINE_ENV = "ENGINE_OFFLINE"


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def force_offline() -> None:
    os.environ[OFFLINE_ENV] = "1"
