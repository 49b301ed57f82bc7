"""Helpers shared by the venue tests (plain functions; fixtures are in conftest.py)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

BTCUSDC = "BTC/USDC:USDC"
BTCUSDT = "BTC/USDT:USDT"

Row = tuple[int, float, float, float, float, float]


def read_klines(path: Path, start_ms: int, count: int) -> list[Row]:
    """`count` candles from a shared-data kline file, starting at open time `start_ms`."""
    rows: list[Row] = []
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        assert header == ["open_time_ms", "open", "high", "low", "close", "volume"], header
        for record in reader:
            open_ms = int(record[0])
            if open_ms < start_ms:
                continue
            rows.append((open_ms, *(float(x) for x in record[1:])))  # type: ignore[arg-type]
            if len(rows) == count:
                break
    return rows
