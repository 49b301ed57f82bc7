"""Durations in profiles, and the runtime overrides merged over a profile."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from engine.config.durations import format_duration, parse_duration
from engine.config.loading import load_profile
from tests.config.support import (
    load,
    refusals,
    write,
)


# --- durations ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2d", 172800),
        ("500ms", 0.5),
        ("1.5h", 5400),
        (45, 45),
        (0.25, 0.25),
        (timedelta(minutes=2), 120),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "value", ["", "abc", "10", "10x", "m10", "10m30", "-5s", "1h-30m", "ten minutes", True, -1, None, [30]]
)
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(("seconds", "text"), [(3600, "1h"), (5400, "90m"), (30, "30s"), (0.5, "0.5s")])
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_durations_in_a_profile(tmp_path: Path) -> None:
    text = (
        "name: timing\norders:\n  entry_timeout: 45\n  close_timeout: 1m30s\nrisk:\n  max_hold: 1h30m\n"
        "runtime:\n  tick: 500ms\n"
    )
    profile = load(write(tmp_path / "profiles", "timing.yaml", text), tmp_path).profile
    assert profile.orders.entry_timeout == timedelta(seconds=45)
    assert profile.orders.close_timeout == timedelta(seconds=90)
    assert profile.risk.max_hold == timedelta(hours=1, minutes=30)
    assert profile.runtime.tick == timedelta(milliseconds=500)


# --- runtime overrides -------------------------------------------------------------------------
def write_overrides(state_root: Path, name: str, data: object) -> Path:
    path = state_root / name / "overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_runtime_overrides_are_merged_over_the_profile(pdir: Path, tmp_path: Path) -> None:
    overrides = {"risk": {"max_positions": 2}, "orders": {"leverage": 2}}
    write_overrides(tmp_path / "state", "conservative", overrides)
    loaded = load(pdir / "conservative.yaml", tmp_path)
    assert loaded.overrides == overrides
    assert loaded.profile.risk.max_positions == 2
    assert loaded.profile.orders.leverage == 2
    # neighbours in the same sections keep the profile's (and the parent's) values
    assert loaded.profile.risk.daily_loss_limit_pct == 1.5
    assert loaded.profile.orders.risk_per_trade_pct == 0.25
    assert loaded.profile.orders.stop_loss_pct == 2.0


def test_overrides_of_another_profile_are_ignored(pdir: Path, tmp_path: Path) -> None:
    write_overrides(tmp_path / "state", "balanced", {"risk": {"max_positions": 2}})
    assert load(pdir / "conservative.yaml", tmp_path).profile.risk.max_positions == 3


def test_overrides_can_be_disabled(pdir: Path, tmp_path: Path) -> None:
    write_overrides(tmp_path / "state", "conservative", {"risk": {"max_positions": 2}})
    loaded = load(pdir / "conservative.yaml", tmp_path, with_overrides=False)
    assert loaded.overrides == {}
    assert loaded.profile.risk.max_positions == 3


def test_default_state_root_is_beside_the_profiles_folder(pdir: Path, tmp_path: Path) -> None:
    write_overrides(tmp_path / "state", "conservative", {"risk": {"max_positions": 1}})
    loaded = load_profile(pdir / "conservative.yaml")  # no state_root: <profiles>/../state
    assert loaded.profile.risk.max_positions == 1


@pytest.mark.parametrize(
    ("raw", "phrase"), [("{not json", "cannot read runtime overrides"), ("[1, 2]", "must be a JSON object")]
)
def test_broken_overrides_file_is_refused_naming_it(
    pdir: Path, tmp_path: Path, raw: str, phrase: str
) -> None:
    path = tmp_path / "state" / "conservative" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(raw, encoding="utf-8")
    errors = refusals(pdir / "conservative.yaml", tmp_path)
    assert errors[0].file == str(path)
    assert phrase in errors[0].problem


def test_invalid_override_value_is_refused(pdir: Path, tmp_path: Path) -> None:
    write_overrides(tmp_path / "state", "conservative", {"risk": {"max_positions": 0}})
    errors = refusals(pdir / "conservative.yaml", tmp_path)
    assert [e.key for e in errors] == ["risk.max_positions"]
    assert "greater than or equal to 1" in errors[0].problem


def test_invalid_override_value_names_the_overrides_file(pdir: Path, tmp_path: Path) -> None:
    ov = write_overrides(tmp_path / "state", "conservative", {"risk": {"max_positions": 0}})
    errors = refusals(pdir / "conservative.yaml", tmp_path)
    assert errors[0].file == str(ov)


