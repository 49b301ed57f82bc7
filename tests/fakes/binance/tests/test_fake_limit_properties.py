"""Property tests of the fake Binance's resting LIMIT orders (tests/fakes/binance/limits.py), the second fill
model beside the simulator's (whose own properties are tests/venue/sim/test_limit_properties.py): every
wire test of maker execution trusts it. A touch is never a fill and trading through always is; the fills
of an order never sum past it and its reported executed quantity is the sum of its trades; a reduce-only
order never increases exposure, nor takes the position through zero.

White box: candles go straight to the fake's feed (`_feed`, what its market clock does for each closed
candle), no server and no client, so hypothesis can try hundreds of tapes quickly."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.venue.errors import RequestRejected
from engine.venue.types import Side
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.tests.support import BTC

M5 = 300_000
SYMBOL = "BTC/USDC:USDC"
assert SYMBOL == BTC


def fake_at(price: float, share: float) -> tuple[FakeBinance, int]:
    """A fake on a manual clock (synthetic market) with BTC's last price set to `price`; returns it and the
    open time of the next candle to feed."""
    fake = FakeBinance(symbols=[SYMBOL], balances={"USDC": "1000000"}, limit_fill_share=share)
    fake.set_price(SYMBOL, price)
    return fake, fake.market_time_ms // M5 * M5 + M5


def feed(fake: FakeBinance, open_ms: int, o: float, h: float, lo: float, c: float, v: float = 1000.0) -> None:
    fake._feed(SYMBOL, open_ms, o, h, lo, c, v)  # noqa: SLF001 - the clock's own feed, one candle


def traded(fake: FakeBinance, order_id: int) -> D:
    return sum((t.qty for t in fake.desk.trades if t.order_id == order_id), D(0))


LIMIT = 59900.0
ABOVE = st.integers(min_value=0, max_value=3000)  # tenths of a dollar above the limit


@st.composite
def candle_at_or_above(draw: st.DrawFn) -> tuple[float, float, float, float]:
    low, a, b, high = (LIMIT + t / 10 for t in sorted(draw(st.lists(ABOVE, min_size=4, max_size=4))))
    o, c = draw(st.permutations([a, b]))
    return o, high, low, c


@settings(max_examples=100, deadline=None)
@given(candles=st.lists(candle_at_or_above(), min_size=1, max_size=6), touch=st.booleans(),
       through=st.integers(min_value=1, max_value=500), share=st.sampled_from([0.1, 0.3, 1.0]))
def test_a_touch_is_never_a_fill_and_trading_through_always_is(
    candles: list[tuple[float, float, float, float]], touch: bool, through: int, share: float
) -> None:
    fake, t = fake_at(60000.0, share)
    market = fake.market(SYMBOL)
    order = fake.desk.place_limit(market, Side.BUY, D("0.100"), D("59900.0"), "E1", reduce_only=False,
                                  post_only=True)
    assert order.status == "NEW"
    for i, (o, h, lo, c) in enumerate(candles):
        feed(fake, t + i * M5, o, h, LIMIT if touch else lo, c)
        assert order.executed_qty == 0 and fake.desk.trades == []
    feed(fake, t + len(candles) * M5, LIMIT + 1, LIMIT + 2, LIMIT - through / 10, LIMIT + 0.5)
    expected = min(D("0.100"), max((D("0.100") * D(str(share))).quantize(D("0.001"), "ROUND_DOWN"), D("0.001")))
    assert order.executed_qty == traded(fake, order.order_id) == expected
    assert order.avg_price == D("59900") and all(t.maker and t.price == D("59900.0") for t in fake.desk.trades)


@st.composite
def walk(draw: st.DrawFn) -> list[tuple[float, float, float, float]]:
    """Candles wandering around 60 000 (± 1 500)."""
    out, last = [], 60000.0
    for _ in range(draw(st.integers(min_value=1, max_value=10))):
        o, c = last, 60000.0 + draw(st.integers(min_value=-1500, max_value=1500))
        h = max(o, c) + draw(st.integers(min_value=0, max_value=400))
        lo = min(o, c) - draw(st.integers(min_value=0, max_value=400))
        out.append((o, h, lo, c))
        last = c
    return out


ORDER = st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(min_value=2, max_value=40),
                  st.integers(min_value=-1200, max_value=1200), st.booleans())


def _place(fake: FakeBinance, start: int, orders: list[tuple[Side, int, int, bool]], *,
           all_reduce_only: bool) -> list:  # noqa: ANN401
    """Open `start` thousandths of BTC at market, then place the orders that the fake accepts."""
    market = fake.market(SYMBOL)
    fake.desk.place_market(market, Side.BUY if start > 0 else Side.SELL, D(abs(start)) / 1000, "P0", False)
    placed = []
    for n, (side, milli, offset, reduce_only) in enumerate(orders):
        try:
            placed.append(fake.desk.place_limit(market, side, D(milli) / 1000, D(60000 + offset), f"L{n}",
                                                reduce_only=reduce_only or all_reduce_only, post_only=False))
        except RequestRejected:
            continue  # refusals (min notional, reduce-only on the wrong side) are not the point
    return placed


START = st.integers(min_value=-30, max_value=30).filter(lambda x: abs(x) >= 2)
SHARE = st.sampled_from([0.2, 0.5, 1.0])


@settings(max_examples=100, deadline=None)
@given(start=START, orders=st.lists(ORDER, max_size=6), candles=walk(), share=SHARE)
def test_the_fills_of_an_order_never_sum_past_it(
    start: int, orders: list[tuple[Side, int, int, bool]], candles: list[tuple[float, float, float, float]],
    share: float,
) -> None:
    fake, t = fake_at(60000.0, share)
    placed = _place(fake, start, orders, all_reduce_only=False)
    for i, (o, h, lo, c) in enumerate(candles):
        feed(fake, t + i * M5, o, h, lo, c)
    open_now = fake.desk.open_limits(fake.market(SYMBOL))
    for record in placed:
        assert record.executed_qty == traded(fake, record.order_id) <= record.orig_qty
        assert (record.status in ("NEW", "PARTIALLY_FILLED")) == (record in open_now)
        assert (record.status == "FILLED") == (record.executed_qty == record.orig_qty)


@settings(max_examples=100, deadline=None)
@given(start=START, orders=st.lists(ORDER, min_size=1, max_size=6), candles=walk(), share=SHARE)
def test_reduce_only_orders_never_add_exposure(
    start: int, orders: list[tuple[Side, int, int, bool]], candles: list[tuple[float, float, float, float]],
    share: float,
) -> None:
    fake, t = fake_at(60000.0, share)
    _place(fake, start, orders, all_reduce_only=True)  # only reduce-only orders rest: they alone can fill
    book = fake.engine.book(SYMBOL)
    for i, (o, h, lo, c) in enumerate(candles):
        before = book.qty
        feed(fake, t + i * M5, o, h, lo, c)
        assert abs(book.qty) <= abs(before) and book.qty * before >= 0  # smaller, never through zero
    assert all(r.status in ("NEW", "PARTIALLY_FILLED") for r in fake.desk.open_limits(fake.market(SYMBOL)))
