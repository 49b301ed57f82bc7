"""A paper replay of a data folder enforces the markets' real leverage brackets, as a backtest of the same
folder does (engine.venue.catalog.brackets_for), and keeps them when the account is resumed: brackets are
not saved with the account, they are given again on every open."""

from __future__ import annotations

from pathlib import Path

from engine.bot.venues import paper_venue
from engine.venue.catalog import brackets_for, markets_for
from engine.venue.leverage import DEFAULT_BRACKETS
from tests.e2e.support import make_profile

BTC = "BTC/USDC:USDC"


def test_paper_uses_the_data_folders_brackets_fresh_and_resumed(shared_data: Path, tmp_path: Path) -> None:
    from engine.config.loading import load_profile

    loaded = load_profile(make_profile(tmp_path, "tiers"))
    markets, _ = markets_for(["USDC"], shared_data)
    brackets, note = brackets_for(shared_data)
    assert note == "" and BTC in brackets
    assert brackets[BTC] != DEFAULT_BRACKETS  # the real tiers (several, up to 125x), not the one 20x tier
    state = loaded.state_dir
    state.mkdir(parents=True)

    fresh = paper_venue(loaded, markets, state, brackets=brackets)
    assert fresh.engine.brackets_of(BTC) == brackets[BTC]
    resumed = paper_venue(loaded, markets, state, brackets=brackets)  # venue.json exists now: a resume
    assert resumed.engine.brackets_of(BTC) == brackets[BTC]
    without = paper_venue(loaded, markets, state)
    assert without.engine.brackets_of(BTC) == DEFAULT_BRACKETS
