"""Profiles: the shipped ones load and bind; `extends:` merges; every refusal names file, line, key and
what was expected; take-profit steps and telegram.

Bad profiles are textual edits of a profile written into tmp_path; expected lines are computed from the
edited text. Every load passes `state_root=tmp_path/...` so the checkout's own `state/` is never read.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.config.loading import load_machine_for, load_profile
from engine.errors import SpecErrors
from tests.config.support import (
    PROFILES,
    SHIPPED,
    bound_deadlines,
    edit,
    expect,
    line_of,
    load,
    refusals,
    write,
)
from tests.positions.support import MACHINE_FILE, T0


# --- the shipped profiles ----------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_load_and_bind(name: str, tmp_path: Path) -> None:
    loaded = load_profile(PROFILES / f"{name}.yaml", state_root=tmp_path)
    assert loaded.profile.name == name
    assert loaded.machine_path == MACHINE_FILE
    machine = load_machine_for(loaded)
    (ev1, at1), (ev2, at2) = bound_deadlines(machine)
    assert (ev1, at1) == ("entry_timeout", T0 + loaded.profile.orders.entry_timeout)
    assert (ev2, at2) == ("max_hold", T0 + timedelta(seconds=5) + loaded.profile.risk.max_hold)


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_copies_load_and_bind_to_the_machine(name: str, pdir: Path, tmp_path: Path) -> None:
    loaded = load(pdir / f"{name}.yaml", tmp_path)
    assert loaded.profile.name == name
    assert loaded.profile.mode == "paper"
    assert loaded.overrides == {}
    machine = load_machine_for(loaded)
    assert machine.definition.file == MACHINE_FILE
    (ev1, at1), (ev2, at2) = bound_deadlines(machine)
    assert (ev1, at1) == ("entry_timeout", T0 + timedelta(seconds=30))
    assert (ev2, at2) == ("max_hold", T0 + timedelta(seconds=5) + timedelta(minutes=10))


def test_bound_machine_uses_the_profiles_durations(pdir: Path, tmp_path: Path) -> None:
    text = (pdir / "conservative.yaml").read_text(encoding="utf-8")
    text = edit(text, "name: conservative", "name: quick")
    text = edit(text, "  max_positions: 3\n", "  max_positions: 3\n  max_hold: 1h30m\n")
    path = write(pdir, "quick.yaml", text)
    loaded = load(path, tmp_path)
    assert loaded.profile.risk.max_hold == timedelta(hours=1, minutes=30)
    _, (ev2, at2) = bound_deadlines(load_machine_for(loaded))
    assert (ev2, at2) == ("max_hold", T0 + timedelta(seconds=5) + timedelta(hours=1, minutes=30))


# --- extends -----------------------------------------------------------------------------------
def test_conservative_inherits_from_balanced_and_its_own_values_win(pdir: Path, tmp_path: Path) -> None:
    balanced = load(pdir / "balanced.yaml", tmp_path).profile
    conservative = load(pdir / "conservative.yaml", tmp_path).profile
    # inherited
    assert conservative.orders.take_profit == balanced.orders.take_profit
    assert [(s.at_pct, s.size_pct) for s in conservative.orders.take_profit] == [
        (0.4, 40),
        (0.8, 30),
        (1.2, 30),
    ]
    assert conservative.orders.stop_loss_pct == balanced.orders.stop_loss_pct == 2.0
    assert conservative.universe.max_symbols == 35
    assert conservative.risk.max_hold == timedelta(minutes=10)
    assert conservative.strategy.ema_fast == balanced.strategy.ema_fast == 9  # deep merge inside a section
    # its own
    assert conservative.name == "conservative"
    assert (conservative.orders.risk_per_trade_pct, balanced.orders.risk_per_trade_pct) == (0.25, 0.5)
    assert (conservative.orders.leverage, balanced.orders.leverage) == (3, 5)
    assert (conservative.risk.max_positions, balanced.risk.max_positions) == (3, 5)
    assert conservative.risk.sl_streak.losses == 2
    assert conservative.risk.sl_streak.pause == timedelta(hours=1)
    assert (conservative.strategy.min_confirmations, balanced.strategy.min_confirmations) == (2, 1)


def test_aggressive_overrides_lists_and_nested_sections(pdir: Path, tmp_path: Path) -> None:
    aggressive = load(pdir / "aggressive.yaml", tmp_path).profile
    assert aggressive.venue.quote_assets == ("USDC", "USDT")
    assert aggressive.venue.timeframe == "5m"  # inherited beside the overridden key
    assert aggressive.risk.sl_streak.pause == timedelta(minutes=15)
    assert aggressive.risk.max_hold == timedelta(minutes=10)


def test_locator_points_inherited_keys_at_the_parent(pdir: Path, tmp_path: Path) -> None:
    loaded = load(pdir / "conservative.yaml", tmp_path)
    parent_text = (pdir / "balanced.yaml").read_text(encoding="utf-8")
    child_text = (pdir / "conservative.yaml").read_text(encoding="utf-8")
    assert loaded.locator.file_of(("orders", "take_profit")) == pdir / "balanced.yaml"
    assert loaded.locator.line(("orders", "take_profit")) == line_of(parent_text, "take_profit:")
    assert loaded.locator.file_of(("orders", "leverage")) == pdir / "conservative.yaml"
    assert loaded.locator.line(("orders", "leverage")) == line_of(child_text, "leverage:")


def test_error_in_an_inherited_key_names_the_parent_file_and_line(pdir: Path, tmp_path: Path) -> None:
    parent = pdir / "balanced.yaml"
    bad = edit(parent.read_text(encoding="utf-8"), "  stop_loss_pct: 2.0\n", "  stop_loss_pct: 80\n")
    parent.write_text(bad, encoding="utf-8")
    errors = refusals(pdir / "conservative.yaml", tmp_path)
    assert len(errors) == 1
    expect(
        errors,
        parent,
        line_of(bad, "stop_loss_pct: 80"),
        "orders.stop_loss_pct",
        "less than or equal to 50",
        "80",
    )


def test_error_in_a_grandparent_names_the_grandparent(tmp_path: Path) -> None:
    d = tmp_path / "profiles"
    gp_text = "# grandparent\nname: gp\nrisk:\n  max_positions: 500\n"
    gp = write(d, "gp.yaml", gp_text)
    write(d, "parent.yaml", "extends: gp\nname: parent\nrisk:\n  max_hold: 5m\n")
    child = write(d, "child.yaml", "extends: parent.yaml\nname: child\n")
    errors = refusals(child, tmp_path)
    expect(errors, gp, line_of(gp_text, "max_positions"), "risk.max_positions", "less than or equal to 200")


def test_child_error_names_the_child_even_inside_an_inherited_section(pdir: Path, tmp_path: Path) -> None:
    child = pdir / "conservative.yaml"
    bad = edit(child.read_text(encoding="utf-8"), "  leverage: 3\n", "  leverage: 0\n")
    child.write_text(bad, encoding="utf-8")
    errors = refusals(child, tmp_path)
    expect(errors, child, line_of(bad, "leverage: 0"), "orders.leverage", "greater than or equal to 1")


def test_cyclic_extends_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "profiles"
    a = write(d, "a.yaml", "name: a\nextends: b.yaml\n")
    write(d, "b.yaml", "name: b\nextends: a\n")
    errors = refusals(a, tmp_path)
    assert len(errors) == 1
    err = errors[0]
    assert err.key == "extends"
    assert "cycle" in err.problem and "a.yaml → b.yaml → a.yaml" in err.problem
    assert err.file in {str(a), str(d / "b.yaml")}


def test_self_extends_is_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "profiles", "a.yaml", "name: a\nextends: a.yaml\n")
    errors = refusals(a, tmp_path)
    assert errors[0].key == "extends" and "cycle" in errors[0].problem


def test_cyclic_extends_names_the_line_of_an_extends_key(tmp_path: Path) -> None:
    d = tmp_path / "profiles"
    texts = {"a.yaml": "# a\nname: a\nextends: b.yaml\n", "b.yaml": "# b\n\nname: b\nextends: a\n"}
    for name, text in texts.items():
        write(d, name, text)
    err = refusals(d / "a.yaml", tmp_path)[0]
    name = Path(err.file).name
    assert err.line == line_of(texts[name], "extends:")


def test_missing_parent_is_refused(tmp_path: Path) -> None:
    text = "# child of nobody\nname: orphan\nextends: missing.yaml\n"
    path = write(tmp_path / "profiles", "orphan.yaml", text)
    errors = refusals(path, tmp_path)
    expect(
        errors,
        path,
        line_of(text, "extends:"),
        "extends",
        "'missing.yaml' not found",
        str(tmp_path / "profiles" / "missing.yaml"),
    )


def test_extends_must_be_a_file_name(tmp_path: Path) -> None:
    text = "name: odd\nextends: [a, b]\n"
    path = write(tmp_path / "profiles", "odd.yaml", text)
    expect(
        refusals(path, tmp_path), path, line_of(text, "extends:"), "extends", "expected a profile file name"
    )


# --- wrong types, out of range, unknown keys ---------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "marker", "key", "phrases"),
    [
        (
            "  leverage: 5\n",
            "  leverage: 500\n",
            "leverage: 500",
            "orders.leverage",
            ("less than or equal to 125", "500"),
        ),
        (
            "  risk_per_trade_pct: 0.5\n",
            "  risk_per_trade_pct: -1\n",
            "risk_per_trade_pct",
            "orders.risk_per_trade_pct",
            ("greater than 0",),
        ),
        (
            "  max_positions: 5\n",
            "  max_positions: many\n",
            "max_positions",
            "risk.max_positions",
            ("valid integer", "'many'"),
        ),
        ("mode: paper\n", "mode: yolo\n", "mode: yolo", "mode", ("'paper', 'testnet' or 'live'", "'yolo'")),
        (
            "  quote_assets: [USDC]\n",
            "  quote_assets: [USDC, BUSD]\n",
            "quote_assets",
            "venue.quote_assets[1]",
            ("'USDC' or 'USDT'", "'BUSD'"),
        ),
        (
            "  timeframe: 5m\n",
            "  timeframe: 2m\n",
            "timeframe",
            "venue.timeframe",
            ("'1m', '3m', '5m' or '15m'",),
        ),
        (
            "  close_on_shutdown: true\n",
            "  close_on_shutdown: maybe\n",
            "close_on_shutdown",
            "runtime.close_on_shutdown",
            ("valid boolean", "'maybe'"),
        ),
        (
            "  sl_streak: {losses: 3, pause: 30m}\n",
            "  sl_streak: {losses: 0, pause: 30m}\n",
            "sl_streak",
            "risk.sl_streak.losses",
            ("greater than or equal to 1",),
        ),
        (
            "  entry_timeout: 30s\n",
            "  entry_timeout: 10 minutes\n",
            "entry_timeout",
            "orders.entry_timeout",
            ("expected a duration such as 30s, 10m, 1h30m", "'10 minutes'"),
        ),
        ("  max_hold: 10m\n", "  max_hold: -5\n", "max_hold", "risk.max_hold", ("cannot be negative",)),
        ("  max_hold: 10m\n", "  max_hold: true\n", "max_hold", "risk.max_hold", ("got a boolean",)),
        ("name: balanced\n", "name: Balanced Profile\n", "name: Balanced", "name", ("should match pattern",)),
        (
            "  token_env: TELEGRAM_BOT_TOKEN\n",
            "  token_env: my-token\n",
            "token_env",
            "telegram.token_env",
            ("should match pattern",),
        ),
        (
            "  ema_fast: 9\n",
            "  ema_fast: 1\n",
            "ema_fast",
            "strategy.ema_fast",
            ("greater than or equal to 2",),
        ),
        ("  max_drawdown_pct: 25", "  max_drawdown_pct: 0", "max_drawdown_pct", "risk.max_drawdown_pct",
         ("greater than 0",)),
        ("  max_drawdown_pct: 25", "  max_drawdown_pct: 100", "max_drawdown_pct", "risk.max_drawdown_pct",
         ("less than 100",)),
        ("  max_drawdown_pct: 25", "  max_drawdown_pct: a lot", "max_drawdown_pct", "risk.max_drawdown_pct",
         ("valid number", "'a lot'")),
        ("  max_drawdown_pct: 25", "  max_drawdown_pct: true", "max_drawdown_pct", "risk.max_drawdown_pct",
         ("boolean",)),
        ("  max_drawdown_pct: 25", "  max_drawdown_pct: 25\n  min_equity: -5", "min_equity", "risk.min_equity",
         ("greater than 0",)),
    ],
    ids=[
        "leverage-range",
        "risk-negative",
        "int-type",
        "mode-literal",
        "quote-literal",
        "timeframe",
        "bool-type",
        "nested-range",
        "duration-words",
        "duration-negative",
        "duration-bool",
        "name-pattern",
        "env-name-pattern",
        "strategy-range",
        "drawdown-zero",
        "drawdown-100",
        "drawdown-words",
        "drawdown-bool",
        "min-equity-negative",
    ],
)
def test_bad_values_name_file_line_key_and_expected(
    pdir: Path, tmp_path: Path, old: str, new: str, marker: str, key: str, phrases: tuple[str, ...]
) -> None:
    path = pdir / "balanced.yaml"
    bad = edit(path.read_text(encoding="utf-8"), old, new)
    path.write_text(bad, encoding="utf-8")
    errors = refusals(path, tmp_path)
    assert len(errors) == 1, [str(e) for e in errors]
    expect(errors, path, line_of(bad, marker), key, *phrases)


@pytest.mark.parametrize(
    ("old", "new", "marker", "key", "expected"),
    [
        (
            "  max_positions: 5\n",
            "  max_position: 5\n",
            "max_position:",
            "risk.max_position",
            "daily_loss_limit_pct, max_drawdown_pct, max_hold, max_positions, min_equity, sl_streak, symbol_cooldown",
        ),
        (
            "  sl_streak: {losses: 3, pause: 30m}\n",
            "  sl_streak: {losses: 3, pauze: 30m}\n",
            "pauze",
            "risk.sl_streak.pauze",
            "losses, pause",
        ),
        ("notifications:\n", "notification:\n", "notification:", "notification", "notifications"),
        ("  ema_fast: 9\n", "  ema_fats: 9\n", "ema_fats", "strategy.ema_fats", "ema_fast"),
        (
            "  allowed_chat_ids: []\n",
            "  allowed_chats: []\n",
            "allowed_chats",
            "telegram.allowed_chats",
            "allowed_chat_ids, allowed_user_ids, api_base_url, confirm_timeout, enabled, poll_timeout, token_env",
        ),
    ],
    ids=["risk", "nested-flow", "top-level", "strategy", "telegram"],
)
def test_unknown_keys_name_file_line_key_and_the_allowed_keys(
    pdir: Path, tmp_path: Path, old: str, new: str, marker: str, key: str, expected: str
) -> None:
    path = pdir / "balanced.yaml"
    bad = edit(path.read_text(encoding="utf-8"), old, new)
    path.write_text(bad, encoding="utf-8")
    errors = refusals(path, tmp_path)
    expect(errors, path, line_of(bad, marker), key, "unknown key; expected one of:", expected)


def test_several_profile_errors_are_reported_together(pdir: Path, tmp_path: Path) -> None:
    path = pdir / "balanced.yaml"
    bad = edit(path.read_text(encoding="utf-8"), "  leverage: 5\n", "  leverage: 500\n")
    bad = edit(bad, "  max_positions: 5\n", "  max_positionz: 5\n")
    bad = edit(bad, "  tick: 10s\n", "  tick: soon\n")
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(SpecErrors) as info:
        load(path, tmp_path)
    errors = info.value.errors
    assert len(errors) == 3
    expect(errors, path, line_of(bad, "leverage: 500"), "orders.leverage", "125")
    expect(errors, path, line_of(bad, "max_positionz"), "risk.max_positionz", "unknown key")
    expect(errors, path, line_of(bad, "tick: soon"), "runtime.tick", "expected a duration")


def test_profile_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "profiles", "list.yaml", "- a\n- b\n")
    err = refusals(path, tmp_path)[0]
    assert err.file == str(path) and err.line == 1 and "must be a mapping" in err.problem


def test_profile_without_a_name(tmp_path: Path) -> None:
    text = "# nameless\nmode: paper\n"
    path = write(tmp_path / "profiles", "nameless.yaml", text)
    expect(refusals(path, tmp_path), path, line_of(text, "mode:"), "name", "required key is missing")


# --- take-profit steps and telegram --------------------------------------------------------------
def test_take_profit_sizes_must_sum_to_100(pdir: Path, tmp_path: Path) -> None:
    path = pdir / "balanced.yaml"
    bad = edit(path.read_text(encoding="utf-8"), "{at_pct: 1.2, size_pct: 30}", "{at_pct: 1.2, size_pct: 20}")
    path.write_text(bad, encoding="utf-8")
    expect(
        refusals(path, tmp_path),
        path,
        line_of(bad, "take_profit:"),
        "orders.take_profit",
        "take-profit sizes must add up to 100 %, got 90 %",
    )


@pytest.mark.parametrize(
    ("new_at", "shown"), [("0.3", "[0.4, 0.3, 1.2]"), ("0.4", "[0.4, 0.4, 1.2]")], ids=["decreasing", "equal"]
)
def test_take_profit_distances_must_increase(pdir: Path, tmp_path: Path, new_at: str, shown: str) -> None:
    path = pdir / "balanced.yaml"
    bad = edit(
        path.read_text(encoding="utf-8"), "{at_pct: 0.8, size_pct: 30}", f"{{at_pct: {new_at}, size_pct: 30}}"
    )
    path.write_text(bad, encoding="utf-8")
    expect(
        refusals(path, tmp_path),
        path,
        line_of(bad, "take_profit:"),
        "orders.take_profit",
        "strictly increasing",
        shown,
    )


def test_take_profit_step_out_of_range_names_the_item(pdir: Path, tmp_path: Path) -> None:
    path = pdir / "balanced.yaml"
    bad = edit(
        path.read_text(encoding="utf-8"), "{at_pct: 1.2, size_pct: 30}", "{at_pct: 1.2, size_pct: 130}"
    )
    path.write_text(bad, encoding="utf-8")
    expect(
        refusals(path, tmp_path),
        path,
        line_of(bad, "size_pct: 130"),
        "orders.take_profit[2].size_pct",
        "less than or equal to 100",
    )


def test_child_take_profit_replaces_the_parents_list(pdir: Path, tmp_path: Path) -> None:
    child = pdir / "conservative.yaml"
    text = edit(
        child.read_text(encoding="utf-8"),
        "orders:\n",
        "orders:\n  take_profit:\n    - {at_pct: 0.5, size_pct: 100}\n",
    )
    child.write_text(text, encoding="utf-8")
    profile = load(child, tmp_path).profile
    assert [(s.at_pct, s.size_pct) for s in profile.orders.take_profit] == [(0.5, 100)]


def test_telegram_enabled_without_allowed_chat_ids_is_refused(pdir: Path, tmp_path: Path) -> None:
    path = pdir / "balanced.yaml"
    bad = edit(path.read_text(encoding="utf-8"), "  enabled: false\n", "  enabled: true\n")
    path.write_text(bad, encoding="utf-8")
    expect(
        refusals(path, tmp_path),
        path,
        line_of(bad, "telegram:"),
        "telegram",
        "telegram is enabled but allowed_chat_ids is empty",
    )


def test_telegram_enabled_with_allowed_chat_ids_is_accepted(pdir: Path, tmp_path: Path) -> None:
    path = pdir / "balanced.yaml"
    text = edit(path.read_text(encoding="utf-8"), "  enabled: false\n", "  enabled: true\n")
    path.write_text(
        edit(text, "  allowed_chat_ids: []\n", "  allowed_chat_ids: [12345, -100200]\n"), encoding="utf-8"
    )
    profile = load(path, tmp_path).profile
    assert profile.telegram.enabled is True
    assert profile.telegram.allowed_chat_ids == (12345, -100200)


