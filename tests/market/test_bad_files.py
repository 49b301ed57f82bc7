"""Candle files that are not gzip, truncated or malformed: a UserError naming the file (and the line),
exit 2 from `backtest`. Bad files are written into tmp_path from the real BTC file."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.errors import UserError
from engine.market.loaders import load_klines_csv
from tests.positions.support import REPO


def real_lines(shared_data: Path, n: int) -> list[str]:
    with gzip.open(shared_data / "klines" / "BTCUSDT-5m.csv.gz", "rt") as fh:
        return [next(fh) for _ in range(n)]


def bad_file(tmp_path: Path, shared_data: Path, kind: str) -> Path:
    path = tmp_path / "klines" / "BTCUSDT-5m.csv.gz"
    path.parent.mkdir(parents=True)
    lines = real_lines(shared_data, 2000)
    if kind == "not-gzip":
        path.write_text("".join(lines))
    elif kind == "truncated":
        path.write_bytes(gzip.compress("".join(lines).encode())[:20000])
    else:
        path.write_bytes(gzip.compress("".join([*lines[:50], "1735700000000,abc,1,1,1,1\n"]).encode()))
    return path


@pytest.mark.parametrize(("kind", "phrase"), [("not-gzip", "not a gzip file"), ("truncated", "truncated"),
                                              ("bad-row", "line 51: open 'abc' is not a number")])
def test_bad_candle_files_name_the_file(tmp_path: Path, shared_data: Path, kind: str, phrase: str,
                                        capsys: pytest.CaptureFixture) -> None:
    path = bad_file(tmp_path, shared_data, kind)
    with pytest.raises(UserError, match=phrase) as info:
        load_klines_csv(path)
    assert str(path) in str(info.value)
    out = tmp_path / "out"
    assert main(["--offline", "backtest", str(REPO / "profiles" / "aggressive.yaml"), "--data", str(tmp_path),
                 "--from", "2023-07-04", "--to", "2023-07-05", "--symbols", "BTCUSDT", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and phrase in err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["not-gzip", "truncated"])
def test_paper_on_a_bad_candle_file_refuses_before_it_touches_the_state_folder(
        tmp_path: Path, shared_data: Path, kind: str, capsys: pytest.CaptureFixture) -> None:
    from tests.e2e.support import make_profile, state_dir_of

    path = bad_file(tmp_path / "data", shared_data, kind)
    profile = make_profile(tmp_path, "badfile", base="testaggressive", venue={"quote_assets": ["USDT"]},
                           universe={"whitelist": ["BTC/USDT:USDT"], "max_symbols": 1})
    assert main(["--offline", "run", str(profile), "--data", str(tmp_path / "data"), "--speed", "1e9",
                 "--candles", "2"]) == 2
    assert str(path) in capsys.readouterr().err
    assert not state_dir_of(profile).exists(), "a refused start leaves no state folder behind"
