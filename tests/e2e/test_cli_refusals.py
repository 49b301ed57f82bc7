"""Bad input is refused with exit code 2, one clear message naming what is wrong, no traceback, and
nothing started (no state folder, no output folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from tests.e2e.support import MACHINE, make_profile


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1


def test_run_refuses_a_live_profile_without_confirmation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = make_profile(tmp_path, "golive", mode="live")
    assert main(["run", str(profile), "--ticks", "3"]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert str(profile) in err
    assert "real money" in err and "--confirm-live" in err
    assert not (tmp_path / "state").exists(), "nothing may start for a refused profile"


def test_run_refuses_testnet_without_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    profile = make_profile(tmp_path, "demo", mode="testnet")
    assert main(["run", str(profile), "--venue-url", "http://127.0.0.1:9", "--ticks", "1"]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert "BINANCE_API_KEY" in err
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("body", "line", "key", "words"),
    [
        ("risk:\n  max_positions: lots\n", 4, "risk.max_positions", "valid integer"),
        ("risk:\n  max_postions: 3\n", 4, "risk.max_postions", "unknown key"),
        ("orders:\n  stop_loss_pct: 1\n  take_profit:\n    - {at_pct: 0.5, size_pct: 60}\n", 5,
         "orders.take_profit", "100"),
    ],
    ids=["wrong-type", "unknown-key", "take-profit-sizes"],
)
def test_run_refuses_a_bad_profile_naming_file_line_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            body: str, line: int, key: str, words: str) -> None:
    make_profile(tmp_path, "balanced-copy")  # puts the shipped profiles beside it
    path = tmp_path / "profiles" / "bad.yaml"
    path.write_text(f"extends: balanced.yaml\nname: bad\n{body}"
                    f"runtime:\n  state_dir: {tmp_path / 'state'}\n  machine: {MACHINE}\n")
    assert main(["run", str(path), "--candles", "3"]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert f"{path}:{line}: {key}" in err, err
    assert words in err
    assert not (tmp_path / "state" / "bad").exists()


def test_backtest_refuses_to_before_from(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = make_profile(tmp_path, "bt")
    out = tmp_path / "out"
    data = tmp_path / "data"
    data.mkdir()
    assert main(["backtest", str(profile), "--data", str(data), "--from", "2025-03-10", "--to", "2025-03-01",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert "--to 2025-03-01 must be after --from 2025-03-10" in err
    assert not out.exists()
    assert main(["backtest", str(profile), "--data", str(data), "--from", "2025-03-01", "--to", "2025-03-01",
                 "--out", str(out)]) == 2
    assert "must be after" in capsys.readouterr().err
    assert not out.exists()


def test_run_refuses_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = make_profile(tmp_path, "opts")
    assert main(["run", str(profile), "--speed", "0"]) == 2
    assert "--speed" in capsys.readouterr().err
    assert main(["run", str(profile), "--candles", "0"]) == 2
    assert "--candles" in capsys.readouterr().err
    assert main(["run", str(profile), "--data", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()
