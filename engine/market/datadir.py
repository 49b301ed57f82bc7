"""Finding a symbol's candles in a data folder, whatever format they were saved in.

A data folder holds any mix of klines CSVs, freqtrade feather exports, data.binance.vision monthly or
daily kline files (see `engine.market.loaders`) and the parquet files of the download store
(`engine.market.store`, `klines/<ID>-<tf>.parquet`). `DataDir` looks in the folder itself and in the
sub-folders `klines/`, `futures/` and `binance/futures/` (freqtrade's layout); it does not recurse further,
so pointing it at a large tree stays cheap.

USDC-margined perpetuals have no intraday history of their own in the shared data. Asked for one that has
no file, `DataDir` returns the candles of the USDT twin with the same base asset, and the result says so
(`CandleSeries.is_twin_fallback`, `.provenance`) so every report that uses them can state it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd

from engine.errors import UserError
from engine.market.candles import CandleSeries, concat_candles, timeframe_ms
from engine.market.loaders import (
    TimeBound,
    bound_ms,
    load_binance_vision,
    load_freqtrade_feather,
    load_klines_csv,
)
from engine.venue.markets import Market
from engine.venue.symbols import SymbolParts, parse_symbol

SEARCHED_SUBFOLDERS: tuple[str, ...] = (".", "klines", "futures", "binance/futures")

_TF = r"(?P<tf>\d+[smhdw])"
_KLINES_RE = re.compile(rf"^(?P<id>[A-Z0-9]+)-{_TF}\.csv(\.gz)?$")
_FEATHER_RE = re.compile(
    rf"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)_(?P<settle>[A-Z0-9]+)-{_TF}-futures\.feather$"
)
_STORE_RE = re.compile(rf"^(?P<id>[A-Z0-9]+)-{_TF}\.parquet$")
_VISION_RE = re.compile(rf"^(?P<id>[A-Z0-9]+)-{_TF}-(?P<period>\d{{4}}-\d{{2}}(-\d{{2}})?)\.(zip|csv)$")


class CandleFormat(StrEnum):
    STORE_PARQUET = "store-parquet"
    KLINES_CSV = "klines-csv"
    FREQTRADE_FEATHER = "freqtrade-feather"
    BINANCE_VISION = "binance-vision"


# When one symbol has files in several formats, the first format here wins (they are never mixed).
# The download store comes first: it is checksummed, gap-checked and the fastest to read.
FORMAT_PREFERENCE: tuple[CandleFormat, ...] = (
    CandleFormat.STORE_PARQUET,
    CandleFormat.KLINES_CSV,
    CandleFormat.FREQTRADE_FEATHER,
    CandleFormat.BINANCE_VISION,
)


class CandlesNotFoundError(FileNotFoundError, UserError):
    """No candle file for the symbol (nor, where allowed, its USDT twin) in the folder the user gave:
    bad input (exit 2) when nothing catches it to fall back."""


@dataclass(frozen=True, slots=True)
class CandleFile:
    path: Path
    venue_id: str  # e.g. "BTCUSDT"
    timeframe: str
    format: CandleFormat
    period: str = ""  # data.binance.vision files only: "2025-01" or "2025-01-31"


def classify(path: Path) -> CandleFile | None:
    """What a file name says about its content, or None if it is not a candle file we read."""
    name = path.name
    if m := _KLINES_RE.match(name):
        return CandleFile(path, m["id"], m["tf"], CandleFormat.KLINES_CSV)
    if m := _STORE_RE.match(name):
        return CandleFile(path, m["id"], m["tf"], CandleFormat.STORE_PARQUET)
    if m := _FEATHER_RE.match(name):
        return CandleFile(path, m["base"] + m["quote"], m["tf"], CandleFormat.FREQTRADE_FEATHER)
    if m := _VISION_RE.match(name):
        return CandleFile(path, m["id"], m["tf"], CandleFormat.BINANCE_VISION, m["period"])
    return None


@dataclass(frozen=True, slots=True)
class _Wanted:
    """File keys for a requested symbol: linear contracts are named BASE+QUOTE on disk."""

    venue_id: str
    twin_id: str | None
    twin_symbol: str | None


def _wanted(symbol: str | Market) -> _Wanted:
    """Raises ValueError (from engine.venue.symbols) for a symbol that is not a USDC/USDT perpetual."""
    if isinstance(symbol, Market):
        parts, unified = SymbolParts(symbol.base, symbol.quote), True
    else:
        parts, unified = parse_symbol(symbol), "/" in symbol
    if parts.quote != "USDC":
        return _Wanted(parts.venue_id, None, None)
    twin = SymbolParts(parts.base, "USDT")
    return _Wanted(parts.venue_id, twin.venue_id, twin.unified if unified else twin.venue_id)


class DataDir:
    """A folder of candle files. The listing is read once (call `refresh()` after adding files)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._files: list[CandleFile] | None = None

    def refresh(self) -> None:
        self._files = None

    def files(self) -> list[CandleFile]:
        """Every recognised candle file, sorted by path."""
        if self._files is None:
            found: dict[Path, CandleFile] = {}
            for sub in SEARCHED_SUBFOLDERS:
                folder = (self.root / sub).resolve()
                if folder.is_dir():
                    for path in folder.iterdir():
                        if path.is_file() and (entry := classify(path)) is not None:
                            found[path] = entry
            self._files = sorted(found.values(), key=lambda f: str(f.path))
        return self._files

    def venue_ids(self, timeframe: str) -> list[str]:
        """Venue ids (e.g. "BTCUSDT") with candles at this timeframe."""
        return sorted({f.venue_id for f in self.files() if f.timeframe == timeframe})

    def locate(self, venue_id: str, timeframe: str) -> list[CandleFile]:
        """The files that together hold `venue_id`'s candles at `timeframe`, in the preferred format:
        one file, or several data.binance.vision periods. Empty if there are none."""
        timeframe_ms(timeframe)  # refuse a malformed timeframe here rather than match nothing
        matching = [f for f in self.files() if f.venue_id == venue_id.upper() and f.timeframe == timeframe]
        for fmt in FORMAT_PREFERENCE:
            chosen = [f for f in matching if f.format == fmt]
            if chosen:
                return chosen if fmt == CandleFormat.BINANCE_VISION else chosen[:1]
        return []

    def load(
        self,
        symbol: str | Market,
        timeframe: str,
        start: TimeBound = None,
        end: TimeBound = None,
        *,
        allow_twin: bool = True,
    ) -> CandleSeries:
        """Candles of `symbol` (unified `BTC/USDT:USDT`, venue id `BTCUSDT`, or a Market) at `timeframe`,
        with open times in [start, end). Any spelling engine.venue.symbols accepts will do.

        A USDC symbol without a file falls back to its USDT twin when `allow_twin` is true; the result
        then has `is_twin_fallback` set. Raises CandlesNotFoundError naming the folders searched,
        ValueError for a symbol that is not a USDC/USDT perpetual, and the loaders' errors
        (CandleDataError, MissingDependencyError) for unreadable files.
        """
        wanted = _wanted(symbol)
        requested = symbol.symbol if isinstance(symbol, Market) else symbol
        files = self.locate(wanted.venue_id, timeframe)
        candles_of = requested
        if not files and allow_twin and wanted.twin_id is not None:
            files = self.locate(wanted.twin_id, timeframe)
            candles_of = wanted.twin_symbol or wanted.twin_id
        if not files:
            tried = wanted.venue_id + (f" or its USDT twin {wanted.twin_id}" if wanted.twin_id else "")
            folders = ", ".join(str(self.root / s) for s in SEARCHED_SUBFOLDERS)
            raise CandlesNotFoundError(f"no {timeframe} candles for {requested} ({tried}) in {folders}")
        frame = _load_files(files, start, end)
        names = files[0].path.name if len(files) == 1 else f"{len(files)} files {files[0].path.name} …"
        return CandleSeries(
            symbol=requested,
            timeframe=timeframe,
            frame=frame,
            source=f"{files[0].format} {names} in {files[0].path.parent}",
            candles_of=candles_of,
        )


def _load_files(files: list[CandleFile], start: TimeBound, end: TimeBound) -> pd.DataFrame:
    fmt = files[0].format
    if fmt == CandleFormat.STORE_PARQUET:
        from engine.market.store import read_candles  # imported here: pyarrow only when a store file is read

        return read_candles(files[0].path, bound_ms(start), bound_ms(end))
    if fmt == CandleFormat.KLINES_CSV:
        return load_klines_csv(files[0].path, start, end)
    if fmt == CandleFormat.FREQTRADE_FEATHER:
        return load_freqtrade_feather(files[0].path, start, end)
    frames = [load_binance_vision(f.path, start, end) for f in files]
    # Monthly and daily files of the same days may both be present; they are the same candles.
    joined = pd.concat(frames).sort_index(kind="stable")
    joined = joined[~joined.index.duplicated(keep="first")]
    return concat_candles([joined], f"{files[0].venue_id} binance-vision files")


def find_candles(
    data_dir: Path | str | DataDir,
    symbol: str | Market,
    timeframe: str,
    start: TimeBound = None,
    end: TimeBound = None,
    *,
    allow_twin: bool = True,
) -> CandleSeries:
    """Shorthand for `DataDir(data_dir).load(...)`; see there for promises and errors."""
    data = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
    return data.load(symbol, timeframe, start, end, allow_twin=allow_twin)
