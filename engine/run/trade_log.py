"""A backtest's closed positions, kept compact: each record as its JSON bytes, decoded when read.

A long run closes tens of thousands of positions and the report reads them once at the end; as Python
dicts (nested plan, fills, Decimal strings) they held ~2.5 kB each, 60 MB over the 26,000 trades of the
freqtrade parity job, against ~0.5 kB as bytes. Reading gives back equal dicts (values are JSON's: the
records hold strings, numbers, lists and dicts only).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import orjson


class TradeLog(Sequence[dict[str, Any]]):
    def __init__(self) -> None:
        self._rows: list[bytes] = []

    def append(self, record: dict[str, Any]) -> None:
        # A copy of exact size: orjson's own bytes keep the buffer it wrote into (~8 kB a record here).
        self._rows.append(bytes(memoryview(orjson.dumps(record))))

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [orjson.loads(row) for row in self._rows[i]]
        return orjson.loads(self._rows[i])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (orjson.loads(row) for row in self._rows)
