"""The market-data store that `python -m engine download` fills: columnar parquet files, one per series.

Layout under the store's root (default `state/market/`):

    klines/<VENUE_ID>-<tf>.parquet   open_time_ms int64, open high low close volume float64
    funding/<VENUE_ID>.parquet       time_ms int64, rate float64 (the rate charged at that instant)

`klines/` is one of the folders `engine.market.datadir.DataDir` searches, so the store's root is a valid
`--data` folder for a backtest. Every file also carries, in its parquet schema metadata, the time spans
that were fetched from an authoritative source (`coverage`): a span the venue had no candles for (before a
listing, an exchange outage) stays covered, so a second download does not ask for it again, while
`gaps()` still shows the hole to a reader.

Files are replaced atomically (temporary file in the same folder, fsync, os.replace, fsync of the
folder): a reader or a killed download sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.market.candles import (
    CANDLE_COLUMNS,
    INDEX_NAME,
    CandleFileError,
    empty_candles,
    make_candles,
    validate_candles,
)

Span = tuple[int, int]  # [start_ms, end_ms)

KLINES_FOLDER = "klines"
FUNDING_FOLDER = "funding"
FUNDING_COLUMNS: tuple[str, str] = ("time_ms", "rate")
_COVERAGE_KEY = b"engine.coverage"
# zstd: about half the size of snappy on candles, and still far faster to read than any CSV.
_COMPRESSION = "zstd"


def klines_path(root: Path | str, venue_id: str, timeframe: str) -> Path:
    return Path(root) / KLINES_FOLDER / f"{venue_id}-{timeframe}.parquet"


def funding_path(root: Path | str, venue_id: str) -> Path:
    return Path(root) / FUNDING_FOLDER / f"{venue_id}.parquet"


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored series: its rows and the spans already fetched (sorted, non-overlapping)."""

    frame: pd.DataFrame
    coverage: tuple[Span, ...]


def _read_table(path: Path, columns: list[str], filters: list | None = None) -> tuple[pa.Table, tuple[Span, ...]]:
    try:
        table = pq.read_table(path, columns=columns, filters=filters)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError, its IO errors OSErrors
        why = f"{path}: not a readable store parquet file ({exc}); delete it and download again"
        raise CandleFileError(why) from None
    raw = (table.schema.metadata or {}).get(_COVERAGE_KEY)
    coverage = tuple((int(a), int(b)) for a, b in json.loads(raw)) if raw else ()
    return table, coverage


def read_candles(path: Path | str, start_ms: int | None = None, end_ms: int | None = None) -> pd.DataFrame:
    """Candles of one store file with open times in [start_ms, end_ms), validated. The time filter is
    pushed down to parquet, so a short backtest window reads only the row groups it needs. Raises
    FileNotFoundError, and CandleFileError (bad input, exit 2) for a file that is not a store file."""
    filters = [(INDEX_NAME, ">=", start_ms)] if start_ms is not None else []
    filters += [(INDEX_NAME, "<", end_ms)] if end_ms is not None else []
    table, _ = _read_table(Path(path), [INDEX_NAME, *CANDLE_COLUMNS], filters or None)
    frame = _candles_of(table)
    try:
        return validate_candles(frame, str(path))
    except ValueError as exc:
        raise CandleFileError(str(exc)) from None


def _candles_of(table: pa.Table) -> pd.DataFrame:
    cols = [table.column(c).to_numpy() for c in (INDEX_NAME, *CANDLE_COLUMNS)]
    return make_candles(*cols)


def read_klines(root: Path | str, venue_id: str, timeframe: str) -> Stored:
    """The stored candles and coverage of one series; empty when there is no file yet."""
    path = klines_path(root, venue_id, timeframe)
    if not path.is_file():
        return Stored(empty_candles(), ())
    table, coverage = _read_table(path, [INDEX_NAME, *CANDLE_COLUMNS])
    return Stored(_candles_of(table), coverage)


def write_klines(root: Path | str, venue_id: str, timeframe: str, frame: pd.DataFrame, coverage: list[Span]) -> Path:
    """Replace the series atomically. Validates first: a frame that breaks the candle format never
    reaches disk (raises CandleDataError)."""
    path = klines_path(root, venue_id, timeframe)
    validate_candles(frame, f"writing {path}")
    arrays = {INDEX_NAME: frame.index.to_numpy(np.int64), **{c: frame[c].to_numpy(np.float64) for c in CANDLE_COLUMNS}}
    _write_atomic(path, pa.table(arrays), coverage)
    return path


def empty_funding() -> pd.DataFrame:
    return pd.DataFrame({"time_ms": np.empty(0, np.int64), "rate": np.empty(0, np.float64)})


def read_funding(root: Path | str, venue_id: str) -> Stored:
    path = funding_path(root, venue_id)
    if not path.is_file():
        return Stored(empty_funding(), ())
    table, coverage = _read_table(path, list(FUNDING_COLUMNS))
    frame = pd.DataFrame({c: table.column(c).to_numpy() for c in FUNDING_COLUMNS})
    return Stored(frame, coverage)


def load_funding(root: Path | str, venue_id: str) -> pd.DataFrame:
    """Funding-rate history of one perpetual (venue id, e.g. "BTCUSDT") from the store at `root`:
    a DataFrame with int64 `time_ms` (Unix ms of each funding event, UTC, ascending, unique) and float64
    `rate` (the fraction a long pays a short at that instant, e.g. 0.0001 = 0.01 %; negative: shorts
    pay). Empty when nothing was downloaded. Fill it with `python -m engine download … --funding`."""
    return read_funding(root, venue_id).frame


def write_funding(root: Path | str, venue_id: str, frame: pd.DataFrame, coverage: list[Span]) -> Path:
    path = funding_path(root, venue_id)
    times = frame["time_ms"].to_numpy(np.int64)
    if len(times) and (np.diff(times) <= 0).any():
        raise ValueError(f"writing {path}: funding times must be strictly increasing")
    if np.isnan(frame["rate"].to_numpy(np.float64)).any():
        raise ValueError(f"writing {path}: funding rate missing (NaN)")
    _write_atomic(path, pa.table({"time_ms": times, "rate": frame["rate"].to_numpy(np.float64)}), coverage)
    return path


def _write_atomic(path: Path, table: pa.Table, coverage: list[Span]) -> None:
    meta = {**(table.schema.metadata or {}), _COVERAGE_KEY: json.dumps([list(s) for s in coverage]).encode()}
    table = table.replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, compression=_COMPRESSION)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    # The rename itself is durable only once the folder's entry is on disk.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def gaps(open_times: np.ndarray, step_ms: int) -> list[Span]:
    """Runs of missing candles between the first and the last stored one: [first missing open time,
    next present open time). Empty for a contiguous series."""
    if len(open_times) < 2:
        return []
    diffs = np.diff(open_times)
    where = np.flatnonzero(diffs > step_ms)
    return [(int(open_times[i] + step_ms), int(open_times[i + 1])) for i in where]


def stored_series(root: Path | str) -> list[tuple[str, str]]:
    """(venue_id, timeframe) of every klines file in the store, then (venue_id, "funding")."""
    root = Path(root)
    found: list[tuple[str, str]] = []
    for path in sorted((root / KLINES_FOLDER).glob("*.parquet")):
        venue_id, _, timeframe = path.stem.rpartition("-")
        if venue_id:
            found.append((venue_id, timeframe))
    found += [(p.stem, "funding") for p in sorted((root / FUNDING_FOLDER).glob("*.parquet"))]
    return found
