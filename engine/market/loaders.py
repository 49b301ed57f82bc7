"""Readers for the candle file formats the bot accepts. Each returns a validated candle frame
(see `engine.market.candles`), optionally cut to a time range.

Formats:
- klines CSV (`<SYMBOL>-<tf>.csv[.gz]`, header `open_time_ms,open,high,low,close,volume`): the format of
  the shared data folder and the one the bot writes itself;
- freqtrade feather exports (`<BASE>_<QUOTE>_<SETTLE>-<tf>-futures.feather`; columns date, open, high,
  low, close, volume); needs the optional `pyarrow` package;
- Binance public data (data.binance.vision) kline files: a `.zip` holding one CSV, or that CSV itself;
  12 columns, with or without a header row, open time in milliseconds or microseconds.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from engine.market.candles import (
    CANDLE_COLUMNS,
    INDEX_NAME,
    CandleDataError,
    CandleFileError,
    make_candles,
    slice_time,
    validate_candles,
)

TimeBound = int | datetime | None

KLINES_CSV_COLUMNS: tuple[str, ...] = (INDEX_NAME, *CANDLE_COLUMNS)
BINANCE_VISION_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
# A millisecond timestamp passes 1e14 only in the year 5138; a microsecond one passed it in 1973.
_MICROSECONDS_ABOVE = 10**14
_FLOAT_DTYPES = dict.fromkeys(CANDLE_COLUMNS, np.float64)


class MissingDependencyError(ImportError):
    """An optional package a file format needs is not installed."""


def bound_ms(bound: TimeBound) -> int | None:
    """A range bound as Unix ms: ints pass through, datetimes must be timezone-aware (naive ones are
    refused rather than guessed). Raises ValueError for a naive datetime."""
    if bound is None or isinstance(bound, int):
        return bound
    if bound.tzinfo is None:
        raise ValueError(f"time bound {bound.isoformat()} has no timezone; give UTC explicitly")
    return int(bound.timestamp() * 1000)


def _finish(df: pd.DataFrame, source: str, start: TimeBound, end: TimeBound) -> pd.DataFrame:
    try:
        validate_candles(df, source)
    except CandleDataError as exc:  # rows of a file: the user's data, reported as bad input
        raise CandleFileError(str(exc)) from None
    return slice_time(df, bound_ms(start), bound_ms(end))


# Decompression and decoding failures of a file (gzip.BadGzipFile is an OSError).
_UNREADABLE = (OSError, EOFError, zlib.error, UnicodeDecodeError, zipfile.BadZipFile)


def unreadable(path: Path | str, exc: BaseException) -> CandleFileError:
    """Why a candle file could not be decompressed or decoded, in words, naming the file."""
    if isinstance(exc, EOFError):
        why = "the compressed data ends early: the file is truncated (an interrupted download or copy?)"
    elif isinstance(exc, gzip.BadGzipFile):
        why = f"not a gzip file ({exc}), although its name ends in .gz"
    elif isinstance(exc, zipfile.BadZipFile):
        why = f"not a zip archive ({exc})"
    elif isinstance(exc, zlib.error):
        why = f"corrupt compressed data ({exc})"
    elif isinstance(exc, UnicodeDecodeError):
        why = f"not a text CSV (undecodable byte at offset {exc.start})"
    else:
        why = f"cannot be read: {exc}"
    return CandleFileError(f"{path}: {why}; re-download or re-export it")


def _first_bad_row(path: Path) -> str:
    """Where a klines CSV that pandas refused breaks the format: "line N: what", or "" when no row is to
    blame (then the header or the encoding is). Only called after a failure, so its slowness is fine."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            if any(c not in header for c in KLINES_CSV_COLUMNS):
                return ""
            where = [header.index(c) for c in KLINES_CSV_COLUMNS]
            for number, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    return f"line {number}: expected {len(header)} fields, found {len(row)}"
                for column, i in zip(KLINES_CSV_COLUMNS, where, strict=True):
                    try:
                        int(row[i]) if column == INDEX_NAME else float(row[i])
                    except ValueError:
                        kind = "an integer (ms)" if column == INDEX_NAME else "a number"
                        return f"line {number}: {column} {row[i]!r} is not {kind}"
    except (*_UNREADABLE, csv.Error):
        return ""
    return ""


def load_klines_csv(path: Path, start: TimeBound = None, end: TimeBound = None) -> pd.DataFrame:
    """Candles from a klines CSV (gzip or plain), cut to open times in [start, end).

    Raises FileNotFoundError if the file is missing, and CandleFileError (a CandleDataError and a
    UserError) naming the file when it is not gzip although named .gz, is truncated or undecodable,
    its header is not `open_time_ms,open,high,low,close,volume` or its rows break the candle format
    (with the line of the first bad row when one is to blame).
    """
    path = Path(path)
    try:
        df = pd.read_csv(
            path,
            dtype={INDEX_NAME: np.int64, **_FLOAT_DTYPES},
            usecols=list(KLINES_CSV_COLUMNS),
            index_col=INDEX_NAME,
            engine="c",
        )
    except FileNotFoundError:
        raise
    except ValueError as exc:  # wrong header, unparsable number, ragged rows (pandas' ParserError)
        row = _first_bad_row(path)
        detail = row or str(exc).strip()
        raise CandleFileError(f"{path}: not a klines CSV ({', '.join(KLINES_CSV_COLUMNS)}): {detail}") from None
    except _UNREADABLE as exc:
        raise unreadable(path, exc) from None
    try:
        return _finish(df[list(CANDLE_COLUMNS)], str(path), start, end)
    except CandleFileError as exc:
        # pandas reads a short row as NaNs; the row by line number says more than the candle it made.
        row = _first_bad_row(path)
        raise (CandleFileError(f"{path}: not a klines CSV: {row}") if row else exc) from None


def load_freqtrade_feather(path: Path, start: TimeBound = None, end: TimeBound = None) -> pd.DataFrame:
    """Candles from a freqtrade `.feather` export, cut to open times in [start, end).

    `date` may be timezone-aware (freqtrade writes UTC) or naive (taken as UTC). Raises
    MissingDependencyError when `pyarrow` is not installed, FileNotFoundError if the file is missing,
    CandleDataError on missing columns or bad rows.
    """
    path = Path(path)
    if importlib.util.find_spec("pyarrow") is None:
        raise MissingDependencyError(
            f"{path}: reading freqtrade .feather files needs the 'pyarrow' package, which is not "
            "installed; install it (uv add pyarrow) or convert the file to a klines CSV"
        )
    if not path.is_file():
        raise FileNotFoundError(f"candle file not found: {path}")
    try:
        raw = pd.read_feather(path)
    except (*_UNREADABLE, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise CandleFileError(f"{path}: not a freqtrade feather file ({exc}); re-export it") from None
    missing = [c for c in ("date", *CANDLE_COLUMNS) if c not in raw.columns]
    if missing:
        raise CandleFileError(f"{path}: freqtrade feather without columns {missing}")
    dates = pd.to_datetime(raw["date"])
    dates = dates.dt.tz_localize("UTC") if dates.dt.tz is None else dates.dt.tz_convert("UTC")
    # Integer division by 1 ms works whatever resolution (ns, us, ms) pandas chose for the column.
    open_ms = ((dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(np.int64)
    df = make_candles(open_ms, *(raw[c].to_numpy(np.float64) for c in CANDLE_COLUMNS))
    return _finish(df, str(path), start, end)


def load_binance_vision(path: Path, start: TimeBound = None, end: TimeBound = None) -> pd.DataFrame:
    """Candles from a data.binance.vision kline file (`.zip` holding one CSV, or the `.csv`), cut to
    open times in [start, end).

    Handles files with and without the header row, and open times in ms or µs (2025+ spot files).
    Raises FileNotFoundError if missing, CandleDataError if the zip holds no single CSV or rows are bad.
    """
    path = Path(path)
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
                if len(members) != 1:
                    raise CandleFileError(f"{path}: expected one CSV inside the zip, found {members}")
                text = archive.read(members[0])
        except FileNotFoundError:
            raise
        except _UNREADABLE as exc:
            raise unreadable(path, exc) from None
        source = f"{path}!{members[0]}"
    else:
        text = path.read_bytes()
        source = str(path)
    return _finish(_parse_binance_vision_csv(text, source), source, start, end)


def _parse_binance_vision_csv(text: bytes, source: str) -> pd.DataFrame:
    first_field = text[: text.find(b",")].strip()
    has_header = not first_field.isdigit()
    try:
        raw = pd.read_csv(
            io.BytesIO(text),
            header=None,
            names=list(BINANCE_VISION_COLUMNS),
            skiprows=1 if has_header else 0,
            usecols=range(6),
            dtype={"open_time": np.int64, **_FLOAT_DTYPES},
            engine="c",
        )
    except ValueError as exc:
        raise CandleFileError(f"{source}: not a Binance kline CSV: {str(exc).strip()}") from None
    except UnicodeDecodeError as exc:
        raise unreadable(source, exc) from None
    open_time = raw["open_time"].to_numpy(np.int64)
    open_ms = np.where(open_time >= _MICROSECONDS_ABOVE, open_time // 1000, open_time)
    return make_candles(open_ms, *(raw[c].to_numpy(np.float64) for c in CANDLE_COLUMNS))


def write_klines_csv(df: pd.DataFrame, path: Path) -> None:
    """Write candles in the klines CSV format (gzip when the name ends in .gz). Validates first, so a
    bad frame never reaches disk. Raises CandleDataError on an invalid frame."""
    validate_candles(df, f"writing {path}")
    # No float_format: pandas writes the shortest repr that round-trips, so reading back is exact.
    df.to_csv(path, index_label=INDEX_NAME)
