"""Maker execution through the whole bot on the wire: a bot assembled as `run` assembles it in testnet mode
(tests/e2e/wire.py: BinanceVenue → ccxt → HTTP → the fake fapi on 127.0.0.1, offline switch on), with a
profile that enters with post-only LIMIT orders at the close and takes profit with reduce-only LIMIT
orders on the normal order book. Each tick is what the live loop does (`tick`: the fills of resting
orders read from the venue, then the deadlines), driven by hand with an explicit `now`; the fake's market
is moved with `set_price` (a walk that trades through the orders in its way) and `advance`.

After every step the venue and the machine agree: exposure has exactly one reduce-only stop of its own,
sized to what the venue holds; no orphan order of ours; no client id used twice (tests/chaos/invariants).
The restart at the end runs `python -m engine run PROFILE --ticks 0` itself against the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.positions.model import Position, RoleKind
from engine.trading.reconcile import Reconciler
from engine.venue.types import Side
from tests.chaos.harness import BotProcess
from tests.e2e.support import journal
from tests.e2e.wire import ALGO, ETH, NOW, ORDER, WireBot
from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.binance.fixture import shared_candles

BTC = "BTC/USDC:USDC"
TIMEOUT = timedelta(seconds=20)


def maker(on_timeout: str = "abandon", timeout: str = "20s") -> dict[str, Any]:
    return {"entry": {"type": "limit", "post_only": True, "offset_ticks": 0, "timeout": timeout,
                      "on_timeout": on_timeout},
            "take_profit_type": "limit"}


MakeBot = Callable[..., Awaitable[WireBot]]


@pytest.fixture
async def make_bot(tmp_path: Path, make_fake_binance: Callable[..., Awaitable[FakeBinance]]) -> AsyncIterator[MakeBot]:
    """`await make_bot(share, orders=..., **sections)`: a started fake whose resting orders fill at most
    `share` of their quantity per candle, and a maker bot on it, resumed and reconciled (ready)."""
    bots: list[WireBot] = []

    async def make(share: float, orders: dict[str, Any] | None = None, now: datetime = NOW,
                   **sections: Any) -> WireBot:
        fake = await make_fake_binance(symbols=[ETH, BTC], data_dir=shared_candles(), limit_fill_share=share)
        bot = WireBot(fake, tmp_path, orders=orders or maker(), **sections)
        bots.append(bot)
        await bot.start()
        await bot.engine.resume(now)
        assert (await bot.reconcile(now)).complete
        return bot

    try:
        yield make
    finally:
        for bot in bots:
            await bot.stop()


async def tick(bot: WireBot, now: datetime) -> None:
    """One tick of the live loop on a real venue: fills of resting orders read back, then deadlines."""
    await Reconciler(bot.engine).sync_fills(now)
    await bot.engine.on_timeouts(now)


def limits(bot: WireBot, symbol: str, *, reduce_only: bool) -> list[dict[str, Any]]:
    venue_id = bot.fake.market(symbol).id
    return [o for o in bot.fake.open_orders()
            if o["symbol"] == venue_id and o["type"] == "LIMIT" and o["reduceOnly"] is reduce_only]


def stops(bot: WireBot, symbol: str) -> list[dict[str, Any]]:
    venue_id = bot.fake.market(symbol).id
    return [a for a in bot.fake.open_algo_orders() if a["symbol"] == venue_id and a["orderType"] == "STOP_MARKET"]


def assert_safe(bot: WireBot, position: Position) -> None:
    """The invariants, and the machine holds what the venue holds, under one stop for all of it."""
    assert bot.violations() == []
    held = bot.held(position.symbol)
    assert held == position.qty
    if held:
        [stop] = stops(bot, position.symbol)
        assert Decimal(stop["quantity"]) == held and stop["reduceOnly"] is True
        assert stop["clientAlgoId"] in position.stops()


def dip(bot: WireBot, symbol: str, price: Decimal, pct: str) -> None:
    """The market trades down through `price` by `pct` % (and comes back): resting buys there fill."""
    bot.fake.set_price(symbol, price * (1 - Decimal(pct) / 100))
    bot.fake.set_price(symbol, price)


async def expire(bot: WireBot, position: Position) -> None:
    """The tick just after the position's deadline (the resting entry's timeout)."""
    assert position.deadline_at is not None and position.deadline_event == "entry_expired"
    await tick(bot, position.deadline_at + timedelta(milliseconds=1))


def entry_of(position: Position) -> str:
    return next(c for c, r in position.order_roles.items() if r.kind_is(RoleKind.ENTRY))


@pytest.mark.parametrize("on_timeout", ["abandon", "market"])
async def test_a_resting_entry_fills_in_pieces_then_times_out_keeping_the_part(make_bot: MakeBot,
                                                                              on_timeout: str) -> None:
    bot = await make_bot(0.3, maker(on_timeout))
    bot.fake.inject(Fault.fill_then_silence(0.6))  # never more than 60 % of it fills
    position = await bot.enter(ETH)
    assert position is not None and position.state == "resting"
    [resting] = limits(bot, ETH, reduce_only=False)
    assert resting["timeInForce"] == "GTX" and resting["clientOrderId"] == entry_of(position)
    price, ordered = Decimal(resting["price"]), Decimal(resting["origQty"])
    assert position.qty == 0 and stops(bot, ETH) == []

    now = NOW
    for piece in (1, 2):
        if piece > 1:
            bot.fake.advance(1)  # a candle fills at most 30 % of the order: the next piece is the next candle's
        dip(bot, ETH, price, "0.2")
        now += timedelta(seconds=5)
        await tick(bot, now)
        assert position.state == "resting"
        assert 0 < position.qty < ordered, f"piece {piece}: {position.qty} of {ordered}"
        assert_safe(bot, position)  # the part that filled has its stop at once, the rest still rests
    filled = position.qty
    assert filled == Decimal(limits(bot, ETH, reduce_only=False)[0]["executedQty"])
    assert sum(1 for r in bot.sent("POST", ALGO) if r.params.get("type") == "STOP_MARKET") >= 2

    await expire(bot, position)  # the deadline: cancel the rest
    assert limits(bot, ETH, reduce_only=False) == []
    # the filled part is kept and protected whatever on_timeout says; the rest is not entered at market
    assert position.state == "open" and position.qty == filled
    assert [r for r in bot.sent("POST", ORDER) if r.params.get("type") == "MARKET"] == []
    assert_safe(bot, position)
    tps = limits(bot, ETH, reduce_only=True)
    assert len(tps) == len(bot.loaded.profile.orders.take_profit) and all(t["side"] == "SELL" for t in tps)
    assert sum(Decimal(t["origQty"]) for t in tps) == position.qty


@pytest.mark.parametrize(("on_timeout", "final"), [("market", "open"), ("abandon", "closed")])
async def test_an_entry_that_rests_unfilled_to_its_timeout_follows_the_fallback(make_bot: MakeBot, on_timeout: str,
                                                                                final: str) -> None:
    bot = await make_bot(0.3, maker(on_timeout))
    position = await bot.enter(ETH)
    assert position is not None
    [resting] = limits(bot, ETH, reduce_only=False)
    await expire(bot, position)
    assert limits(bot, ETH, reduce_only=False) == [] and position.state == final
    markets = [r.params for r in bot.sent("POST", ORDER) if r.params.get("type") == "MARKET"]
    if final == "open":
        assert len(markets) == 1 and Decimal(markets[0]["quantity"]) == Decimal(resting["origQty"]) == position.qty
        assert_safe(bot, position)
    else:
        assert markets == [] and bot.held(ETH) == 0 and bot.fake.open_algo_orders() == [] and bot.violations() == []


async def test_a_part_fill_does_not_put_the_entry_deadline_back(make_bot: MakeBot) -> None:
    bot = await make_bot(0.3)
    position = await bot.enter(ETH)
    assert position is not None and position.deadline_at == NOW + TIMEOUT
    dip(bot, ETH, Decimal(limits(bot, ETH, reduce_only=False)[0]["price"]), "0.2")
    await tick(bot, NOW + timedelta(seconds=5))
    assert position.state == "resting" and position.qty > 0
    assert position.deadline_at == NOW + TIMEOUT


@pytest.mark.parametrize(("on_timeout", "final"), [("market", "open"), ("abandon", "closed")])
async def test_a_post_only_reject_follows_the_profiles_fallback(make_bot: MakeBot, on_timeout: str,
                                                                final: str) -> None:
    bot = await make_bot(1.0, maker(on_timeout))
    bot.fake.inject(Fault.post_only_reject())
    position = await bot.enter(ETH)
    assert bot.fake.fired and bot.fake.fired[0].kind == "reject"
    state = position.state if position is not None and position.id in bot.engine.book.live else "closed"
    assert state == final
    sent = [r.params for r in bot.sent("POST", ORDER)]
    assert sent[0]["type"] == "LIMIT" and sent[0]["timeInForce"] == "GTX"
    if final == "open":
        assert position is not None and [p["type"] for p in sent] == ["LIMIT", "MARKET", "LIMIT", "LIMIT", "LIMIT"]
        assert_safe(bot, position)
    else:
        assert len(sent) == 1 and bot.held(ETH) == 0 and bot.fake.open_orders() == []
        assert bot.fake.open_algo_orders() == [] and bot.violations() == []


async def test_limit_take_profits_fill_in_pieces_and_move_the_stop(make_bot: MakeBot) -> None:
    bot = await make_bot(0.5)
    position = await bot.enter(ETH)
    assert position is not None
    price = Decimal(limits(bot, ETH, reduce_only=False)[0]["price"])
    now = NOW
    for _ in range(4):  # half the entry per candle
        if position.state != "resting":
            break
        dip(bot, ETH, price, "0.2")
        now += timedelta(seconds=5)
        await tick(bot, now)
        bot.fake.advance(1)
    assert position.state == "open" and position.entry_price == price
    [first_stop] = stops(bot, ETH)
    assert Decimal(first_stop["triggerPrice"]) < price
    tp1, tp2, *_ = sorted(limits(bot, ETH, reduce_only=True), key=lambda o: Decimal(o["price"]))
    assert all(tp["clientOrderId"] in position.open_orders for tp in (tp1, tp2))
    assert bot.resting(ETH) == {first_stop["clientAlgoId"]}  # take-profits are not algo orders

    held = position.qty
    tp1_price, tp1_qty = Decimal(tp1["price"]), Decimal(tp1["origQty"])
    bot.fake.set_price(ETH, tp1_price * Decimal("1.0005"))  # through TP1 (not TP2): half of it fills
    now += timedelta(seconds=5)
    await tick(bot, now)
    assert position.state == "partial_tp" and 0 < held - position.qty < tp1_qty
    assert_safe(bot, position)
    [moved] = stops(bot, ETH)
    assert moved["clientAlgoId"] != first_stop["clientAlgoId"]
    assert Decimal(moved["triggerPrice"]) == price  # break-even after a slice, as a stop-market fill does
    assert [o["clientOrderId"] for o in limits(bot, ETH, reduce_only=True) if o["status"] == "PARTIALLY_FILLED"] == [
        tp1["clientOrderId"]]

    pieces = 1
    for _ in range(4):  # the next candles: the rest of TP1, half a slice each
        if tp1["clientOrderId"] not in position.open_orders:
            break
        bot.fake.advance(1)
        bot.fake.set_price(ETH, tp1_price * Decimal("1.0005"))
        now += timedelta(seconds=5)
        await tick(bot, now)
        pieces += 1
        assert_safe(bot, position)
    assert held - position.qty == tp1_qty and position.state == "partial_tp"
    assert_safe(bot, position)
    [last] = stops(bot, ETH)
    assert Decimal(last["triggerPrice"]) == price and Decimal(last["quantity"]) == position.qty
    fills = [t for t in bot.fake.desk.trades if t.order_id == tp1["orderId"]]
    assert len(fills) == pieces >= 2 and all(t.maker for t in fills)


@pytest.mark.parametrize("on_timeout", ["market", "abandon"])
async def test_a_cancel_that_races_the_fill_keeps_the_whole_fill_once(make_bot: MakeBot, on_timeout: str) -> None:
    bot = await make_bot(0.5, maker(on_timeout))
    position = await bot.enter(ETH)
    assert position is not None
    [resting] = limits(bot, ETH, reduce_only=False)
    ordered = Decimal(resting["origQty"])
    dip(bot, ETH, Decimal(resting["price"]), "0.2")  # half fills
    await tick(bot, NOW + timedelta(seconds=5))
    assert 0 < position.qty < ordered
    bot.fake.inject(Fault.cancel_race(client_id=resting["clientOrderId"]))  # the rest fills as the cancel lands

    await expire(bot, position)
    assert [f.kind for f in bot.fake.fired] == ["cancel_race"]
    assert position.state == "open" and position.qty == ordered == bot.held(ETH)
    assert [r for r in bot.sent("POST", ORDER) if r.params.get("type") == "MARKET"] == []  # nothing entered twice
    assert_safe(bot, position)
    events = [r["event"] for r in journal(bot.loaded.state_dir) if r["position"] == position.id]
    assert events[-1] == "entry_filled" and "entry_cancelled" not in events


async def test_a_restart_while_an_entry_and_limit_take_profits_rest(make_bot: MakeBot, tmp_path: Path) -> None:
    now = datetime.now(UTC)  # the restarted process reads the wall clock: deadlines must lie ahead of it
    bot = await make_bot(0.3, maker("abandon", timeout="10m"), now=now,
                         runtime={"close_on_shutdown": False, "tick": "100ms"})
    fake = bot.fake
    btc = await bot.enter(BTC, now)  # BTC: filled whole, its take-profits rest on the book
    assert btc is not None
    btc_price = Decimal(limits(bot, BTC, reduce_only=False)[0]["price"])
    for _ in range(6):  # 30 % of the entry per candle
        if btc.state != "resting":
            break
        dip(bot, BTC, btc_price, "0.2")
        await tick(bot, now)
        fake.advance(1)
    assert btc.state == "open" and len(limits(bot, BTC, reduce_only=True)) == 3
    eth = await bot.enter(ETH, now)  # ETH: resting, half filled and protected
    assert eth is not None
    eth_price = Decimal(limits(bot, ETH, reduce_only=False)[0]["price"])
    dip(bot, ETH, eth_price, "0.2")
    await tick(bot, now)
    assert eth.state == "resting" and eth.qty > 0
    assert_safe(bot, eth)
    [old_stop] = eth.stops()
    # Two orders of ours that no position owns, one on each book: what a crash between placing an order
    # and journalling it could leave.
    prefix = f"{bot.session.book.bot['order_prefix']}-"
    far = (eth_price * Decimal("0.9")).quantize(fake.market(ETH).tick_size)
    qty = Decimal(limits(bot, ETH, reduce_only=False)[0]["origQty"])
    assert bot.venue is not None
    await bot.venue.place_limit(ETH, Side.BUY, qty, far, f"{prefix}P99-E1", post_only=True)
    await bot.venue.place_stop_market(ETH, Side.SELL, qty, far, f"{prefix}P99-S1")
    await bot.stop()  # the process dies
    fake.advance(1)
    dip(bot, ETH, eth_price, "0.2")  # while it is down, more of the ETH entry fills
    before_orders = {o["clientOrderId"] for o in fake.open_orders()}
    seen = len(fake.requests)

    restart = BotProcess(tmp_path / "profiles" / "wire.yaml", fake.base_url, fake, "--ticks", "0")
    await restart.start()
    await restart.wait_ready()
    assert await restart.wait() == 0, "\n".join(restart.lines)
    said = "\n".join(restart.lines)
    assert "Traceback" not in said

    after = fake.requests[seen:]
    read = {(r.method, r.path) for r in after}
    assert ("GET", "/fapi/v1/openOrders") in read and ("GET", "/fapi/v1/openAlgoOrders") in read
    cancelled = [r.params.get("origClientOrderId") or r.params.get("clientAlgoId") or ""
                 for r in after if r.method == "DELETE"]
    placed = [r.params for r in after if r.method == "POST"]
    # Reconciliation: the orphans cancelled, the ETH stop replaced by one for the part that filled while the
    # bot was down, nothing else sent again. Then the run's graceful end (--ticks 0) withdraws the resting
    # ETH entry: what filled stays, protected, with its take-profits; nothing is entered at market.
    eth_entry = entry_of(eth)
    assert {f"{prefix}P99-E1", f"{prefix}P99-S1", old_stop} <= set(cancelled), said
    assert placed[0]["type"] == "STOP_MARKET", placed
    assert cancelled.index(eth_entry) > cancelled.index(old_stop), "the entry is withdrawn after reconciling"
    assert "withdrew 1 resting limit entry" in said
    assert not [p for p in placed if p.get("type") == "MARKET" or (p.get("type") == "LIMIT"
                                                                   and p.get("reduceOnly") != "true")], placed
    assert f"{prefix}P99-E1" not in {o["clientOrderId"] for o in fake.open_orders()}
    assert {f"{prefix}P99-S1", old_stop}.isdisjoint(a["clientAlgoId"] for a in fake.open_algo_orders())
    assert before_orders - {o["clientOrderId"] for o in fake.open_orders()} >= {f"{prefix}P99-E1", eth_entry}

    session = await bot.start()  # read what the process left
    live = list(session.book.live.values())
    assert sorted(p.state for p in live) == ["open", "open"]
    assert bot.violations() == []
    for p in live:
        assert_safe(bot, p)


async def test_a_stop_that_fires_while_the_rest_of_the_entry_rests(make_bot: MakeBot) -> None:
    bot = await make_bot(0.3)
    position = await bot.enter(ETH)
    assert position is not None
    dip(bot, ETH, Decimal(limits(bot, ETH, reduce_only=False)[0]["price"]), "0.2")
    await tick(bot, NOW + timedelta(seconds=5))
    assert position.state == "resting" and position.qty > 0
    [stop] = stops(bot, ETH)
    bot.fake.advance(1)
    bot.fake.set_price(ETH, Decimal(stop["triggerPrice"]) * Decimal("0.99"))  # through the stop (and the entry)
    assert stops(bot, ETH) == [] and bot.fake.desk.algos[int(stop["algoId"])].status == "FINISHED"
    await tick(bot, NOW + timedelta(seconds=10))
    # the stop says the trade is wrong: the rest of the entry is withdrawn and what filled since is flattened
    assert position.id not in bot.engine.book.live and position.state == "closed", position.state
    assert bot.held(ETH) == 0 and bot.fake.open_orders() == [] and bot.fake.open_algo_orders() == []
    assert bot.violations() == []


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, line: str) -> None:
        self.lines.append(line)


@pytest.mark.parametrize("filled", [True, False])
async def test_a_graceful_shutdown_withdraws_a_resting_entry(make_bot: MakeBot, filled: bool) -> None:
    """Ctrl+C while an entry rests (runtime.close_on_shutdown: false): nothing of it may rest while the bot is
    away (a piece filling then would have no stop). The rest is cancelled on the wire; what filled stays,
    protected; no market order, whatever orders.entry.on_timeout says."""
    from engine.run.console import shutdown

    bot = await make_bot(0.3, maker("market"), runtime={"close_on_shutdown": False})
    position = await bot.enter(ETH)
    assert position is not None
    if filled:
        dip(bot, ETH, Decimal(limits(bot, ETH, reduce_only=False)[0]["price"]), "0.2")
        await tick(bot, NOW + timedelta(seconds=5))
        assert position.state == "resting" and position.qty > 0
    out = _Out()
    assert bot.session is not None
    await shutdown(bot.session, NOW + timedelta(seconds=6), out)
    assert any("withdrew 1 resting limit entry" in line for line in out.lines), out.lines
    assert limits(bot, ETH, reduce_only=False) == []
    assert [r.params["type"] for r in bot.sent("POST", ORDER)].count("MARKET") == 0
    if filled:
        assert position.state == "open"
        assert_safe(bot, position)
    else:
        assert position.id not in bot.engine.book.live and bot.held(ETH) == 0 and bot.violations() == []
