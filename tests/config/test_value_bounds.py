"""Values that make no sense are refused naming file, line and key (lines computed from the edited text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.support import edit, expect, line_of, refusals, write


@pytest.mark.parametrize(
    ("old", "new", "key", "phrase"),
    [
        ("  starting_balance: 1000\n", "  starting_balance: 1e400\n", "venue.starting_balance", "less than or equal"),
        ("  tick: 10s\n", "  tick: 0s\n", "runtime.tick", "above zero"),
        ("  max_hold: 10m\n", "  max_hold: 0s\n", "risk.max_hold", "above zero"),
        ("  risk_per_trade_pct: 0.5\n", "  risk_per_trade_pct: true\n", "orders.risk_per_trade_pct", "boolean"),
        ("  status_every: 60s\n", "  status_every: 99999999999d\n", "runtime.status_every", "at most 30d"),
        ("  atr_pct_min: 0.05\n", "  atr_pct_min: 5\n", "universe.atr_pct_min", "must be below atr_pct_max"),
        # a switch takes true or false: 1, 0 or "yes" are typos, not settings
        ("  close_on_shutdown: true\n", "  close_on_shutdown: 1\n", "runtime.close_on_shutdown", "boolean"),
        ("  atr_scaled_exits: false\n", "  atr_scaled_exits: 0\n", "strategy.atr_scaled_exits", "boolean"),
        ("  enabled: false\n", "  enabled: \"yes\"\n", "telegram.enabled", "boolean"),
    ],
)
def test_nonsense_values_are_refused(pdir: Path, tmp_path: Path, old: str, new: str, key: str,
                                     phrase: str) -> None:
    path = pdir / "balanced.yaml"
    text = edit(path.read_text(encoding="utf-8"), old, new)
    path.write_text(text, encoding="utf-8")
    expect(refusals(path, tmp_path), path, line_of(text, new.strip()), key, phrase)


def test_a_child_profile_without_a_name_is_refused(pdir: Path, tmp_path: Path) -> None:
    text = "extends: balanced.yaml\nrisk:\n  max_positions: 2\n"
    path = write(pdir, "my-child.yaml", text)
    err = expect(refusals(path, tmp_path), path, line_of(text, "extends:"), "name", "needs its own name")
    assert "name: my-child" in err.problem and "state folder" in err.problem
