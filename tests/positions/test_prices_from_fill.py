"""The stop and take-profits keep the plan's distances from the average fill, not from the signal's close.

A plan is priced at the close; a market entry fills a slip away and a limit entry sent in at market after
its timeout can fill far away. A stop left at the close's price then risks more or less than sizing
planned, or lies on the wrong side of the price (Binance -2021: the bot went to emergency)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.clock import SimulatedClock
from engine.positions.book import PositionBook
from engine.positions.model import IntentKind, Position
from engine.positions.prices import from_fill
from tests.positions.support import T0, Env, fill, limit_plan, machine, plan

D = Decimal


def _with_tick(p: dict, tick: str = "0.1") -> dict:
    return {**p, "tick_size": tick}


def _entered(tmp_path, the_plan: dict, price: str) -> tuple[PositionBook, Position]:
    book = PositionBook(machine(), tmp_path)
    book.open()
    p = book.new_position("BTC/USDC:USDC")
    now = SimulatedClock(T0).now()
    book.apply(p, "signal", {"plan": the_plan}, now=now, env=Env())
    p.intents.clear()
    book.apply(p, "entry_filled", fill(the_plan["qty"], price), now=now, env=Env())
    return book, p


def _prices(p: Position) -> tuple[Decimal, list[Decimal]]:
    stop = [i.price for i in p.intents if i.kind is IntentKind.STOP_LOSS]
    tps = [i.price for i in p.intents if i.kind is IntentKind.TAKE_PROFIT]
    assert len(stop) == 1
    return stop[0], tps


def test_a_long_filled_one_percent_above_the_close_moves_its_stop_and_take_profits_with_it(tmp_path) -> None:
    # plan at 60000.0: stop 58800.0 (2 %), take-profits 60240.0 / 60480.0 / 60720.0
    _, p = _entered(tmp_path, _with_tick(plan()), "60600.0")
    stop, tps = _prices(p)
    assert stop == D("59388.0")  # 2 % below 60600
    assert tps == [D("60842.4"), D("61084.8"), D("61327.2")]  # 0.4 / 0.8 / 1.2 % above 60600


def test_a_short_filled_below_the_close_moves_them_down(tmp_path) -> None:
    # plan at 60000.0: stop 61200.0, take-profits 59760.0 / 59520.0 / 59280.0
    _, p = _entered(tmp_path, _with_tick(plan(side="short")), "59400.0")
    stop, tps = _prices(p)
    assert stop == D("60588.0")
    assert tps == [D("59162.4"), D("58924.8"), D("58687.2")]


def test_prices_off_the_tick_are_rounded_toward_the_entry(tmp_path) -> None:
    # 58800 × 60001.3 / 60000 = 58801.2742 → 58801.3 (up, toward the entry); 60240 × … = 60241.3052 → 60241.3
    _, p = _entered(tmp_path, _with_tick(plan()), "60001.3")
    stop, tps = _prices(p)
    assert stop == D("58801.3")
    assert tps[0] == D("60241.3")


def test_a_fill_at_the_plan_price_keeps_the_plan_prices(tmp_path) -> None:
    _, p = _entered(tmp_path, _with_tick(plan()), "60000.0")
    stop, tps = _prices(p)
    assert stop == D("58800.0") and tps == [D("60240.0"), D("60480.0"), D("60720.0")]


def test_a_plan_journaled_before_plans_carried_the_tick_keeps_its_prices(tmp_path) -> None:
    _, p = _entered(tmp_path, plan(), "60600.0")  # no tick_size: a position restored from an older journal
    stop, tps = _prices(p)
    assert stop == D("58800.0") and tps == [D("60240.0"), D("60480.0"), D("60720.0")]


def test_a_fill_beyond_the_planned_stop_gets_a_stop_on_the_right_side_of_the_price(tmp_path) -> None:
    # A limit entry timed out and went in at market 2.5 % lower: the plan's 58800 stop would lie above the
    # fill, where the venue refuses it as already triggered.
    book, p = _entered(tmp_path, _with_tick(limit_plan()), "58500.0")
    stop, tps = _prices(p)
    assert stop == D("57330.0") < D("58500.0")
    assert all(tp > D("58500.0") for tp in tps)


def test_a_stop_kept_after_a_take_profit_stays_at_the_fills_distance(tmp_path) -> None:
    the_plan = {**_with_tick(plan()), "stop_after_tp": "keep"}
    book, p = _entered(tmp_path, the_plan, "60600.0")
    p.intents.clear()
    tp1 = next(c for c in p.open_orders if c not in p.stops())
    book.apply(p, "tp_filled", fill("0.004", "60842.4", client_id=tp1, step=1), now=T0, env=Env())
    assert [i.price for i in p.intents if i.kind is IntentKind.STOP_LOSS] == [D("59388.0")]


@pytest.mark.parametrize("side", ["long", "short"])
def test_a_distance_under_one_tick_still_leaves_a_tick_between_price_and_fill(side: str) -> None:
    p = Position(id="P1", symbol="BTC/USDC:USDC")
    p.plan = {"price": "100.0", "tick_size": "0.1"}
    p.entry_price = D("100.05")
    below = from_fill(p, D("99.99") if side == "long" else D("100.01"))
    # 99.99 × 100.05 / 100 = 100.04 → rounds up to 100.1 ≥ the fill: one tick under the fill instead
    if side == "long":
        assert below == D("100.0") and below < p.entry_price
    else:
        assert below > p.entry_price and below == D("100.1")
