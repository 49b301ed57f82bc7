"""A paper replay of a data folder that holds candles for only some of the profile's markets trades those and
says which it left out. It used to stop at the first market without a file (`run profiles/balanced.yaml
--data ../shared/data`, the README's own example, ended with `no 5m candles for 1000BONK/USDC:USDC`)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from engine.cli.main import main
from tests.e2e.support import make_profile


def test_a_replay_trades_the_markets_the_folder_has_and_names_the_rest(shared_data: Path, tmp_path: Path) -> None:
    profile = make_profile(tmp_path, "replay")  # USDC, every market the universe rules allow: 26 in the snapshot
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--offline", "run", str(profile), "--data", str(shared_data), "--from", "2025-06-01",
                   "--candles", "12", "--speed", "1e9"])
    text = " ".join(out.getvalue().split())
    assert rc == 0, err.getvalue()
    assert "not replayed (no 5m candles in" in text and "1000BONK/USDC:USDC" in text
    assert "7 symbols: BCH/USDC:USDC, BNB/USDC:USDC, BTC/USDC:USDC, DOGE/USDC:USDC, ETH/USDC:USDC" in text
