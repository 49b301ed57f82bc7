"""Test support for the position book and machine tests: a machine bound to fixed timeouts, a
configurable env, payloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.machine.loader import MachineDefinition
from engine.machine.runtime import CompiledMachine
from engine.positions.events import load_position_machine

REPO = Path(__file__).resolve().parents[2]
MACHINE_FILE = REPO / "machines" / "position.yaml"
T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
TIMEOUTS = {
    "orders.entry_timeout": timedelta(seconds=30),
    "orders.entry.timeout": timedelta(seconds=20),
    "orders.close_timeout": timedelta(seconds=30),
    "orders.emergency_retry": timedelta(seconds=10),
    "risk.max_hold": timedelta(minutes=10),
}


def definition() -> MachineDefinition:
    return load_position_machine(MACHINE_FILE)


def machine() -> CompiledMachine:
    return CompiledMachine(definition(), TIMEOUTS)


@dataclass
class Risk:
    """Stand-in for RiskGuard in unit tests: refuses the rules listed in `refuse`."""

    refuse: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def allows(self, rule: str, position: Any, now: datetime) -> bool:
        self.asked.append(rule)
        return rule not in self.refuse


@dataclass
class Market:
    closed: set[str] = field(default_factory=set)

    def tradable(self, symbol: str) -> bool:
        return symbol not in self.closed


@dataclass
class Bot:
    """Stand-in for the bot machine (engine.trading.bot_machine): asks `risk` for `entries_allowed`,
    so a unit test refuses it like a risk rule."""

    risk: Risk

    def entries_allowed(self, symbol: str, now: datetime) -> bool:
        return self.risk.allows("entries_allowed", symbol, now)


@dataclass
class Env:
    risk: Risk = field(default_factory=Risk)
    market: Market = field(default_factory=Market)
    bot: Bot = field(init=False)

    def __post_init__(self) -> None:
        self.bot = Bot(self.risk)


def plan(side: str = "long", qty: str = "0.010", price: str = "60000.0") -> dict[str, Any]:
    """An entry plan as sizing would produce it: BTCUSDC filters, SL 2 %, TP 0.4/0.8/1.2 %."""
    p = float(price)
    sign = 1 if side == "long" else -1
    return {
        "side": side,
        "qty": qty,
        "price": price,
        "stop_price": f"{p * (1 - sign * 0.02):.1f}",
        "take_profits": [
            {"price": f"{p * (1 + sign * 0.004):.1f}", "qty": "0.004"},
            {"price": f"{p * (1 + sign * 0.008):.1f}", "qty": "0.003"},
            {"price": f"{p * (1 + sign * 0.012):.1f}", "qty": "0.003"},
        ],
        "step_size": "0.001",
        "min_notional": "100",
        "stop_after_tp": "breakeven",
    }


def limit_plan(on_timeout: str = "market", **kw: Any) -> dict[str, Any]:
    """`plan()` for a post-only limit entry (orders.entry.type: limit)."""
    return {**plan(**kw), "entry": {"type": "limit", "post_only": True, "on_timeout": on_timeout}}


def fill(qty: str, price: str, client_id: str = "", fee: str = "0.1", **extra: Any) -> dict[str, Any]:
    return {"client_id": client_id, "qty": qty, "price": price, "fee": fee, **extra}


# Event sequences that walk a fresh position into each state, with payloads that pass the guards.
PATHS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "idle": [],
    "entering": [("signal", {"plan": plan()})],
    "open": [("signal", {"plan": plan()}), ("entry_filled", fill("0.010", "60010.0"))],
    "partial_tp": [
        ("signal", {"plan": plan()}),
        ("entry_filled", fill("0.010", "60010.0")),
        ("tp_filled", fill("0.004", "60240.0", step=1)),
    ],
    "closing": [("signal", {"plan": plan()}), ("entry_filled", fill("0.010", "60010.0")), ("max_hold", {})],
    "emergency": [("signal", {"plan": plan()}), ("panic", {})],
    "resting": [("signal", {"plan": limit_plan()})],
    "cancelling_entry": [("signal", {"plan": limit_plan()}), ("entry_expired", {})],
    "closed": [("signal", {"plan": plan()}), ("entry_rejected", {"code": -4164, "msg": "min notional"})],
}


def payload_for(event: str, state: str, dest: str) -> dict[str, Any]:
    """A payload for `event` that steers the guards toward the edge to `dest`."""
    if event == "signal":
        return {"plan": limit_plan() if dest == "resting" else plan()}
    if event == "entry_filled":
        return fill("0.010", "60010.0")
    if event == "tp_filled":
        remaining = "0.010" if state == "open" else "0.006"
        return fill(remaining if dest == "closed" else "0.003", "60480.0", step=2)
    if event == "close_filled" and state == "closing" and dest == "emergency":
        return fill("0.004", "58800.0")  # part of the close: the rest is flattened
    if event in ("sl_filled", "close_filled"):
        return fill("0.006" if state == "partial_tp" else "0.010", "58800.0")
    if event in ("entry_rejected", "close_rejected"):
        return {"code": -2019, "msg": "Margin is insufficient."}
    return {}
