"""Saving and restoring the simulator: a restored engine must continue EXACTLY like the one that was saved.

The property that matters: save at any point, restore into a fresh engine, feed both the same further
orders and candles, and they answer the same (executions, refusals, balances, positions, open orders,
and in the end the same saved state). Plus: the state is plain JSON, unknown versions are refused, and
the file write is atomic (a stale .tmp or a save that died before its rename never breaks a load).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.venue import errors
from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.sim import FeeSchedule, MatchingEngine, SimVenue, StateError
from engine.venue.sim import state as sim_state
from engine.venue.types import OrderStatus, OrderType, Side
from tests.venue.venue_helpers import BTCUSDC, BTCUSDT, read_klines

START_MS = 1688474100000  # first candle of BTCUSDT-5m.csv.gz, as in test_venue_sim_real_trade
ENTRY = 29  # the trade of test_venue_sim_real_trade: entry at candle 29's close, TP1 at 44, TP2 at 46, SL at 51
HOUR = 3_600_000
ASSETS = ("USDC", "USDT")


def roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    """Through JSON text, as a file would carry it."""
    return json.loads(json.dumps(state, allow_nan=False))


def assert_same(original: MatchingEngine, restored: MatchingEngine) -> None:
    """Everything a caller can observe agrees (and the state each would save)."""
    for asset in ASSETS:
        assert restored.balance(asset) == original.balance(asset)
        assert restored.account_totals(asset) == original.account_totals(asset)
    assert restored.positions() == original.positions()
    assert restored.open_orders() == original.open_orders()
    assert restored.now_ms() == original.now_ms()
    for symbol in (BTCUSDC, BTCUSDT):
        assert restored.last_price(symbol) == original.last_price(symbol)
    assert restored.state_dict() == original.state_dict()


def floats_in(value: Any) -> list[Any]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats_in(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats_in(v)]
    return []


# ---- the real trade, saved part-way --------------------------------------------------------------------


@pytest.fixture(scope="module")
def candles(shared_data: Path) -> list[tuple[int, float, float, float, float, float]]:
    return read_klines(shared_data / "klines" / "BTCUSDT-5m.csv.gz", START_MS, 53)


def open_trade(make_engine: Callable[..., MatchingEngine], candles: list, **options: Any) -> MatchingEngine:
    """Long 0.030 BTCUSDC at candle 29 with a stop for all of it and two take-profits of 0.010."""
    options.setdefault("balances", {"USDC": D(1000)})
    engine = make_engine(slippage_bps=1, **options)
    for candle in candles[: ENTRY + 1]:
        engine.on_candle(BTCUSDC, *candle)
    engine.place_market(BTCUSDC, Side.BUY, D("0.030"), "P1-E1")
    engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.030"), D("30860.0"), "P1-SL")
    engine.place_conditional(
        BTCUSDC, OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("0.010"), D("31020.0"), "P1-TP1"
    )
    engine.place_conditional(
        BTCUSDC, OrderType.TAKE_PROFIT_MARKET, Side.SELL, D("0.010"), D("31100.0"), "P1-TP2"
    )
    return engine


@pytest.mark.parametrize("funding_rate", [None, D("0.0001")])
@pytest.mark.parametrize("split", [ENTRY + 1, 40, 45, 47])  # before anything fired / after TP1 / after TP2
def test_restored_engine_continues_identically(
    markets: dict[str, Market],
    brackets: dict[str, Brackets],
    make_engine: Callable[..., MatchingEngine],
    candles: list,
    split: int,
    funding_rate: D | None,
) -> None:
    original = open_trade(make_engine, candles, funding_rate=funding_rate)
    for candle in candles[ENTRY + 1 : split]:
        original.on_candle(BTCUSDC, *candle)
    saved = json.dumps(original.state_dict())

    restored = MatchingEngine.from_state(markets, json.loads(saved), brackets=brackets)
    assert restored.executions == []  # the log is not part of the state
    assert_same(original, restored)
    seen = len(original.executions)

    for candle in candles[split:]:
        assert restored.on_candle(BTCUSDC, *candle) == original.on_candle(BTCUSDC, *candle)
    assert restored.executions == original.executions[seen:]
    assert_same(original, restored)
    for client_id in ("P1-SL", "P1-TP1", "P1-TP2"):
        assert restored.fetch_order(BTCUSDC, client_id, True) == original.fetch_order(BTCUSDC, client_id, True)

    # The continuation is not empty: the stop closes the rest at candle 51, after every split.
    assert restored.executions[-1].client_id == "P1-SL"
    assert restored.positions() == [] and restored.open_orders() == []
    if funding_rate is not None and split <= 41:  # 16:00 UTC funding (candle 41) happens after the split
        assert any(x.funding != 0 for x in restored.executions)


def test_restore_state_into_an_engine_built_with_the_same_settings(
    make_engine: Callable[..., MatchingEngine], candles: list
) -> None:
    original = open_trade(make_engine, candles)
    restored = make_engine(balances={"USDC": D(1)}, slippage_bps=1)
    restored.on_candle(BTCUSDT, START_MS, 1.0, 1.0, 1.0, 1.0)  # replaced wholesale by the restore
    restored.restore_state(roundtrip(original.state_dict()))
    assert_same(original, restored)
    for candle in candles[ENTRY + 1 :]:
        assert restored.on_candle(BTCUSDC, *candle) == original.on_candle(BTCUSDC, *candle)
    assert_same(original, restored)


def test_restored_engine_keeps_refusing_and_numbering_like_the_original(
    markets: dict[str, Market], brackets: dict[str, Brackets], make_engine: Callable[..., MatchingEngine], candles
) -> None:
    original = open_trade(make_engine, candles, balances={"USDC": D(1000), "USDT": D(1000)})
    original.set_leverage(BTCUSDT, 20)
    original.on_candle(BTCUSDT, candles[ENTRY][0], *candles[ENTRY][1:])
    restored = MatchingEngine.from_state(markets, roundtrip(original.state_dict()), brackets=brackets)
    # A duplicate open client id, a lower leverage with a position, an immediately-triggering stop.
    for engine in (original, restored):
        with pytest.raises(errors.DuplicateClientOrderId):
            engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.010"), D("30000.0"), "P1-SL")
        with pytest.raises(errors.LeverageReductionRejected):
            engine.set_leverage(BTCUSDC, 5)
        with pytest.raises(errors.WouldImmediatelyTrigger):
            engine.place_conditional(BTCUSDC, OrderType.STOP_MARKET, Side.SELL, D("0.010"), D("31000.0"), "X")
    # Same venue ids, same leverage per symbol.
    a = original.place_market(BTCUSDT, Side.SELL, D("0.010"), "P2-E1")
    b = restored.place_market(BTCUSDT, Side.SELL, D("0.010"), "P2-E1")
    assert a == b and a.venue_id == "5"
    assert restored.positions() == original.positions()
    assert {p.symbol: p.leverage for p in restored.positions()} == {BTCUSDC: 10, BTCUSDT: 20}
    assert restored.fetch_order(BTCUSDC, "P1-E1", False) == original.fetch_order(BTCUSDC, "P1-E1", False)


# ---- the format --------------------------------------------------------------------------------------------


def test_state_is_plain_json(make_engine: Callable[..., MatchingEngine], candles: list) -> None:
    engine = open_trade(make_engine, candles, funding_rate=D("0.0001"))
    state = engine.state_dict()
    text = json.dumps(state, allow_nan=False)  # no Decimal, no float('inf'), no NaN
    assert json.loads(text) == state
    assert floats_in(state) == []  # prices as exact text, not JSON numbers
    assert state["version"] == 1
    (book,) = state["books"]
    assert book["last"] == "30953.8" and book["qty"] == "0.030" and book["leverage"] == 10
    assert [o["client_id"] for o in book["orders"]] == ["P1-SL", "P1-TP1", "P1-TP2"]
    assert [o["client_id"] for o in state["closed_orders"]] == ["P1-E1"]
    assert "executions" not in state


def test_unknown_or_missing_version_is_refused(
    markets: dict[str, Market], brackets: dict[str, Brackets], make_engine: Callable[..., MatchingEngine]
) -> None:
    state = make_engine().state_dict()
    for version in (2, 0, "1", None):
        bad = {**state, "version": version}
        with pytest.raises(StateError, match=rf"unsupported .* state version {version!r}.*reads version 1"):
            MatchingEngine.from_state(markets, bad, brackets=brackets)
        with pytest.raises(ValueError, match="version"):
            make_engine().restore_state(bad)
    without = {k: v for k, v in state.items() if k != "version"}
    with pytest.raises(StateError, match="version None"):
        MatchingEngine.from_state(markets, without)
    with pytest.raises(StateError, match="not a sim-matching-engine state"):
        MatchingEngine.from_state(markets, {**state, "kind": "sim-venue"})


def test_restore_refuses_other_settings_and_bad_states_and_changes_nothing(
    make_engine: Callable[..., MatchingEngine], candles: list
) -> None:
    state = roundtrip(open_trade(make_engine, candles).state_dict())
    target = make_engine(balances={"USDC": D(1000)}, slippage_bps=1)
    before = target.state_dict()
    for other in (
        make_engine(balances={"USDC": D(1000)}, slippage_bps=2),
        make_engine(balances={"USDC": D(1000)}, slippage_bps=1, funding_rate=D("0.0001")),
        make_engine(balances={"USDC": D(1000)}, slippage_bps=1, default_leverage=20),
        make_engine(
            balances={"USDC": D(1000)},
            slippage_bps=1,
            fees={"USDC": FeeSchedule(maker=D(0), taker=D("0.0005"))},
        ),
    ):
        with pytest.raises(StateError, match="different settings"):
            other.restore_state(state)

    unknown_symbol = copy.deepcopy(state)
    unknown_symbol["books"][0]["symbol"] = "NOPE/USDC:USDC"
    bad_decimal = copy.deepcopy(state)
    bad_decimal["accounts"][0]["wallet"] = 999.5  # a float, not decimal text
    bad_status = copy.deepcopy(state)
    bad_status["books"][0]["orders"][1]["status"] = "filled"  # a closed order among the open ones
    for bad, message in (
        (unknown_symbol, "not in this engine's markets"),
        (bad_decimal, "wallet: expected a decimal string"),
        (bad_status, "P1-TP1 is not an open conditional order"),
    ):
        with pytest.raises(StateError, match=message):
            target.restore_state(bad)
        assert target.state_dict() == before  # all or nothing


def test_closed_orders_kept_are_bounded_and_open_orders_always_kept(
    markets: dict[str, Market], brackets: dict[str, Brackets], make_engine: Callable[..., MatchingEngine], candles
) -> None:
    engine = open_trade(make_engine, candles)
    for candle in candles[ENTRY + 1 : 47]:  # both take-profits fill
        engine.on_candle(BTCUSDC, *candle)
    assert [o["client_id"] for o in engine.state_dict()["closed_orders"]] == ["P1-E1", "P1-TP1", "P1-TP2"]
    state = engine.state_dict(max_closed_orders=1)
    assert [o["client_id"] for o in state["closed_orders"]] == ["P1-TP2"]  # the most recent
    restored = MatchingEngine.from_state(markets, state, brackets=brackets)
    assert restored.fetch_order(BTCUSDC, "P1-E1", False) is None  # forgotten
    assert restored.fetch_order(BTCUSDC, "P1-TP2", True) == engine.fetch_order(BTCUSDC, "P1-TP2", True)
    none_kept = MatchingEngine.from_state(markets, engine.state_dict(max_closed_orders=0), brackets=brackets)
    assert none_kept.open_orders() == engine.open_orders() != []
    for candle in candles[47:]:
        assert none_kept.on_candle(BTCUSDC, *candle) == engine.on_candle(BTCUSDC, *candle)
    assert none_kept.balance("USDC") == engine.balance("USDC")


# ---- SimVenue files ----------------------------------------------------------------------------------------


@pytest.fixture
def tiers(shared_data: Path) -> Path:
    return shared_data / "leverage" / "binance-leverage-tiers.json"


def make_venue(exchange_info: Path, tiers: Path, candles: list) -> SimVenue:
    venue = SimVenue.from_files(exchange_info, {"USDC": 1000}, leverage_tiers=tiers, slippage_bps=1)
    for candle in candles[: ENTRY + 1]:
        venue.on_candle(BTCUSDC, *candle)
    return venue


async def test_venue_save_and_load_continue_identically(
    tmp_path: Path, mainnet_exchange_info: Path, tiers: Path, candles: list
) -> None:
    venue = make_venue(mainnet_exchange_info, tiers, candles)
    await venue.place_market(BTCUSDC, Side.BUY, D("0.030"), "P1-E1")
    await venue.place_stop_market(BTCUSDC, Side.SELL, D("0.030"), D("30860.0"), "P1-SL")
    await venue.place_take_profit_market(BTCUSDC, Side.SELL, D("0.010"), D("31020.0"), "P1-TP1")
    await venue.place_take_profit_market(BTCUSDC, Side.SELL, D("0.010"), D("31100.0"), "P1-TP2")
    for candle in candles[ENTRY + 1 : 45]:
        venue.on_candle(BTCUSDC, *candle)
    path = tmp_path / "sim-venue.json"
    venue.save(path)
    assert not (tmp_path / "sim-venue.json.tmp").exists()

    loaded = SimVenue.load(path, mainnet_exchange_info, leverage_tiers=tiers)
    assert loaded.timeframe == "5m"
    assert await loaded.fetch_ohlcv(BTCUSDC, "5m") == []  # candle history is not saved
    assert await loaded.ticker(BTCUSDC) == await venue.ticker(BTCUSDC)
    assert await loaded.open_orders() == await venue.open_orders()
    for candle in candles[45:]:
        assert loaded.on_candle(BTCUSDC, *candle) == venue.on_candle(BTCUSDC, *candle)
    assert await loaded.balance("USDC") == await venue.balance("USDC")
    assert await loaded.positions() == await venue.positions() == []
    sl = await loaded.fetch_order(BTCUSDC, "P1-SL", conditional=True)
    assert sl is not None and sl.status is OrderStatus.FILLED
    assert sl == await venue.fetch_order(BTCUSDC, "P1-SL", conditional=True)
    assert loaded.state_dict() == venue.state_dict()


async def test_interrupted_save_never_breaks_load(
    tmp_path: Path, mainnet_exchange_info: Path, tiers: Path, candles: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = make_venue(mainnet_exchange_info, tiers, candles)
    path = tmp_path / "sim-venue.json"
    tmp = tmp_path / "sim-venue.json.tmp"
    venue.save(path)
    first = path.read_bytes()

    # A crash mid-write leaves a torn .tmp beside the good file: load ignores it.
    tmp.write_bytes(first[: len(first) // 2])
    assert SimVenue.load(path, mainnet_exchange_info, leverage_tiers=tiers).state_dict() == venue.state_dict()

    # A save that dies before its rename leaves the previous file whole (and no .tmp behind).
    await venue.place_market(BTCUSDC, Side.BUY, D("0.010"), "P1-E1")

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash before the rename")

    with monkeypatch.context() as patch:
        patch.setattr(sim_state.os, "replace", crash)
        with pytest.raises(OSError, match="simulated crash"):
            venue.save(path)
    assert path.read_bytes() == first
    assert SimVenue.load(path, mainnet_exchange_info, leverage_tiers=tiers).engine.positions() == []

    # The next save overwrites the stale .tmp and lands.
    tmp.write_bytes(b"{garbage")
    venue.save(path)
    assert not tmp.exists()
    loaded = SimVenue.load(path, mainnet_exchange_info, leverage_tiers=tiers)
    assert loaded.engine.positions() == venue.engine.positions() != []


def test_venue_file_errors(tmp_path: Path, mainnet_exchange_info: Path, tiers: Path, candles: list) -> None:
    path = tmp_path / "sim-venue.json"
    with pytest.raises(FileNotFoundError):
        SimVenue.load(path, mainnet_exchange_info)
    path.write_text("{not json")
    with pytest.raises(StateError, match="invalid JSON"):
        SimVenue.load(path, mainnet_exchange_info)
    venue = make_venue(mainnet_exchange_info, tiers, candles)
    state = venue.state_dict()
    path.write_text(json.dumps({**state, "version": 99}))
    with pytest.raises(StateError, match="unsupported sim-venue state version 99"):
        SimVenue.load(path, mainnet_exchange_info)
    path.write_text(json.dumps({**state, "engine": {**state["engine"], "version": 2}}))
    with pytest.raises(StateError, match="unsupported sim-matching-engine state version 2"):
        SimVenue.load(path, mainnet_exchange_info)
    path.write_text(json.dumps(state["engine"]))  # an engine state is not a venue file
    with pytest.raises(StateError, match="not a sim-venue state"):
        SimVenue.load(path, mainnet_exchange_info)


# ---- property: save anywhere, continue identically ---------------------------------------------------------

CANDLE_MS = 4 * HOUR  # long candles so that funding (every 8 h) happens often
SYMBOLS = (BTCUSDC, BTCUSDT)

symbol_index = st.integers(0, len(SYMBOLS) - 1)
sides = st.sampled_from([Side.BUY, Side.SELL])
quantities = st.integers(min_value=1, max_value=60).map(lambda n: D(n) / 1000)
candle_step = st.tuples(
    st.just("candle"),
    symbol_index,
    st.floats(-0.03, 0.03),  # gap at the open
    st.floats(-0.04, 0.04),  # open -> close
    st.floats(0, 0.03),  # wick above
    st.floats(0, 0.03),  # wick below
    st.booleans(),  # with finer candles
)
market_step = st.tuples(st.just("market"), symbol_index, sides, quantities, st.booleans())
conditional_step = st.tuples(
    st.just("conditional"),
    symbol_index,
    st.sampled_from([OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET]),
    st.one_of(st.none(), st.none(), st.none(), sides),  # mostly the side that closes the position
    quantities,
    st.floats(0.001, 0.04),
    st.integers(0, 4).map(lambda n: n == 0),  # now and then on the wrong side of the price (-2021)
    st.integers(0, 3),  # client id reuse: C0..C3 sometimes, else a fresh one
)
cancel_step = st.tuples(st.just("cancel"), st.integers(0, 5))
leverage_step = st.tuples(st.just("leverage"), symbol_index, st.integers(1, 50))
steps_strategy = st.lists(
    st.one_of(
        candle_step,
        candle_step,
        candle_step,
        market_step,
        conditional_step,
        conditional_step,
        conditional_step,
        cancel_step,
        leverage_step,
    ),
    min_size=20,
    max_size=80,
)


def tick(x: float) -> float:
    return round(max(x, 1000.0), 1)


@dataclass
class Driver:
    """Turns abstract steps into engine calls; its own state (time, prices, ids) is copied at the split."""

    now: int = 59_028 * 8 * HOUR
    prices: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SYMBOLS, 30000.0))
    cid: int = 0

    def run(self, engine: MatchingEngine, step: tuple) -> Any:
        """Apply one step; return what the engine answered, refusals included."""
        kind = step[0]
        try:
            if kind == "candle":
                _, i, gap, move, up, down, with_finer = step
                symbol = SYMBOLS[i]
                self.now += CANDLE_MS
                o = tick(self.prices[symbol] * (1 + gap))
                c = tick(o * (1 + move))
                h, lo = tick(max(o, c) * (1 + up)), tick(min(o, c) * (1 - down))
                finer = None
                if with_finer:  # two halves: high first, then low
                    m = tick((o + c) / 2)
                    half = CANDLE_MS // 2
                    finer = [
                        (self.now, o, max(h, o, m), min(o, m), m),
                        (self.now + half, m, max(m, c), min(lo, m, c), c),
                    ]
                self.prices[symbol] = c
                return engine.on_candle(symbol, self.now, o, h, lo, c, 1.0, finer)
            if kind == "market":
                _, i, side, qty, reduce_only = step
                self.cid += 1
                return engine.place_market(SYMBOLS[i], side, qty, f"M{self.cid}", reduce_only=reduce_only)
            if kind == "conditional":
                _, i, type_, side, qty, distance, flip, reuse = step
                symbol = SYMBOLS[i]
                self.cid += 1
                held = [p for p in engine.positions() if p.symbol == symbol]
                if side is None:
                    side = held[0].side.closing_side if held else Side.SELL
                below = (type_ is OrderType.STOP_MARKET) == (side is Side.SELL)
                if flip:
                    below = not below
                price = self.prices[symbol]
                trigger = D(str(tick(price * (1 - distance if below else 1 + distance))))
                client_id = f"C{reuse}" if self.cid % 3 == 0 else f"C{self.cid}"
                return engine.place_conditional(symbol, type_, side, qty, trigger, client_id)
            if kind == "cancel":
                orders = engine.open_orders()
                if not orders:
                    return None
                order = orders[step[1] % len(orders)]
                return engine.cancel(order.symbol, order.client_id, conditional=True)
            _, i, leverage = step
            engine.set_leverage(SYMBOLS[i], leverage)
            return ("leverage", leverage)
        except errors.RequestRejected as refusal:
            return ("refused", type(refusal).__name__, refusal.code, str(refusal))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=steps_strategy,
    split_at=st.integers(0, 1_000),
    slippage=st.sampled_from([0, 1, 5]),
    funding=st.sampled_from([None, D("0.0003"), D("-0.0001")]),
    via_restore_state=st.booleans(),
)
def test_save_anywhere_and_continue_identically(
    markets: dict[str, Market],
    brackets: dict[str, Brackets],
    steps: list[tuple],
    split_at: int,
    slippage: int,
    funding: D | None,
    via_restore_state: bool,
) -> None:
    options: dict[str, Any] = {"slippage_bps": slippage, "funding_rate": funding}
    original = MatchingEngine(
        markets, brackets=brackets, balances={"USDC": D(2000), "USDT": D(2000)}, **options
    )
    driver = Driver()
    for symbol in SYMBOLS:
        original.on_candle(symbol, driver.now, 30000.0, 30000.0, 30000.0, 30000.0)
    steps = [("market", 0, Side.BUY, D("0.020"), False), *steps]
    split = split_at % (len(steps) + 1)
    for step in steps[:split]:
        driver.run(original, step)

    state = roundtrip(original.state_dict())
    if via_restore_state:
        restored = MatchingEngine(markets, brackets=brackets, balances={}, **options)
        restored.restore_state(state)
    else:
        restored = MatchingEngine.from_state(markets, state, brackets=brackets)
    assert_same(original, restored)
    seen = len(original.executions)

    twin = copy.deepcopy(driver)
    for step in steps[split:]:
        assert twin.run(restored, step) == driver.run(original, step), step
    assert restored.executions == original.executions[seen:]
    assert_same(original, restored)
    for order in original.open_orders():
        assert restored.fetch_order(order.symbol, order.client_id, True) == order

    # Coverage, visible with --hypothesis-show-statistics.
    event(f"continued with {min(len(restored.executions), 5)}+ executions")
    for kind in {x.kind for x in restored.executions}:
        event(f"continued with a {kind} execution")
    if any(book["orders"] for book in state["books"]):
        event("saved with open conditional orders")
