"""`python -m engine download` through the real CLI, on the wire against the local stand-ins: aiohttp to
the fake archive, ccxt to the fake fapi, both on 127.0.0.1 (the suite runs with ENGINE_OFFLINE=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli.main import main
from engine.market import store
from engine.market.datadir import CandleFormat, DataDir
from tests.fakes.archive import generated_funding
from tests.market.download.stand_ins import StandIns

REPO = Path(__file__).resolve().parents[3]


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def download(fakes: StandIns, data: Path, *extra: str, symbols: tuple[str, ...] = ("BTCUSDT",),
             start: str = "2025-01-01", end: str = "2025-01-04") -> int:
    return main(["download", "--symbols", *symbols, "--timeframes", "5m", "--from", start, "--to", end,
                 "--data", str(data), *fakes.flags(), *extra])


def source(shared_data: Path, start: str, end: str, symbol: str = "BTCUSDT") -> pd.DataFrame:
    return DataDir(shared_data).load(symbol, "5m", ms(start), ms(end)).frame


def stored(data: Path, symbol: str = "BTCUSDT") -> pd.DataFrame:
    return store.read_klines(data, symbol, "5m").frame


def klines_requests(fakes: StandIns) -> list[dict[str, str]]:
    return [q for p, q in fakes.fapi.requests if p == "/fapi/v1/klines"]


@pytest.mark.parametrize(("header", "microseconds"), [(True, False), (False, True)])
def test_cold_download_matches_the_source_exactly(
    fakes: StandIns, shared_data: Path, tmp_path: Path, header: bool, microseconds: bool
) -> None:
    fakes.archive.header, fakes.archive.microseconds = header, microseconds
    assert download(fakes, tmp_path, start="2025-01-01", end="2025-02-03") == 0
    pd.testing.assert_frame_equal(stored(tmp_path), source(shared_data, "2025-01-01", "2025-02-03"))
    # A whole month, then whole days; nothing from the fapi's klines.
    assert fakes.archive.zips() == ["BTCUSDT-5m-2025-01.zip", "BTCUSDT-5m-2025-02-01.zip",
                                    "BTCUSDT-5m-2025-02-02.zip", "BTCUSDT-fundingRate-2025-01.zip"]
    assert klines_requests(fakes) == []
    # Funding: January from the archive, Feb 1-2 from the fapi (the archive's funding files are monthly).
    expected = generated_funding("BTCUSDT", ms("2025-01-01"), ms("2025-02-03"))
    pd.testing.assert_frame_equal(store.load_funding(tmp_path, "BTCUSDT"), expected)
    assert [p for p, _ in fakes.fapi_data_requests()] == ["/fapi/v1/fundingRate"]
    # The store is a data folder the readers know, in its own (preferred) format.
    series = DataDir(tmp_path).load("BTCUSDT", "5m", ms("2025-01-10"), ms("2025-01-11"))
    assert series.source.startswith(CandleFormat.STORE_PARQUET) and len(series.frame) == 288
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_rerun_of_a_complete_store_makes_no_request_at_all(fakes: StandIns, tmp_path: Path) -> None:
    assert download(fakes, tmp_path) == 0
    before = (tmp_path / "klines" / "BTCUSDT-5m.parquet").stat().st_mtime_ns
    fakes.reset()
    assert download(fakes, tmp_path) == 0
    assert fakes.archive.requests == [] and fakes.fapi.requests == []  # not even exchangeInfo
    assert (tmp_path / "klines" / "BTCUSDT-5m.parquet").stat().st_mtime_ns == before


def test_a_corrupt_file_is_retried_reported_by_name_and_taken_from_the_fapi(
    fakes: StandIns, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.archive.corrupt.add("BTCUSDT-5m-2025-01-02.zip")
    assert download(fakes, tmp_path, "--no-funding") == 0
    assert fakes.archive.zips().count("BTCUSDT-5m-2025-01-02.zip") == 3  # the first try and two retries
    assert "BTCUSDT-5m-2025-01-02.zip" in capsys.readouterr().out
    assert [(int(q["startTime"]), q["limit"]) for q in klines_requests(fakes)] == [(ms("2025-01-02"), "288")]
    pd.testing.assert_frame_equal(stored(tmp_path), source(shared_data, "2025-01-01", "2025-01-04"))


def test_a_transfer_garbled_once_heals_on_the_retry(fakes: StandIns, shared_data: Path, tmp_path: Path) -> None:
    fakes.archive.corrupt_times["BTCUSDT-5m-2025-01-02.zip"] = 1
    assert download(fakes, tmp_path, "--no-funding") == 0
    assert fakes.archive.zips().count("BTCUSDT-5m-2025-01-02.zip") == 2
    assert klines_requests(fakes) == []
    pd.testing.assert_frame_equal(stored(tmp_path), source(shared_data, "2025-01-01", "2025-01-04"))


def test_a_day_missing_from_the_archive_is_filled_from_the_fapi(
    fakes: StandIns, shared_data: Path, tmp_path: Path
) -> None:
    fakes.archive.missing.add("BTCUSDT-5m-2025-01-03.zip")
    assert download(fakes, tmp_path, "--no-funding") == 0
    assert [int(q["startTime"]) for q in klines_requests(fakes)] == [ms("2025-01-03")]
    pd.testing.assert_frame_equal(stored(tmp_path), source(shared_data, "2025-01-01", "2025-01-04"))


def test_an_interrupted_run_keeps_what_it_fetched_and_the_next_run_completes(
    fakes: StandIns, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.archive.failing.add("BTCUSDT-5m-2025-01-03.zip")  # HTTP 500 on every try: a network failure
    assert download(fakes, tmp_path, "--no-funding") == 1
    err = capsys.readouterr().err
    assert "network failure" in err and "BTCUSDT-5m-2025-01-03.zip" in err and "run the same command again" in err
    kept = stored(tmp_path)
    assert len(kept) > 0 and not (kept.index >= ms("2025-01-03")).any()
    fakes.reset()
    assert download(fakes, tmp_path, "--no-funding") == 0
    # Only the days the first run did not keep are fetched again.
    kept_days = {f"BTCUSDT-5m-{datetime.fromtimestamp(t / 1000, UTC):%Y-%m-%d}.zip" for t in kept.index}
    wanted = {f"BTCUSDT-5m-2025-01-0{d}.zip" for d in (1, 2, 3)}
    assert set(fakes.archive.zips()) == wanted - kept_days and "BTCUSDT-5m-2025-01-03.zip" not in kept_days
    pd.testing.assert_frame_equal(stored(tmp_path), source(shared_data, "2025-01-01", "2025-01-04"))


def test_usdc_symbols_are_downloaded_as_named(fakes: StandIns, shared_data: Path, tmp_path: Path) -> None:
    # The shared data has no USDC candles: the archive 404s and the fake fapi answers with the USDT twin's.
    assert download(fakes, tmp_path, "--no-funding", symbols=("ETHUSDC",), end="2025-01-02") == 0
    assert (tmp_path / "klines" / "ETHUSDC-5m.parquet").is_file()
    assert {q["symbol"] for q in klines_requests(fakes)} == {"ETHUSDC"}
    assert len(stored(tmp_path, "ETHUSDC")) == 288


def test_check_reports_what_is_stored_and_its_gaps_without_network(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = source(shared_data, "2025-01-01", "2025-01-02")
    holed = frame.drop(frame.index[100:112])  # one hour missing from 08:20
    store.write_klines(tmp_path, "BTCUSDT", "5m", holed, [(ms("2025-01-01"), ms("2025-01-02"))])
    assert main(["download", "--check", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "BTCUSDT" in out and "276" in out and "1: 2025-01-01 08:20..2025-01-01 09:20" in out
    assert store.gaps(holed.index.to_numpy(), 300_000) == [(int(frame.index[100]), int(frame.index[112]))]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--symbols", "BTCUSDT", "--timeframes", "5m", "--from", "2025-02-01", "--to", "2025-01-01"], "--from"),
        (["--symbols", "BTCUSDT", "--timeframes", "7m", "--from", "2025-01-01"], "--timeframes 7m"),
        (["--symbols", "BTCUSDT", "--timeframes", "1M", "--from", "2025-01-01"], "--timeframes 1M"),
        (["--symbols", "BTCEUR", "--timeframes", "5m", "--from", "2025-01-01"], "--symbols BTCEUR"),
        (["--symbols", "BTCUSDT", "--from", "2025-01-01"], "--timeframes"),
        (["--symbols", "BTCUSDT", "--timeframes", "5m", "--from", "Jan 1"], "--from"),
        (["--symbols", "NOPEUSDT", "--timeframes", "5m", "--from", "2025-01-01", "--to", "2025-01-02"], "--symbols"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(
    fakes: StandIns, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    assert main(["download", *args, "--data", str(tmp_path), *fakes.flags()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and flag in err and "Traceback" not in err
    assert fakes.archive.requests == [] and fakes.fapi_data_requests() == []


def test_offline_refuses_any_host_but_loopback_before_connecting(fakes: StandIns, tmp_path: Path) -> None:
    env = {**os.environ, "ENGINE_OFFLINE": "1"}
    base = [sys.executable, "-m", "engine", "download", "--symbols", "BTCUSDT", "--timeframes", "5m",
            "--from", "2025-01-01", "--to", "2025-01-02", "--data", str(tmp_path)]
    remote = subprocess.run([*base, "--archive-url", "http://192.0.2.1:9", "--venue-url", fakes.fapi.base_url],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert remote.returncode == 2
    assert "offline" in remote.stderr and "192.0.2.1" in remote.stderr and "--archive-url" in remote.stderr
    default_venue = subprocess.run([*base, "--archive-url", fakes.archive.base_url],
                                   cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert default_venue.returncode == 2 and "--venue-url" in default_venue.stderr
    assert fakes.archive.requests == [] and fakes.fapi.requests == []
    assert not (tmp_path / "klines").exists()


def test_funding_is_readable_for_the_fee_model(fakes: StandIns, tmp_path: Path) -> None:
    assert download(fakes, tmp_path, start="2025-01-01", end="2025-01-02") == 0
    funding = store.load_funding(tmp_path, "BTCUSDT")
    assert list(funding.columns) == ["time_ms", "rate"]
    assert funding["time_ms"].dtype == np.int64 and list(funding["time_ms"]) == [ms("2025-01-01") + k * 8 * 3_600_000
                                                                                 for k in range(3)]
    assert store.load_funding(tmp_path, "ETHUSDT").empty


def test_universe_takes_the_candidates_of_a_profile(fakes: StandIns, tmp_path: Path) -> None:
    """--universe PROFILE downloads the symbols the profile's universe names (its whitelist here), each
    under its own name, and nothing else."""
    from tests.e2e.support import make_profile

    profile = make_profile(tmp_path / "p", "dl", venue={"quote_assets": ["USDT"]},
                           universe={"whitelist": ["BTCUSDT", "ETHUSDT"], "max_symbols": 2})
    data = tmp_path / "store"
    assert main(["download", "--universe", str(profile), "--timeframes", "5m", "--from", "2025-01-01",
                 "--to", "2025-01-02", "--no-funding", "--data", str(data), *fakes.flags()]) == 0
    assert sorted(p.name for p in (data / "klines").iterdir()) == ["BTCUSDT-5m.parquet", "ETHUSDT-5m.parquet"]
