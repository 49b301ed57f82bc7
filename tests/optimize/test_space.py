"""The search space file: its format, and refusals that name the file, line and key (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config.loading import load_profile
from engine.errors import SpecError, SpecErrors, UserError
from engine.optimize.apply import build_profile, check_space, get_key, invalid_reason, set_key
from engine.optimize.space import load_space

REPO = Path(__file__).resolve().parents[2]
BALANCED = REPO / "profiles" / "balanced.yaml"

ISSUE_EXAMPLE = """\
params:
  strategy.ema_fast: {int: [5, 20]}
  orders.stop_loss_pct: {float: [0.5, 3.0], step: 0.1}
  orders.risk_per_trade_pct: {float: [0.1, 2.0], log: true}
  risk.max_hold: {choice: [10m, 30m, 1h]}
  strategy.atr_sl_mult: {float: [1.0, 3.0], when: {strategy.atr_scaled_exits: true}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_issue_example_loads(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, ISSUE_EXAMPLE))
    keys = [p.key for p in space.params]
    assert keys == ["strategy.ema_fast", "orders.stop_loss_pct", "orders.risk_per_trade_pct", "risk.max_hold",
                    "strategy.atr_sl_mult"]
    assert [p.line for p in space.params] == [2, 3, 4, 5, 6]
    assert space.params[0].spec.int_range == (5, 20)
    assert space.params[1].spec.step == 0.1 and space.params[2].spec.log is True
    assert space.params[3].spec.choice == ("10m", "30m", "1h")
    assert space.params[4].spec.when == {"strategy.atr_scaled_exits": True}
    check_space(space, load_profile(BALANCED, with_overrides=False))


@pytest.mark.parametrize("space_file", sorted((REPO / "profiles" / "spaces").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_spaces_fit_every_shipped_profile(space_file: Path) -> None:
    space = load_space(space_file)
    for name in ("conservative", "balanced", "aggressive"):
        check_space(space, load_profile(REPO / "profiles" / f"{name}.yaml", with_overrides=False))


@pytest.mark.parametrize(("text", "line", "key", "words"), [
    ("params:\n  a.b: {int: [5, 2]}\n", 2, "params.a.b", "low must be below high"),
    ("params:\n  a.b: {int: [1, 2], choice: [1]}\n", 2, "params.a.b", "exactly one of"),
    ("params:\n  a.b: {float: [0.0, 2.0], log: true}\n", 2, "params.a.b", "low bound above 0"),
    ("params:\n  a.b: {float: [0.1, 2.0], log: true, step: 0.1}\n", 2, "params.a.b", "cannot be combined"),
    ("params:\n  a.b:\n    int: [1, 5]\n    stepp: 2\n", 4, "params.a.b.stepp", "unknown key"),
    ("params: {}\n", 1, "params", "at least 1"),
    ("constraints: {min_trades: 3}\n", 1, "params", "missing"),
])
def test_malformed_space_names_file_line_key(tmp_path: Path, text: str, line: int, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises((SpecError, SpecErrors)) as info:
        load_space(path)
    message = str(info.value)
    assert f"{path}:{line}: {key}" in message and words in message


def test_when_on_a_later_parameter_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "params:\n  strategy.atr_sl_mult: {float: [1, 2], when: {strategy.atr_scaled_exits: true}}\n"
                           "  strategy.atr_scaled_exits: {choice: [true, false]}\n")
    with pytest.raises(SpecError, match=r"space.yaml:2: params.strategy.atr_sl_mult.when: .*listed later"):
        load_space(path)


@pytest.mark.parametrize(("entry", "value", "words"), [
    ("strategy.ema_fast: {int: [5, 500]}", "500", "less than or equal to 200"),
    ("strategy.bogus_key: {int: [1, 3]}", "1", "unknown key"),
    ("risk.max_hold: {choice: [10m, soon]}", "'soon'", "duration"),
])
def test_a_value_that_breaks_the_profile_is_named(tmp_path: Path, entry: str, value: str, words: str) -> None:
    path = write(tmp_path, f"# a comment line\nparams:\n  {entry}\n")
    key = entry.split(":")[0]
    with pytest.raises(SpecError) as info:
        check_space(load_space(path), load_profile(BALANCED, with_overrides=False))
    message = str(info.value)
    assert message.startswith(f"{path}:3: params.{key}: value {value} gives an invalid profile")
    assert words in message


def test_cli_refuses_a_bad_space_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "params:\n  strategy.ema_fast: {int: [5, 500]}\n")
    code = main(["optimize", str(BALANCED), "--space", str(path), "--data", str(tmp_path), "--from", "2025-01-01",
                 "--to", "2025-01-10", "--trials", "2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:2: params.strategy.ema_fast: value 500" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_combinations_the_profile_refuses_are_reported_with_keys_and_values() -> None:
    base = load_profile(BALANCED, with_overrides=False)
    space = load_space(REPO / "profiles" / "spaces" / "scalping.yaml")
    reason = invalid_reason(space, base, {"strategy.ema_fast": 15, "strategy.ema_slow": 12})
    assert reason is not None
    assert "strategy.ema_fast=15, strategy.ema_slow=12" in reason and "must be below ema_slow" in reason
    assert invalid_reason(space, base, {"strategy.ema_fast": 5, "strategy.ema_slow": 30}) is None


def test_dotted_keys_reach_list_items_and_missing_sections() -> None:
    base = load_profile(BALANCED, with_overrides=False)
    first = base.profile.orders.take_profit[0].at_pct
    other = "market" if base.profile.orders.entry.type == "limit" else "limit"
    built = build_profile(base, {"orders.take_profit.0.at_pct": first / 2, "orders.entry.type": other,
                                 "strategy.vol_regime.min_pct": 10.0})  # a section balanced.yaml does not have
    assert built.profile.strategy.vol_regime.min_pct == 10.0
    assert built.profile.orders.take_profit[0].at_pct == first / 2
    assert built.profile.orders.take_profit[1].at_pct == base.profile.orders.take_profit[1].at_pct
    assert built.profile.orders.entry.type == other
    assert base.profile.orders.take_profit[0].at_pct == first  # the base is not touched
    data: dict = {"a": [{"b": 1}]}
    set_key(data, "a.0.b", 2)
    assert get_key(data, "a.0.b") == 2
    with pytest.raises(KeyError, match="not an index"):
        set_key(data, "a.3.b", 1)


def test_objective_names_are_checked() -> None:
    from engine.optimize.objectives import parse_objectives

    assert [o.name for o in parse_objectives("net_pnl, max_drawdown_pct")] == ["net_pnl", "max_drawdown_pct"]
    with pytest.raises(UserError, match="expected one or more of net_pnl, sharpe"):
        parse_objectives("profit")
    with pytest.raises(UserError, match="named twice"):
        parse_objectives("sharpe,sharpe")


def test_a_choice_of_lists_is_drawn_by_position_and_applied_as_the_list(tmp_path: Path) -> None:
    import optuna

    path = write(tmp_path, "params:\n  strategy.confirmations: {choice: [[rsi], [rsi, macd]]}\n"
                           "  strategy.atr_tp_mults: {choice: [[1.0, 2.0], [0.5, 1.0, 1.5]]}\n")
    space = load_space(path)
    base = load_profile(BALANCED, with_overrides=False)
    check_space(space, base)
    seen = set()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(12):
        trial = study.ask()
        values = {p.key: p.suggest(trial) for p in space.params}
        assert values["strategy.confirmations"] in (["rsi"], ["rsi", "macd"])
        assert trial.params["strategy.confirmations"] in (0, 1)  # Optuna holds the position
        built = build_profile(base, values)
        assert list(built.profile.strategy.confirmations) == values["strategy.confirmations"]
        seen.add(tuple(values["strategy.atr_tp_mults"]))
        study.tell(trial, 0.0)
    assert seen == {(1.0, 2.0), (0.5, 1.0, 1.5)}
