"""The leverage rule end to end: a backtest on real Binance candles with `orders.leverage_rule` on
chooses a leverage per entry (from the signal's ATR % and the rolling win-rate), within the rule's
bounds and the venue's brackets, sizes each entry with it and journals it with why; the same backtest
with the rule off (absent, or named `fixed` with other keys set) gives today's trades exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.cli.main import main
from engine.config.loading import load_profile
from engine.run.backtest import BacktestRun, run_backtest
from engine.venue.leverage import DEFAULT_BRACKETS
from tests.e2e.support import journal, make_profile

FROM, TO = datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC)
SYMBOLS = ["BTC", "ETH", "SOL"]
# Fixed stake: the notional of an entry is stake × its leverage, so the journal shows the sizing used it.
EDITS: dict[str, Any] = {
    "orders": {"sizing": "fixed", "stake": 50, "leverage": 5, "stop_loss_pct": 0.6,
               "take_profit": [{"at_pct": 0.3, "size_pct": 50}, {"at_pct": 1.5, "size_pct": 50}]},
    "risk": {"max_hold": "30m"},
}
RULE = {"name": "atr_winrate", "min": 2, "max": 15, "target_atr_pct": 0.3, "win_rate_window": 10,
        "min_trades": 3, "win_rate_gain": 1.5}


def _backtest(root: Path, shared_data: Path, name: str, rule: dict[str, Any] | None) -> BacktestRun:
    orders = dict(EDITS["orders"], **({"leverage_rule": rule} if rule is not None else {}))
    profile = make_profile(root, name, orders=orders, risk=EDITS["risk"])
    return asyncio.run(run_backtest(load_profile(profile), shared_data, FROM, TO, symbols=SYMBOLS,
                                    out_dir=root / f"out-{name}"))


def _trades(run: BacktestRun) -> list[dict[str, Any]]:
    drop = ("order_prefix", "order_roles", "open_orders", "intents", "fills")  # the random per-bot prefix
    return [{k: v for k, v in t.items() if k not in drop} for t in run.trades]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("leverage")


@pytest.fixture(scope="module")
def today(root: Path, shared_data: Path) -> BacktestRun:
    return _backtest(root, shared_data, "today", None)


@pytest.fixture(scope="module")
def ruled(root: Path, shared_data: Path) -> BacktestRun:
    return _backtest(root, shared_data, "ruled", RULE)


def test_leverage_varies_per_entry_within_the_bounds_and_brackets(ruled: BacktestRun) -> None:
    plans = [r["payload"]["plan"] for r in journal(ruled.out_dir) if r.get("event") == "signal"]
    assert len(plans) >= 20, "the period must give enough entries"
    leverages = [p["leverage"] for p in plans]
    cap = DEFAULT_BRACKETS[0].max_leverage  # the simulator's brackets (20x) when none are loaded
    assert all(RULE["min"] <= lev <= min(RULE["max"], cap) for lev in leverages)
    assert len(set(leverages)) >= 4, f"the leverage should vary with ATR and the win-rate: {leverages}"
    for plan in plans:
        # sized with its own leverage: notional = stake × leverage, floored to the lot step
        notional = Decimal(plan["qty"]) * Decimal(plan["price"])
        target = Decimal(50) * plan["leverage"]
        assert target - Decimal(plan["step_size"]) * Decimal(plan["price"]) <= notional <= target
        assert plan["leverage_why"].startswith("atr_winrate: 5x × ATR target 0.3% / ")
        assert plan["leverage_why"].endswith(f"{plan['leverage']}x")
    # the win-rate took part once enough trades had closed
    assert any("won)" in p["leverage_why"] for p in plans[5:])
    assert ruled.trades and any(t["exit_reason"] == "sl" for t in ruled.trades)


def test_log_shows_each_entrys_leverage(ruled: BacktestRun) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["log", "--state", str(ruled.out_dir), "--event", "signal"]) == 0
    first = next(r for r in journal(ruled.out_dir) if r.get("event") == "signal")
    assert f"{first['payload']['plan']['leverage']}x (atr_winrate: 5x" in out.getvalue()


def test_the_rule_off_is_todays_backtest(root: Path, shared_data: Path, today: BacktestRun,
                                        ruled: BacktestRun) -> None:
    fixed = _backtest(root, shared_data, "fixed", dict(RULE, name="fixed"))
    assert _trades(fixed) == _trades(today)
    assert fixed.final_balance == today.final_balance
    plans = [r["payload"]["plan"] for r in journal(today.out_dir) if r.get("event") == "signal"]
    assert plans and not any("leverage" in p for p in plans)
    assert _trades(ruled) != _trades(today)
