"""Bad flag values: exit 2 naming the flag, no traceback, before anything is loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.positions.support import REPO

PROFILE = str(REPO / "profiles" / "balanced.yaml")


@pytest.mark.parametrize(
    ("flag", "value"), [("--seed", "-5"), ("--speed", "nan"), ("--speed", "inf"), ("--ticks", "-1"),
                        ("--candles", "-3")],
)
def test_run_refuses_bad_numbers(capsys: pytest.CaptureFixture, flag: str, value: str) -> None:
    assert main(["run", PROFILE, flag, value]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and "Traceback" not in err


def test_backtest_refuses_an_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    out.write_text("x")
    assert main(["backtest", PROFILE, "--data", str(tmp_path), "--from", "2025-01-01", "--to", "2025-01-02",
                 "--out", str(out)]) == 2
    assert "argument --out" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["run", PROFILE, "--speed", "inf"],
                                  ["diagram", "-o", str(REPO)]])
def test_subprocess_exit_2_without_traceback(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", "--offline", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "argument" in done.stderr
