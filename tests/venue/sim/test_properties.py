"""Property: whatever orders and candles arrive, reduce-only never increases or flips a position, every
execution is consistent with the position it leaves, and the wallet always equals
initial + realised PnL - fees + funding summed over the executions."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.venue import errors
from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.sim import MatchingEngine
from engine.venue.types import ExecutionKind, OrderType, Side
from tests.venue.venue_helpers import BTCUSDC

HOUR = 3_600_000
CANDLE_MS = 4 * HOUR  # long candles so that funding (every 8 h) happens often
INITIAL = D(2000)

sides = st.sampled_from([Side.BUY, Side.SELL])
quantities = st.integers(min_value=1, max_value=60).map(lambda n: D(n) / 1000)  # 0.001 .. 0.060 BTC
candle_step = st.tuples(
    st.just("candle"),
    st.floats(-0.03, 0.03),  # gap at the open
    st.floats(-0.04, 0.04),  # open -> close
    st.floats(0, 0.03),  # wick above
    st.floats(0, 0.03),  # wick below
)
market_step = st.tuples(st.just("market"), sides, quantities, st.booleans())
# Mostly well-formed protection (closing side, trigger on the right side of the price), sometimes any side
# and any trigger so that -2021 / -2022 refusals are exercised too.
conditional_step = st.tuples(
    st.just("conditional"),
    st.sampled_from([OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET]),
    st.one_of(st.none(), st.none(), st.none(), sides),
    quantities,
    st.floats(0.001, 0.04),
    st.booleans(),
)
cancel_step = st.tuples(st.just("cancel"), st.integers(0, 5))
leverage_step = st.tuples(st.just("leverage"), st.integers(1, 125))
steps = st.lists(
    st.one_of(
        candle_step,
        candle_step,
        candle_step,
        market_step,
        conditional_step,
        conditional_step,
        cancel_step,
        leverage_step,
    ),
    min_size=10,
    max_size=80,
)


def tick(x: float) -> float:
    return round(max(x, 1000.0), 1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    opening=st.tuples(sides, st.integers(4, 60).map(lambda n: D(n) / 1000)),
    steps=steps,
    slippage=st.sampled_from([0, 1, 5]),
)
def test_reduce_only_and_wallet_invariants(
    markets: dict[str, Market],
    brackets: dict[str, Brackets],
    opening: tuple[Side, D],
    steps: list[tuple],
    slippage: int,
) -> None:
    engine = MatchingEngine(
        markets,
        brackets=brackets,
        balances={"USDC": INITIAL},
        slippage_bps=slippage,
        funding_rate=D("0.0003"),
    )
    now = 59_028 * 8 * HOUR
    price = 30000.0
    engine.on_candle(BTCUSDC, now, price, price, price, price)
    steps = [("market", *opening, False), *steps]
    seen = 0
    position = D(0)
    cid = 0
    for step in steps:
        kind = step[0]
        try:
            if kind == "candle":
                _, gap, move, up, down = step
                now += CANDLE_MS
                o = tick(price * (1 + gap))
                c = tick(o * (1 + move))
                h, lo = tick(max(o, c) * (1 + up)), tick(min(o, c) * (1 - down))
                engine.on_candle(BTCUSDC, now, o, h, lo, c)
                price = c
            elif kind == "market":
                cid += 1
                engine.place_market(BTCUSDC, step[1], step[2], f"M{cid}", reduce_only=step[3])
            elif kind == "conditional":
                cid += 1
                _, type_, side, qty, distance, flip = step
                held = engine.positions()
                if side is None:  # protect the position that is there
                    side = held[0].side.closing_side if held else Side.SELL
                # a sell stop sits below the price, a sell take-profit above; buys mirror that
                below = (type_ is OrderType.STOP_MARKET) == (side is Side.SELL)
                if flip:
                    below = not below
                trigger = D(str(tick(price * (1 - distance if below else 1 + distance))))
                engine.place_conditional(BTCUSDC, type_, side, qty, trigger, f"C{cid}")
            elif kind == "cancel":
                orders = engine.open_orders(BTCUSDC)
                if orders:
                    engine.cancel(BTCUSDC, orders[step[1] % len(orders)].client_id, conditional=True)
            else:
                engine.set_leverage(BTCUSDC, step[1])
        except errors.RequestRejected as refusal:
            event(f"refused {refusal.code}")  # part of the game; must leave no trace, checked below

        for execution in engine.executions[seen:]:
            before, after = position, execution.position_after
            if execution.kind is ExecutionKind.FUNDING:
                assert after == before
            elif execution.kind is ExecutionKind.LIQUIDATION:
                assert after == 0 and execution.qty == abs(before)
            else:
                assert after == before + execution.side.sign * execution.qty
            if execution.reduce_only:
                assert abs(after) <= abs(before), f"reduce-only increased the position: {execution}"
                assert after == 0 or (after > 0) == (before > 0), (
                    f"reduce-only flipped the position: {execution}"
                )
            position = after
        seen = len(engine.executions)

        wallet = engine.balance("USDC").wallet
        pnl = sum((x.realized_pnl for x in engine.executions), D(0))
        fees = sum((x.fee for x in engine.executions), D(0))
        funding = sum((x.funding for x in engine.executions), D(0))
        assert wallet == INITIAL + pnl - fees + funding
        assert engine.account_totals("USDC") == (INITIAL, pnl, fees, funding)
        positions = engine.positions()
        if position == 0:
            assert positions == [] and engine.balance("USDC").used == 0
        else:
            (open_position,) = positions
            assert open_position.signed_qty == position
            assert engine.balance("USDC").used == open_position.margin
    # Coverage of the run, visible with --hypothesis-show-statistics.
    for execution_kind in {x.kind for x in engine.executions}:
        event(f"executed {execution_kind}")
    if any(x.reduce_only and x.kind is not ExecutionKind.LIQUIDATION for x in engine.executions):
        event("reduce-only fill")
