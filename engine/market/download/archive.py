"""Binance's public data archive: fetching a zip with its `.CHECKSUM` sibling and reading what is inside.

Every file is checked against its published SHA-256 before a byte of it is parsed; a mismatch is tried
again (a truncated or garbled transfer usually heals), and only after `CHECKSUM_TRIES` mismatches is the
file declared corrupt — the caller then takes that span from the fapi. A 404 means the archive has no such
file (not published yet, or a hole): also the fapi's job. Anything else that keeps failing (connection
refused, 5xx) is a network failure and stops the download.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from typing import Any

import numpy as np
import pandas as pd

from engine.market.candles import CandleDataError, validate_candles
from engine.market.loaders import _parse_binance_vision_csv

# The archive's public host; --archive-url replaces it (the paths stay Binance's own).
DEFAULT_ARCHIVE_URL = "https://data.binance.vision"
CHECKSUM_TRIES = 3  # the first try and two retries
NETWORK_TRIES = 3
_RETRY_PAUSE_S = 0.2


class ArchiveCorrupt(Exception):
    """The file never matched its CHECKSUM (or does not hold what its name says)."""


class ArchiveUnavailable(Exception):
    """The archive could not be reached or kept failing: a network failure."""


class Archive:
    def __init__(self, base_url: str, session: Any) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session  # an aiohttp.ClientSession, shared by every request of the run

    async def _get(self, path: str) -> bytes | None:
        """The body, or None for a 404. Raises ArchiveUnavailable after NETWORK_TRIES failures."""
        import aiohttp

        url = self.base_url + path
        problem = ""
        for attempt in range(NETWORK_TRIES):
            if attempt:
                await asyncio.sleep(_RETRY_PAUSE_S * attempt)
            try:
                async with self.session.get(url) as response:
                    if response.status == 404:
                        return None
                    if response.status == 200:
                        return await response.read()
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        raise ArchiveUnavailable(f"{url}: {problem} ({NETWORK_TRIES} tries)")

    async def fetch(self, path: str) -> bytes | None:
        """The verified zip at `path`, or None when the archive has no such file.
        Raises ArchiveCorrupt after CHECKSUM_TRIES mismatches, ArchiveUnavailable on network failure."""
        name = path.rsplit("/", 1)[-1]
        checksum = await self._get(path + ".CHECKSUM")
        if checksum is None:
            return None
        expected = checksum.decode("ascii", "replace").split()[0].lower() if checksum.strip() else ""
        got = ""
        for _ in range(CHECKSUM_TRIES):
            body = await self._get(path)
            if body is None:
                return None
            got = hashlib.sha256(body).hexdigest()
            if got == expected:
                return body
        raise ArchiveCorrupt(f"{name}: sha256 {got[:12]}… does not match its CHECKSUM {expected[:12]}… "
                             f"after {CHECKSUM_TRIES} tries")


def _csv_of(body: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(members) != 1:
                raise ArchiveCorrupt(f"{name}: expected one CSV inside, found {members}")
            return archive.read(members[0])
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveCorrupt(f"{name}: not a readable zip ({exc})") from None


def read_klines(body: bytes, name: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    """The candles of an archive kline zip with open times in [start_ms, end_ms), validated.
    Both CSV variants (with and without header), ms or µs open times. Raises ArchiveCorrupt."""
    try:
        frame = validate_candles(_parse_binance_vision_csv(_csv_of(body, name), name), name)
    except CandleDataError as exc:
        raise ArchiveCorrupt(str(exc)) from None
    times = frame.index.to_numpy()
    return frame[(times >= start_ms) & (times < end_ms)]


def read_funding(body: bytes, name: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    """`calc_time,funding_interval_hours,last_funding_rate` rows (header or not) as time_ms, rate."""
    text = _csv_of(body, name)
    first = text[: text.find(b",")].strip()
    try:
        raw = pd.read_csv(io.BytesIO(text), header=None, skiprows=0 if first.isdigit() else 1,
                          usecols=[0, 2], names=["time_ms", "hours", "rate"],
                          dtype={"time_ms": np.int64, "rate": np.float64})
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveCorrupt(f"{name}: not a funding-rate CSV ({str(exc).strip()})") from None
    times = raw["time_ms"].to_numpy(np.int64)
    times = np.where(times >= 10**14, times // 1000, times)  # µs, as the newer kline files have
    frame = pd.DataFrame({"time_ms": times, "rate": raw["rate"].to_numpy(np.float64)})
    frame = frame[(times >= start_ms) & (times < end_ms)].sort_values("time_ms")
    return frame.drop_duplicates("time_ms").reset_index(drop=True)
