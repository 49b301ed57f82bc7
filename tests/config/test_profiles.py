"""Profiles: the shipped ones load and bind; `extends:` merges; every refusal names file, line, key and
what was expected; durations; runtime overrides; binding a machine; secrets never printed.

Bad profiles are textual edits of a profile written into tmp_path; expected lines are computed from the
edited text. Every load passes `state_root=tmp_path/...` so the checkout's own `state/` is never read.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config.durations import format_duration, parse_duration
from engine.config.loading import LoadedProfile, bind_machine, load_machine_for, load_profile
from engine.errors import SpecError, SpecErrors, UserError
from engine.machine.runtime import CompiledMachine
from engine.positions.events import load_position_machine
from engine.positions.model import Position
from tests.positions.support import MACHINE_FILE, REPO, T0, Env, fill, plan

PROFILES = REPO / "profiles"
SHIPPED = ("balanced", "conservative", "aggressive")


# --- helpers -----------------------------------------------------------------------------------
def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"edit anchor must be unique: {old!r}"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}, expected exactly one"
    return hits[0]


def shipped_text(name: str) -> str:
    return (PROFILES / f"{name}.yaml").read_text(encoding="utf-8")


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    """tmp_path/profiles with copies of the three shipped profiles (machine path made absolute)."""
    d = tmp_path / "profiles"
    d.mkdir()
    for name in SHIPPED:
        (d / f"{name}.yaml").write_text(shipped_text(name), encoding="utf-8")
    text = (d / "balanced.yaml").read_text(encoding="utf-8")
    (d / "balanced.yaml").write_text(
        edit(text, "runtime:\n", f"runtime:\n  machine: {MACHINE_FILE}\n"), encoding="utf-8"
    )
    return d


def load(path: Path, tmp_path: Path, **kw) -> LoadedProfile:
    return load_profile(path, state_root=tmp_path / "state", **kw)


def refusals(path: Path, tmp_path: Path) -> list[SpecError]:
    with pytest.raises(UserError) as info:
        load(path, tmp_path)
    exc = info.value
    if isinstance(exc, SpecErrors):
        return list(exc.errors)
    assert isinstance(exc, SpecError), type(exc)
    return [exc]


def expect(errors: list[SpecError], file: Path, line: int | None, key: str, *phrases: str) -> SpecError:
    matching = [e for e in errors if e.key == key]
    assert matching, f"no error for key {key!r}; got {[str(e) for e in errors]}"
    err = matching[0]
    assert err.file == str(file), f"{err.file} != {file}"
    assert err.line == line, f"{key}: line {err.line}, expected {line}: {err}"
    for phrase in phrases:
        assert phrase in err.problem, f"{phrase!r} not in {err.problem!r}"
    where = f"{file}:{line}" if line else str(file)
    assert str(err) == f"{where}: {key}: {err.problem}"
    return err


def write(dirpath: Path, name: str, text: str) -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    path = dirpath / name
    path.write_text(text, encoding="utf-8")
    return path


def bound_deadlines(machine: CompiledMachine) -> tuple[object, object]:
    """Fire signal then entry_filled on a fresh position; return the two deadlines the machine armed."""
    pos = Position("P1", "BTC/USDC:USDC")
    machine.attach(pos)
    machine.fire(pos, "signal", {"plan": plan()}, now=T0, env=Env())
    after_signal = (pos.deadline_event, pos.deadline_at)
    machine.fire(pos, "entry_filled", fill("0.010", "60000.0"), now=T0 + timedelta(seconds=5), env=Env())
    machine.detach(pos)
    return after_signal, (pos.deadline_event, pos.deadline_at)


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
            "daily_loss_limit_pct, max_hold, max_positions, sl_streak, symbol_cooldown",
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


# --- binding a machine ---------------------------------------------------------------------------
def minimal_profile(
    tmp_path: Path, name: str = "mini", machine: Path = MACHINE_FILE, extra: str = ""
) -> Path:
    return write(
        tmp_path / "profiles",
        f"{name}.yaml",
        f"name: {name}\nruntime:\n  machine: {machine}\n  state_dir: {tmp_path / 'run'}\n{extra}",
    )


@pytest.mark.parametrize(
    ("after", "phrase"),
    [
        ("orders.entry_timout", "has no parameter 'orders.entry_timout'"),
        ("limits.entry_timeout", "has no parameter 'limits.entry_timeout'"),
        ("orders.leverage", "profile parameter 'orders.leverage' is 5, expected a duration"),
    ],
    ids=["typo", "no-section", "not-a-duration"],
)
def test_bind_machine_refuses_a_timeout_the_profile_cannot_supply(
    tmp_path: Path, after: str, phrase: str
) -> None:
    text = edit(
        MACHINE_FILE.read_text(encoding="utf-8"), "{after: orders.entry_timeout,", f"{{after: {after},"
    )
    machine_path = write(tmp_path / "machines", "position.yaml", text)
    definition = load_position_machine(machine_path)  # the machine itself is valid
    loaded = load(minimal_profile(tmp_path, machine=machine_path), tmp_path)
    with pytest.raises(SpecErrors) as info:
        bind_machine(definition, loaded)
    errors = info.value.errors
    assert len(errors) == 1
    expect(errors, machine_path, line_of(text, f"after: {after}"), "states.entering.timeout.after", phrase)
    # and the same through load_machine_for (what `validate` and the bot use)
    with pytest.raises(SpecErrors) as again:
        load_machine_for(loaded)
    assert [str(e) for e in again.value.errors] == [str(e) for e in errors]


def test_validate_profile_with_an_unbindable_machine_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = edit(
        MACHINE_FILE.read_text(encoding="utf-8"),
        "{after: risk.max_hold, event: max_hold, since: opened}\n  partial_tp:",
        "{after: risk.max_hould, event: max_hold, since: opened}\n  partial_tp:",
    )
    machine_path = write(tmp_path / "machines", "position.yaml", text)
    profile = minimal_profile(tmp_path, machine=machine_path)
    assert main(["validate", str(profile)]) == 2
    err = capsys.readouterr().err
    assert f"{machine_path}:{line_of(text, 'risk.max_hould')}: states.open.timeout.after:" in err
    assert "Traceback" not in err


# --- secrets -----------------------------------------------------------------------------------
SECRETS = {
    "BINANCE_API_KEY": "k3y-VALUE-7f3a9c-must-not-leak",
    "BINANCE_API_SECRET": "s3cr3t-VALUE-0d1e2f-must-not-leak",
    "TELEGRAM_BOT_TOKEN": "123456:tel3gram-VALUE-must-not-leak",
    "ENGINE_APPRISE_URLS": "tgram://apprise-VALUE-must-not-leak/",
    "MY_OTHER_SECRET": "other-VALUE-must-not-leak",
}


def test_validate_never_prints_secret_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    profile = minimal_profile(tmp_path, extra="venue:\n  api_key_env: MY_OTHER_SECRET\n")
    assert main(["validate", str(profile)]) == 0
    out, err = capsys.readouterr()
    for value in SECRETS.values():
        assert value not in out and value not in err
        assert value[:12] not in out
    assert "api_key_env: MY_OTHER_SECRET (set)" in out
    assert "api_secret_env: BINANCE_API_SECRET (set)" in out
    assert "token_env: TELEGRAM_BOT_TOKEN (set)" in out
    assert "urls_env: ENGINE_APPRISE_URLS (set)" in out


def test_validate_says_when_a_secret_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", SECRETS["BINANCE_API_KEY"])
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    assert main(["validate", str(minimal_profile(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "api_key_env: BINANCE_API_KEY (set)" in out
    assert "api_secret_env: BINANCE_API_SECRET (not set)" in out
    assert SECRETS["BINANCE_API_KEY"] not in out


def test_validate_shows_merged_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = minimal_profile(tmp_path)
    # overrides live in the profile's own state folder (runtime.state_dir), where the bot writes them
    write_overrides(tmp_path / "run", "mini", {"risk": {"max_positions": 2}})
    assert main(["validate", str(profile)]) == 0
    out = capsys.readouterr().out
    assert 'runtime overrides merged: {"risk": {"max_positions": 2}}' in out
    assert "max_positions: 2" in out
