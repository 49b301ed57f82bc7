"""A fake of Binance's public data archive, on 127.0.0.1 with a random port, for on-the-wire download tests.

Serves, built on the fly from the shared candle files (`<data>/klines/*.csv.gz`, read through DataDir;
nothing is copied into the project):

    /data/futures/um/monthly/klines/SYM/TF/SYM-TF-YYYY-MM.zip        (+ .zip.CHECKSUM)
    /data/futures/um/daily/klines/SYM/TF/SYM-TF-YYYY-MM-DD.zip       (+ .zip.CHECKSUM)
    /data/futures/um/monthly/fundingRate/SYM/SYM-fundingRate-YYYY-MM.zip (+ .zip.CHECKSUM)

A kline zip holds Binance's 12-column CSV; a period with no candles in the shared data is a 404, as a
symbol not listed yet is on the real archive. The shared data has no funding rates, so funding is
GENERATED: an event every 8 h (00:00, 08:00, 16:00 UTC) from FUNDING_FROM to FUNDING_UNTIL with a
deterministic rate per symbol and time (`generated_funding`); the fake fapi serves the same numbers.

Faults, switched per file name (the zip's name, e.g. "BTCUSDT-5m-2025-01-03.zip"):
- `corrupt`: the zip is served with a garbled byte while its CHECKSUM stays right (a checksum mismatch on
  every try); `corrupt_times[name] = n` garbles only the first n transfers;
- `missing`: 404 for the zip and its CHECKSUM (a hole in the archive);
- `failing`: HTTP 500 (a server in trouble: a network failure for the client).
Format switches: `header` (CSV with or without the header row), `microseconds` (open/close times in µs).
Every request path is recorded in `requests`.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from aiohttp import web

from engine.market.candles import empty_candles, timeframe_ms
from engine.market.datadir import CandlesNotFoundError, DataDir
from tests.fakes.local_http import serve_local

EIGHT_HOURS_MS = 8 * 3_600_000
FUNDING_FROM = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
FUNDING_UNTIL = int(datetime(2025, 9, 1, tzinfo=UTC).timestamp() * 1000)
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore")
_KLINE_RE = re.compile(r"^(?P<sym>[A-Z0-9]+)-(?P<tf>\w+)-(?P<period>\d{4}-\d{2}(-\d{2})?)\.zip$")
_FUNDING_RE = re.compile(r"^(?P<sym>[A-Z0-9]+)-fundingRate-(?P<period>\d{4}-\d{2})\.zip$")


def generated_funding(venue_id: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The fakes' funding history (time_ms, rate) in [start_ms, end_ms): every 8 h, a rate between
    -0.0001 and 0.0003 that depends only on the symbol and the time."""
    first = max(start_ms, FUNDING_FROM)
    first = -(-first // EIGHT_HOURS_MS) * EIGHT_HOURS_MS
    times = np.arange(first, min(end_ms, FUNDING_UNTIL), EIGHT_HOURS_MS, dtype=np.int64)
    salt = zlib.crc32(venue_id.encode()) % 97
    rates = np.round(0.0001 + 0.00005 * (((times // EIGHT_HOURS_MS) + salt) % 5 - 2), 8)
    return pd.DataFrame({"time_ms": times, "rate": rates})


def period_span(period: str) -> tuple[int, int]:
    """[start, end) in ms of "YYYY-MM" or "YYYY-MM-DD"."""
    parts = [int(p) for p in period.split("-")]
    start = datetime(parts[0], parts[1], parts[2] if len(parts) == 3 else 1, tzinfo=UTC)
    if len(parts) == 3:
        end_ms = int(start.timestamp() * 1000) + 86_400_000
    else:
        end = datetime(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1, tzinfo=UTC)
        end_ms = int(end.timestamp() * 1000)
    return int(start.timestamp() * 1000), end_ms


def _zip(name: str, csv_text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name.removesuffix(".zip") + ".csv", csv_text)
    return buffer.getvalue()


class FakeArchive:
    def __init__(self, data_dir: Path, *, header: bool = True, microseconds: bool = False) -> None:
        self.data = DataDir(data_dir)
        self.header = header
        self.microseconds = microseconds
        self.corrupt: set[str] = set()
        self.corrupt_times: dict[str, int] = {}
        self.missing: set[str] = set()
        self.failing: set[str] = set()
        self.requests: list[str] = []
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}
        self._bodies: dict[tuple[str, bool, bool], bytes | None] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def reset(self) -> None:
        """No faults, no recorded requests, the default CSV variant."""
        self.header, self.microseconds = True, False
        self.corrupt, self.corrupt_times, self.missing, self.failing = set(), {}, set(), set()
        self.requests = []

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/data/futures/um/{tail:.*}", self._serve)
        self._runner, port = await serve_local(app, access_log=None)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def zips(self) -> list[str]:
        """Names of the zips requested (not their CHECKSUMs), in order."""
        return [p.rsplit("/", 1)[-1] for p in self.requests if p.endswith(".zip")]

    async def _serve(self, request: web.Request) -> web.Response:
        path = request.path
        self.requests.append(path)
        is_checksum = path.endswith(".CHECKSUM")
        name = path.rsplit("/", 1)[-1].removesuffix(".CHECKSUM")
        if name in self.failing:
            return web.Response(status=500, text="fake archive: failing on purpose")
        body = None if name in self.missing else self._body(path.removesuffix(".CHECKSUM"), name)
        if body is None:
            return web.Response(status=404, text="<Error><Code>NoSuchKey</Code></Error>")
        if is_checksum:
            return web.Response(text=f"{hashlib.sha256(body).hexdigest()}  {name}\n")
        if name in self.corrupt or self.corrupt_times.get(name, 0) > 0:
            if name in self.corrupt_times:
                self.corrupt_times[name] -= 1
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        return web.Response(body=body, content_type="application/zip")

    def _body(self, path: str, name: str) -> bytes | None:
        key = (path, self.header, self.microseconds)
        if key not in self._bodies:
            self._bodies[key] = self._build(path, name)
        return self._bodies[key]

    def _build(self, path: str, name: str) -> bytes | None:
        if "/fundingRate/" in path and (m := _FUNDING_RE.match(name)):
            funding = generated_funding(m["sym"], *period_span(m["period"]))
            if funding.empty:
                return None
            lines = ["calc_time,funding_interval_hours,last_funding_rate"]
            lines += [f"{t},8,{r!r}" for t, r in zip(funding["time_ms"], funding["rate"].tolist(), strict=True)]
            return _zip(name, "\n".join(lines) + "\n")
        m = _KLINE_RE.match(name)
        if m is None or f"/{m['sym']}/{m['tf']}/" not in path:
            return None
        frame = self._frame(m["sym"], m["tf"])
        start, end = period_span(m["period"])
        times = frame.index.to_numpy()
        rows = frame[(times >= start) & (times < end)]
        if rows.empty:
            return None
        return _zip(name, self._kline_csv(rows, timeframe_ms(m["tf"])))

    def _kline_csv(self, rows: pd.DataFrame, step: int) -> str:
        scale = 1000 if self.microseconds else 1
        opens = rows.index.to_numpy(np.int64)
        table = pd.DataFrame({
            "open_time": opens * scale,
            **{c: rows[c].to_numpy() for c in ("open", "high", "low", "close", "volume")},
            "close_time": (opens + step - 1) * scale,
            "quote_volume": np.round(rows["volume"].to_numpy() * rows["close"].to_numpy(), 4),
            "count": 1000,
            "taker_buy_volume": np.round(rows["volume"].to_numpy() / 2, 3),
            "taker_buy_quote_volume": 0.0,
            "ignore": 0,
        })
        text = table.to_csv(index=False, header=False)  # pandas writes floats that read back exactly
        return (KLINE_HEADER + "\n" + text) if self.header else text

    def _frame(self, symbol: str, timeframe: str) -> pd.DataFrame:
        key = (symbol, timeframe)
        if key not in self._frames:
            try:
                self._frames[key] = self.data.load(symbol, timeframe, allow_twin=False).frame
            except (CandlesNotFoundError, ValueError):
                self._frames[key] = empty_candles()
        return self._frames[key]
