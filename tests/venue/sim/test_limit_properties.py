"""Property tests of the resting-order fill model: a touch is never a fill and trading through always is;
the fills of an order never sum past it; reduce-only orders never increase exposure."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.sim import MatchingEngine
from engine.venue.types import ExecutionKind, OrderType, Side
from tests.venue.venue_helpers import BTCUSDC

M5 = 300_000
T0 = 1_700_000_000_000 // M5 * M5
PRICE = 59900.0  # the resting buy's limit
TICKS = st.integers(min_value=0, max_value=3000)  # tenths above the limit
VOLUME = st.sampled_from([0.0, 0.01, 0.05, 0.2, 1000.0])


def _engine(markets: dict[str, Market], brackets: dict[str, Brackets]) -> MatchingEngine:
    e = MatchingEngine(markets, brackets=brackets, balances={"USDC": D(100_000)})
    e.on_candle(BTCUSDC, T0, 60000.0, 60000.0, 60000.0, 60000.0, 1000.0)
    return e


@st.composite
def candle_at_or_above(draw: st.DrawFn) -> tuple[float, float, float, float]:
    """A candle whose low is at or above the limit (tenths of a dollar above it)."""
    ticks = sorted(draw(st.lists(TICKS, min_size=4, max_size=4)))
    low, a, b, high = (PRICE + t / 10 for t in ticks)
    o, c = draw(st.permutations([a, b]))
    return o, high, low, c


@settings(max_examples=150, deadline=None)
@given(
    candles=st.lists(candle_at_or_above(), min_size=1, max_size=8),
    touch=st.booleans(),
    through=st.integers(min_value=1, max_value=500),
)
def test_a_touch_is_never_a_fill_and_trading_through_always_is(
    markets: dict[str, Market], brackets: dict[str, Brackets],
    candles: list[tuple[float, float, float, float]], touch: bool, through: int,
) -> None:
    e = _engine(markets, brackets)
    e.place_limit(BTCUSDC, Side.BUY, D("0.010"), D("59900.0"), "E1")
    for i, (o, h, lo, c) in enumerate(candles, start=1):
        if touch:
            lo = PRICE  # the low exactly at the limit
        assert e.on_candle(BTCUSDC, T0 + i * M5, o, h, lo, c, 1000.0) == []
    below = PRICE - through / 10
    fills = e.on_candle(BTCUSDC, T0 + 99 * M5, PRICE + 1, PRICE + 2, below, PRICE + 0.5, 1000.0)
    assert [(f.client_id, f.price, f.qty) for f in fills] == [("E1", D("59900.0"), D("0.010"))]


@st.composite
def walk(draw: st.DrawFn) -> list[tuple[float, float, float, float, float]]:
    """Candles wandering around 60 000 (±1 500), with volumes from none to plenty."""
    out, last = [], 60000.0
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        o = last
        c = 60000.0 + draw(st.integers(min_value=-1500, max_value=1500))
        h = max(o, c) + draw(st.integers(min_value=0, max_value=400))
        lo = min(o, c) - draw(st.integers(min_value=0, max_value=400))
        out.append((o, h, lo, c, draw(VOLUME)))
        last = c
    return out


ORDER = st.tuples(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(min_value=2, max_value=40),  # thousandths of BTC
    st.integers(min_value=-1200, max_value=1200),  # dollars from 60 000
    st.booleans(),  # reduce-only
)


@settings(max_examples=150, deadline=None)
@given(
    start_qty=st.integers(min_value=-30, max_value=30).filter(lambda x: abs(x) != 1),  # 0.001: < min notional
    orders=st.lists(ORDER, max_size=6),
    candles=walk(),
)
def test_fills_never_sum_past_the_order_and_reduce_only_never_adds_exposure(
    markets: dict[str, Market], brackets: dict[str, Brackets],
    start_qty: int, orders: list[tuple[Side, int, int, bool]],
    candles: list[tuple[float, float, float, float, float]],
) -> None:
    e = _engine(markets, brackets)
    if start_qty:
        side = Side.BUY if start_qty > 0 else Side.SELL
        e.place_market(BTCUSDC, side, D(abs(start_qty)) / 1000, "P0")
    placed: dict[str, D] = {}
    for n, (side, milli, offset, reduce_only) in enumerate(orders):
        qty, price = D(milli) / 1000, D(60000 + offset)
        try:
            state = e.place_limit(BTCUSDC, side, qty, price, f"L{n}", reduce_only=reduce_only)
        except Exception:  # noqa: BLE001 - refusals (min notional, reduce-only, margin) are not the point
            continue
        placed[state.client_id] = state.qty
    position = e.positions()[0].signed_qty if e.positions() else D(0)
    for i, (o, h, lo, c, v) in enumerate(candles, start=1):
        for fill in e.on_candle(BTCUSDC, T0 + i * M5, o, h, lo, c, v):
            after = fill.position_after
            if fill.kind is ExecutionKind.LIMIT and fill.reduce_only:
                assert abs(after) < abs(position) and after * position >= 0  # never through zero
            position = after
    for cid, qty in placed.items():
        state = e.fetch_order(BTCUSDC, cid, conditional=False)
        assert state is not None and state.type is OrderType.LIMIT
        filled = sum(x.qty for x in e.executions if x.client_id == cid)
        assert filled == state.filled <= qty
        assert state.is_open == (state.filled < qty and state.status.is_open)
    # the account still balances, whatever filled
    initial, pnl, fees, funding = e.account_totals("USDC")
    assert e.balance("USDC").wallet == initial + pnl - fees + funding
