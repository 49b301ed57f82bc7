"""Builders for candle fixture files (data.binance.vision layout) written into a test's tmp_path from
real candles. Nothing here is committed data."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd

from engine.market.loaders import BINANCE_VISION_COLUMNS

JAN_2025 = 1_735_689_600_000
FEB_2025 = 1_738_368_000_000


def vision_csv(df: pd.DataFrame, *, header: bool, microseconds: bool) -> str:
    """The 12-column Binance kline CSV for 5m candles, optionally with header row and µs times."""
    step = 300_000
    scale = 1000 if microseconds else 1
    out = io.StringIO()
    if header:
        out.write(",".join(BINANCE_VISION_COLUMNS) + "\n")
    for t, row in zip(df.index, df.itertuples(index=False), strict=True):
        qv = row.volume * row.close
        out.write(
            f"{t * scale},{row.open},{row.high},{row.low},{row.close},{row.volume},"
            f"{(t + step - 1) * scale},{qv:.4f},1234,{row.volume / 2},{qv / 2:.4f},0\n"
        )
    return out.getvalue()


def write_vision_zip(folder: Path, name: str, df: pd.DataFrame, *, header: bool, microseconds: bool) -> Path:
    path = folder / f"{name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", vision_csv(df, header=header, microseconds=microseconds))
    return path
