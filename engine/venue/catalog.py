"""Where market filters come from: a data folder's exchangeInfo snapshot, else the built-in table."""

from __future__ import annotations

from pathlib import Path

from engine.venue.builtin_markets import builtin_markets
from engine.venue.leverage import Brackets, load_leverage_tiers
from engine.venue.markets import Market, load_exchange_info


def markets_for(quotes: tuple[str, ...], data_dir: Path | None) -> tuple[dict[str, Market], str]:
    """(markets, note): the note says where the filters came from when it matters to a reader."""
    if data_dir is not None:
        snapshots = sorted((data_dir / "exchangeinfo").glob("*mainnet*.json")) if data_dir.is_dir() else []
        if snapshots:
            return load_exchange_info(snapshots[-1]), ""
    return builtin_markets(quotes), "market filters from the built-in table (approximate, offline)"


def brackets_for(data_dir: Path | None) -> tuple[dict[str, Brackets], str]:
    """(leverage brackets by unified symbol, note): a data folder's `leverage/*leverage-tiers*.json` snapshot
    (Binance's tiers as ccxt gives them), else none, and the simulator's one strict default tier applies."""
    if data_dir is not None and (data_dir / "leverage").is_dir():
        snapshots = sorted((data_dir / "leverage").glob("*leverage-tiers*.json"))
        if snapshots:
            return load_leverage_tiers(snapshots[-1]), ""
    return {}, "leverage brackets: the simulator's default (one tier, 20x; no leverage/ snapshot in the data)"
