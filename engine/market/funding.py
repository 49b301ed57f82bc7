"""Funding from history for backtests and paper replay: the rates `download` stored beside the candles
(`<data>/funding/<ID>.parquet`, engine.market.store), charged by the simulator at each funding time.

Each market uses its own rates only: a USDC perpetual traded on its USDT twin's candles has its own
funding, and borrowing the twin's would charge a number Binance never charged. A market without rates
gets none, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from engine.venue.markets import Market


@dataclass
class FundingHistory:
    """Per unified symbol, its (time_ms, rate) events in the run's span; `missing` had none."""

    source: Path
    events: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, data_dir: Path, markets: Iterable[Market], start_ms: int | None = None,
             end_ms: int | None = None) -> FundingHistory:
        """The rates of `markets` in [start_ms, end_ms) from the store at `data_dir`. Raises what
        engine.market.store raises for an unreadable file."""
        folder = Path(data_dir) / "funding"
        history = cls(folder)
        markets = list(markets)
        if not folder.is_dir():
            history.missing = [m.symbol for m in markets]
            return history
        from engine.market.store import load_funding  # pyarrow only when there is a store to read

        for market in markets:
            frame = load_funding(data_dir, market.id)
            times = frame["time_ms"].to_numpy()
            keep = np.ones(len(times), dtype=bool)
            if start_ms is not None:
                keep &= times >= start_ms
            if end_ms is not None:
                keep &= times < end_ms
            chosen = frame[keep]
            if chosen.empty:
                history.missing.append(market.symbol)
                continue
            history.events[market.symbol] = [(int(t), Decimal(repr(float(r))))
                                             for t, r in zip(chosen["time_ms"], chosen["rate"], strict=True)]
        return history

    def schedules(self) -> dict[str, list[tuple[int, Decimal]]]:
        """What MatchingEngine.set_funding takes: every symbol, the ones without rates with none (so no
        constant rate stands in for them)."""
        return {**{s: [] for s in self.missing}, **self.events}

    @property
    def applied(self) -> bool:
        return bool(self.events)


def funding_line(history: FundingHistory, paid: Decimal, received: Decimal, settlements: int) -> str:
    """The report's funding line: what was paid and received and from where, or why none was."""
    if not history.applied:
        return f"not applied (no funding rates in {history.source.parent})"
    line = (f"paid {paid:,.2f} · received {received:,.2f} (net {received - paid:+,.2f}) over {settlements} "
            f"settlements, from historical rates in {history.source}")
    if history.missing:
        line += f"; none for {', '.join(history.missing)} (no rates)"
    return line + "; in the wallets' balance, not in the trades' PnL"
