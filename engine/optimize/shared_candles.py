"""Candles loaded once per study and shared by every worker through memory-mapped Arrow IPC files.

The study's process reads each symbol's candles (every timeframe the data folder has for it) from the
user's folder once, for the whole study span plus the backtest's look-back, and writes one Arrow file
per series under `--out/candles/`. A worker maps them: the columns are views on the page cache, so K
workers hold one copy of the candles between them, not K (and parse no CSV per trial).

`SharedCandles` is a `DataDir` (what `run_backtest(data=…)` takes): it answers `load` from the mapped
files and `files()`/`venue_ids` as the original folder would for those symbols.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from engine.clock import from_ms, to_ms
from engine.market.candles import CANDLE_COLUMNS, CandleSeries, slice_time, timeframe_ms
from engine.market.datadir import CandleFile, CandlesNotFoundError, DataDir
from engine.market.loaders import TimeBound, bound_ms
from engine.market.universe import DAY_MS
from engine.venue.markets import Market

INDEX = "open_time_ms"
# run_backtest reads a day and 30 ATR periods before the start; 200 is the largest ATR period a
# profile may set, so any trial's look-back is inside what is shared.
MAX_ATR_PERIOD = 200


def lookback_ms(timeframe: str) -> int:
    return DAY_MS + 30 * MAX_ATR_PERIOD * timeframe_ms(timeframe)


def _file_name(symbol: str, timeframe: str) -> str:
    return symbol.replace("/", "_").replace(":", "_") + f"-{timeframe}.arrow"


def write_shared(data: DataDir, symbols: list[str], markets: dict[str, Market], timeframe: str,
                 start: datetime, end: datetime, folder: Path) -> Path:
    """Write the candles of `symbols` (unified names) at `timeframe` and every finer timeframe the data
    holds, for [start - look-back, end). Returns `folder`. Raises what DataDir.load raises."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    folder.mkdir(parents=True, exist_ok=True)
    step = timeframe_ms(timeframe)
    finer = {f.timeframe for f in data.files() if timeframe_ms(f.timeframe) < step
             and step % timeframe_ms(f.timeframe) == 0}
    lo = from_ms(to_ms(start) - lookback_ms(timeframe))
    index: list[dict[str, str]] = []
    for symbol in symbols:
        for tf in sorted({timeframe, *finer}, key=timeframe_ms):
            try:
                series = data.load(symbol, tf, lo, end)
            except CandlesNotFoundError:
                continue
            frame = series.frame
            columns = {INDEX: frame.index.to_numpy(dtype="int64")}
            columns.update({c: frame[c].to_numpy(dtype="float64") for c in CANDLE_COLUMNS if c != INDEX})
            batch = pa.RecordBatch.from_pydict(columns)
            name = _file_name(symbol, tf)
            with pa.OSFile(str(folder / name), "wb") as sink, ipc.new_file(sink, batch.schema) as writer:
                writer.write_batch(batch)  # one batch: each column maps as one contiguous array
            index.append({"symbol": symbol, "venue_id": markets[symbol].id, "timeframe": tf, "file": name,
                          "source": series.source, "candles_of": series.candles_of})
    (folder / "index.json").write_text(json.dumps(index, indent=1))
    return folder


class SharedCandles(DataDir):
    """The mapped candles of one study. `root` stays the user's data folder (markets, funding)."""

    def __init__(self, root: Path | str, folder: Path) -> None:
        super().__init__(root)
        self.folder = Path(folder)
        self._index = {(e["symbol"], e["timeframe"]): e
                       for e in json.loads((self.folder / "index.json").read_text())}
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}

    def files(self) -> list[CandleFile]:
        from engine.market.datadir import CandleFormat

        return [CandleFile(self.folder / e["file"], e["venue_id"], e["timeframe"], CandleFormat.STORE_PARQUET)
                for e in self._index.values()]

    def _frame(self, key: tuple[str, str]) -> pd.DataFrame:
        if key not in self._frames:
            import pyarrow as pa
            import pyarrow.ipc as ipc

            batch = ipc.open_file(pa.memory_map(str(self.folder / self._index[key]["file"]))).get_batch(0)
            cols = {c: batch.column(c).to_numpy(zero_copy_only=True) for c in batch.schema.names if c != INDEX}
            times = pd.Index(batch.column(INDEX).to_numpy(zero_copy_only=True), name=INDEX, copy=False)
            self._frames[key] = pd.DataFrame(cols, index=times, copy=False)
        return self._frames[key]

    def load(self, symbol: str | Market, timeframe: str, start: TimeBound = None, end: TimeBound = None, *,
             allow_twin: bool = True) -> CandleSeries:
        name = symbol.symbol if isinstance(symbol, Market) else symbol
        entry = self._index.get((name, timeframe))
        if entry is None or (not allow_twin and entry["candles_of"] != name):
            raise CandlesNotFoundError(f"no {timeframe} candles for {name} among the study's shared candles "
                                       f"in {self.folder}")
        frame = slice_time(self._frame((name, timeframe)), bound_ms(start), bound_ms(end))
        return CandleSeries(symbol=name, timeframe=timeframe, frame=frame, source=entry["source"],
                            candles_of=entry["candles_of"])


def shares_memory(series: CandleSeries, shared: SharedCandles) -> bool:
    """Whether a loaded series is a view on the mapped file (for the tests and the benchmark)."""
    key = (series.symbol, series.timeframe)
    return key in shared._frames and np.shares_memory(series.frame["close"].to_numpy(),
                                                      shared._frames[key]["close"].to_numpy())
