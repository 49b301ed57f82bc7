"""The trading engine: venue answers and candles in, events through the machine, intents out.

    venue → events → machine (PositionBook.apply) → intents → executor → venue

The engine never changes a position except through `PositionBook.apply`, and executes a
transition's intents only after `apply` has made it durable. One engine serves every venue: the
drivers in `engine.run` decide where candles and time come from (backtest, paper, live).

One symbol never stops the others: a venue error while working on one position (a symbol Binance no
longer lists, a request that keeps failing) is logged and the next position is worked on; its own
deadlines and the next reconciliation pick it up again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.config.profile import OrdersSection
from engine.exits import ExitReason
from engine.machine.runtime import ActionFailed, InvalidTransition, Outcome
from engine.machine.tags import Tag
from engine.positions.book import PositionBook
from engine.positions.events import (
    PROTECTED,
    TERMINAL,
    CloseRequested,
    Panic,
    PositionEvent,
    Timeout,
    Withdraw,
    event_name,
    fill_event,
)
from engine.positions.events import (
    Signal as SignalEvent,
)
from engine.positions.model import Intent, IntentKind, Position
from engine.strategy.signal import Signal
from engine.trading.bot_machine import BotMachine
from engine.trading.executor import Executor, waves
from engine.trading.leverage_rule import plan_for_signal
from engine.trading.risk import RiskGuard
from engine.trading.sizing import SizingRefusal
from engine.trading.venue_setup import SymbolSetup
from engine.venue.base import Venue
from engine.venue.errors import OrderNotFound, VenueError
from engine.venue.markets import Market
from engine.venue.types import Execution, ExecutionKind, ReportSource

log = logging.getLogger("engine.trading")
FLATTENING = Tag.FLATTENING


@dataclass
class MarketGate:
    """What `market.tradable` asks: the market exists, trades, is in the universe (None: no universe
    rules apply) and we hold nothing on it yet. Leaving the universe refuses new entries only: a
    position already open is managed to the end."""

    markets: dict[str, Market]
    busy: set[str] = field(default_factory=set)
    universe: frozenset[str] | None = None

    def tradable(self, symbol: str) -> bool:
        market = self.markets.get(symbol)
        return (market is not None and market.is_trading and symbol not in self.busy
                and (self.universe is None or symbol in self.universe))


@dataclass
class GuardEnv:
    risk: RiskGuard
    market: MarketGate
    bot: BotMachine  # `bot.entries_allowed`: the bot's own machine says whether entries are allowed


@dataclass
class EngineCounters:
    signals: int = 0
    entries: int = 0
    refused: int = 0
    closed: int = 0
    invalid_events: int = 0
    orphans_cancelled: int = 0


class TradingEngine:
    def __init__(
        self,
        *,
        orders: OrdersSection,
        quote_assets: tuple[str, ...],
        book: PositionBook,
        venue: Venue,
        risk: RiskGuard,
        bot: BotMachine,
        markets: dict[str, Market],
        on_closed: Any = None,
    ) -> None:
        # The engine's own slice of the profile: how orders are sized and sent, and which margin
        # assets make up the account. The control layer replaces `orders` on a profile switch.
        self.orders = orders
        self.quote_assets = quote_assets
        self.book = book
        self.venue = venue
        self.executor = Executor(venue, self.refresh_markets)
        self.risk = risk
        self.bot = bot
        self.markets = markets
        self.gate = MarketGate(markets)
        self.env = GuardEnv(risk, self.gate, bot)
        self.counters = EngineCounters()
        self.on_closed = on_closed  # callback(position_dict) for reports and notifications
        self.last_signals: dict[str, Signal] = {}
        # Observers of every applied transition, called as listener(position, outcome) once it is
        # durable (notifications, Telegram, statistics). A failing listener is logged, never raised:
        # observation must not stop trading.
        self.listeners: list[Any] = []
        self.setup = SymbolSetup(venue)  # each symbol's margin mode and leverage on the venue
        self._markets_lock = asyncio.Lock()
        self._markets_read = 0  # how many times the markets were renewed (concurrent refreshes share one read)
        self._equity_key: object = None
        self._equity_assets: list[str] = []

    # --- applying events ---------------------------------------------------------------------
    async def apply(
        self, position: Position, event: PositionEvent, now: datetime, *, run: bool = True
    ) -> Outcome | None:
        """Apply one event durably, then (unless `run` is false) carry out the intents it queued and
        the events those produce, recursively. Events the machine does not accept in the position's
        state are logged and dropped (the loader has checked every state the engine's contract names,
        engine.positions.events.EXPECTED, handles its events)."""
        name = event_name(event)
        if position.last_seq and position.id not in self.book.live:
            self.counters.invalid_events += 1
            log.info("%s is closed; did not apply %s", position.id, name)
            return None
        try:
            outcome = self.book.apply(position, name, event.payload(), now=now, env=self.env)
        except InvalidTransition as exc:
            self.counters.invalid_events += 1
            log.warning("%s", exc)
            return None
        except ActionFailed as exc:
            log.error("%s", exc)
            return None
        if not outcome.applied:
            return outcome
        self._track(position)
        if self.book.machine.has_tag(position.state, TERMINAL):
            self._closed(position, now)
        self._notify(position, outcome)
        if run:
            await self.run_intents(position, now)
        return outcome

    async def run_intents(self, position: Position, now: datetime, *, resume: bool = False) -> None:
        """Execute the outbox of the position's last transition. An answer that moves the position
        on makes the rest of this outbox obsolete: the new transition's outbox supersedes it."""
        await self._carry_out(position, list(position.intents), now, resume=resume)

    async def _carry_out(
        self, position: Position, intents: list[Intent], now: datetime, *, resume: bool = False
    ) -> tuple[int, int] | None:
        """Execute `intents` wave by wave (`executor.waves`: the stop-loss is answered before its
        take-profits leave together; cancels leave together before a close), applying each answer's
        events in the intents' order; stop after a wave whose answers moved the position on (their own
        transitions' intents have then been carried out instead). An unexpected error of one intent
        of a wave is raised once the wave's other answers have been applied. Returns, when an answer
        moved the position on, how many of `intents` were sent and the newest transition (seq) they came from."""
        sent = 0
        for wave in waves(intents):
            answers = await self.executor.carry_out_wave(position, wave, resume=resume)
            sent += len(wave)
            seq = position.last_seq
            news = [a.events for a in answers if a.events]
            if len(news) == 1:
                for event in news[0]:
                    await self.apply(position, event, now)
            elif news:
                # Several answers with news (take-profits that crossed the book at once): they are the
                # venue's facts, so every one is booked before any order they call for goes out, net, as
                # `recover_fills` does (the orders of the first fill would else act on a position the
                # second has already changed, and the second fill be lost once the first closed it).
                queued: list[Intent] = []
                for event in (e for events in news for e in events):
                    outcome = await self.apply(position, event, now, run=False)
                    if outcome is not None and outcome.applied:
                        queued.extend(position.intents)
                if queued:
                    await self._run_net(position, queued, now)
            failed = next((a.error for a in answers if a.error is not None), None)
            if failed is not None:
                raise failed
            if position.last_seq != seq:
                return sent, max(i.created_seq for i in wave)
        return None

    def _notify(self, position: Position, outcome: Outcome) -> None:
        for listener in self.listeners:
            try:
                listener(position, outcome)
            except Exception:  # noqa: BLE001 - see `listeners`
                log.exception("transition listener %r failed", listener)

    def _track(self, position: Position) -> None:
        if self.book.machine.has_tag(position.state, TERMINAL):
            self.gate.busy.discard(position.symbol)
        else:
            self.gate.busy.add(position.symbol)

    def _closed(self, position: Position, now: datetime) -> None:
        self.counters.closed += 1
        if position.opened_at is not None:
            self.risk.record_close(position.symbol, position.exit_reason or "", position.realised_pnl, now)
            self.bot.check(now, live=len(self.book.live))  # the daily loss limit, the stop-loss streak
        if self.on_closed is not None:
            self.on_closed(position.to_dict())

    # --- inputs ------------------------------------------------------------------------------
    async def on_signal(self, signal: Signal, now: datetime) -> Position | None:
        """Turn a long/short signal into a position via the machine's `signal` event (whose guards are
        the risk rules and sizing checks). Returns the position when the entry was sent."""
        if signal.side.value == "none":
            return None
        self.counters.signals += 1
        self.last_signals[signal.symbol] = signal
        market = self.markets.get(signal.symbol)
        if market is None or not self.gate.tradable(signal.symbol):
            return None  # (the machine's market.tradable guard says the same; no need to ask the venue)
        try:
            return await self._enter(signal, market, now)
        except VenueError as exc:  # this symbol's entry failed; the other signals of the tick go on
            log.warning("%s: no entry, the venue failed: %s", signal.symbol, exc)
            return None

    async def _enter(self, signal: Signal, market: Market, now: datetime) -> Position | None:
        balance = await self.venue.balance(market.settle)
        # The daily loss limit is on the whole account: every margin asset the bot trades in, summed
        # (USDC and USDT both count at par), so the base does not flip with the signal's wallet.
        equity = balance.total
        for asset in self.quote_assets:
            if asset != market.settle:
                equity += (await self.venue.balance(asset)).total
        self.risk.record_balance(equity, now)
        self.bot.check(now, live=len(self.book.live))  # a new UTC day, the loss limit at this balance
        plan = plan_for_signal(orders=self.orders, signal=signal, market=market, balance=balance.free,
                               results=self.risk.results, brackets=await self.venue.leverage_brackets(market.symbol))
        if isinstance(plan, SizingRefusal):
            self.counters.refused += 1
            log.info("%s: no entry, sizing refused: %s", signal.symbol, plan.reason)
            return None
        if not await self.setup.prepare(market, self.orders, plan.leverage):  # margin mode, leverage
            self.counters.refused += 1
            return None
        position = self.book.new_position(signal.symbol)
        outcome = await self.apply(position, SignalEvent(plan.to_payload(), signal.reason), now)
        if outcome is None or not outcome.applied:
            self.counters.refused += 1
            return None
        self.counters.entries += 1
        return position

    async def on_executions(self, executions: list[Execution], now: datetime) -> None:
        """Fills of our resting orders (stop-loss, take-profits) and liquidations, as events.

        Several orders of one position can fill inside one candle (two take-profit slices, or a slice
        and the stop). All of a position's fills are applied first and only then are orders sent:
        sending the first fill's follow-up (a stop resized for a remainder the venue no longer holds)
        before the venue's next fill is known would be refused and wrongly flatten the position.
        """
        if not executions:
            return
        owners = {cid: p for p in self.book.live.values() for cid in p.order_roles}
        queued: dict[str, tuple[Position, list[Intent]]] = {}
        for execution in executions:
            if execution.kind is ExecutionKind.FUNDING:
                continue
            if execution.kind is ExecutionKind.LIQUIDATION:
                for position in [p for p in self.book.live.values() if p.symbol == execution.symbol]:
                    log.error("%s %s liquidated at %s", position.id, position.symbol, execution.price)
                    await self.apply(position, Panic(ExitReason.LIQUIDATION), now)
                continue
            report = execution.report()
            position = None if report is None else owners.get(report.client_id)
            if report is None or position is None or position.id not in self.book.live:
                continue  # an orphan's fill; the sweep will deal with what is left
            event = fill_event(position, report)
            if event is None:
                continue
            outcome = await self.apply(position, event, now, run=False)
            if outcome is not None and outcome.applied:
                queued.setdefault(position.id, (position, []))[1].extend(position.intents)
        for position, intents in queued.values():
            with self.isolated(position, "sending its orders"):
                await self._run_net(position, intents, now)

    async def _run_net(self, position: Position, intents: list[Intent], now: datetime) -> None:
        """Carry out the net effect of several transitions' outboxes: orders the position still owns
        are placed (new ones first, so a stop is never missing), then every cancel of an order that
        was sent; orders queued and superseded within the batch are never sent at all."""
        placed = [i for i in intents if i.kind is not IntentKind.CANCEL and i.client_id in position.open_orders]
        queued_ids = {i.client_id for i in intents}
        cancels = [i for i in intents if i.kind is IntentKind.CANCEL and i.target not in queued_ids]
        batch = [*placed, *cancels]
        stopped = await self._carry_out(position, batch, now)
        if stopped is None:
            return
        # An answer moved the position on: the orders the transitions up to that intent's queued are
        # superseded, as in `_carry_out`. But the batch also holds the outboxes of transitions applied after
        # it (fills read together: a part of the entry, then its stop firing), which the new transition did
        # not replace: their orders still go out (a stop refused for the part must not drop the emergency
        # close that follows). And every cancel still goes: a queued cancel has already made the position
        # forget its target, so no later transition would cancel that order again.
        sent, upto = stopped
        later = [i for i in batch[sent:] if i.kind is IntentKind.CANCEL
                 or (i.created_seq > upto and i.client_id in position.open_orders)]
        if later:
            await self._run_net(position, later, now)

    async def on_timeouts(self, now: datetime) -> None:
        """Fire the positions' due deadlines, then the bot machine's checks (every candle in a backtest,
        every tick live)."""
        for position, event in self.book.due_timeouts(now):
            with self.isolated(position, f"its {event} deadline"):
                await self.apply(position, Timeout(event), now)
        await self.check_bot(now)

    async def check_bot(self, now: datetime) -> None:
        """The bot machine's checks with the equity marked to market (unrealised PnL included, every
        margin asset at par); a hard stop or a panic flattens every position through its machine, and
        the bot leaves `flattening` once none is left."""
        equity = None
        if self.risk.watches_equity and not self.bot.model.tripped:
            try:
                equity = await self.equity()
            except VenueError as exc:
                log.warning("equity not read, the hard stop is checked at the next tick: %s", exc)
            if equity is not None:
                self.risk.record_equity(equity)
        self.bot.check(now, equity=equity, live=len(self.book.live))
        if self.bot.has_tag(FLATTENING):
            await self.panic(now)
            self.bot.check(now, live=len(self.book.live))

    async def equity(self) -> Decimal:
        """Every wallet the bot trades from (`equity_assets`), marked to market."""
        total = Decimal(0)
        for asset in self.equity_assets():
            total += (await self.venue.balance(asset)).total
        return total

    def equity_assets(self) -> list[str]:
        """The profile's margin assets and the settle asset of every market the bot may enter (its universe,
        when one is set) or holds a position on (a USDC profile backtested on USDT markets loses in the USDT
        wallet; a wallet it never trades is not its own). Read at every candle: kept until the universe,
        the busy symbols or the markets change."""
        key = (self.gate.universe, frozenset(self.gate.busy), self._markets_read, id(self.markets))
        if self._equity_key != key:
            symbols = set(self.markets) if self.gate.universe is None else set(self.gate.universe)
            settles = [self.markets[s].settle for s in sorted(symbols | self.gate.busy) if s in self.markets]
            self._equity_assets = list(dict.fromkeys([*self.quote_assets, *settles]))
            self._equity_key = key
        return self._equity_assets

    async def sweep_orphans(self) -> int:
        """Cancel every open order of this bot (client ids carry the book's prefix) that no live
        position owns. Orders someone else placed on the account are not ours to cancel."""
        owned = {cid for p in self.book.live.values() for cid in p.open_orders}
        prefix = self.book.bot.get("order_prefix") or ""
        ours = f"{prefix}-" if prefix else ""
        cancelled = 0
        for order in await self.venue.open_orders():
            if order.client_id in owned or not order.client_id.startswith(ours):
                continue
            try:
                await self.venue.cancel(order.symbol, order.client_id, order.type.is_conditional)
                cancelled += 1
                log.info("cancelled orphan order %s on %s", order.client_id, order.symbol)
            except OrderNotFound:
                pass
            except VenueError as exc:  # a symbol the venue no longer lists, ...: the next sweep tries again
                log.warning("orphan order %s on %s not cancelled: %s", order.client_id, order.symbol, exc)
        self.counters.orphans_cancelled += cancelled
        return cancelled

    # --- markets -------------------------------------------------------------------------------
    def update_markets(self, fresh: dict[str, Market]) -> None:
        """Take the markets as the venue lists them now, in place (the market gate and sizing read the
        same dict): new filters size the next entries, and a symbol gone or no longer TRADING gets no
        entry (reconciliation then closes what is held on it)."""
        for symbol in sorted(set(self.markets) | set(fresh)):
            old, new = self.markets.get(symbol), fresh.get(symbol)
            if old is not None and new is not None and old != new:
                log.info("%s: market changed (status %s, step %s, tick %s, min notional %s)", symbol, new.status,
                         new.market_step_size, new.tick_size, new.min_notional)
            elif old is not None and new is None and symbol in self.gate.busy:
                log.warning("%s: no longer listed by the venue", symbol)
        self.markets.clear()
        self.markets.update(fresh)
        self._markets_read += 1

    async def refresh_markets(self) -> dict[str, Market]:
        """Read the venue's markets again and take them (`update_markets`). Callers that arrive while a
        read is under way (the take-profits of one wave, refused together) share its answer."""
        seen = self._markets_read
        async with self._markets_lock:
            if self._markets_read == seen:
                self.update_markets(await self.venue.refresh_markets())
        return self.markets

    @contextmanager
    def isolated(self, position: Position, what: str) -> Iterator[None]:
        """Around the work on one position of many: a venue error is logged and the caller goes on with the
        next position (the position's deadline and the next reconciliation come back to it)."""
        try:
            yield
        except VenueError as exc:
            log.warning("%s %s: %s failed, going on with the others: %s", position.id, position.symbol, what, exc)

    # --- lifecycle -----------------------------------------------------------------------------
    async def resume(self, now: datetime) -> None:
        """After a restart: finish each live position's last outbox (looking orders up first), then
        cancel orphans. No entry happens before this returns."""
        for position in list(self.book.live.values()):
            self._track(position)
            with self.isolated(position, "resuming its last orders"):
                await self.run_intents(position, now, resume=True)
        for position in list(self.book.live.values()):
            with self.isolated(position, "looking up its fills"):
                await self.recover_fills(position, now)
        await self.sweep_orphans()

    async def recover_fills(self, position: Position, now: datetime, *, known_open: set[str] | None = None) -> None:
        """Stops and take-profits that filled while we were not looking (between two polls of a real
        venue, or a crash between the venue's fill and our event) are read back by client id.

        Every fill found is applied first, in the order the venue filled them, and only then are the
        resulting orders sent, net (as `on_executions` does): a stop resized after the first of two
        fills would otherwise be sent for a position the venue has already closed. Orders listed in
        `known_open` are still resting and are not looked up."""
        fills: list[tuple[int, PositionEvent]] = []
        for client_id in list(position.open_orders):
            limit = position.is_limit(client_id)  # a resting LIMIT fills in parts while still open: always read
            if not (limit or position.role_of(client_id).is_conditional) or (
                    not limit and known_open is not None and client_id in known_open):
                continue
            try:
                order = await self.venue.fetch_order(position.symbol, client_id, position.is_conditional(client_id))
            except VenueError as exc:
                log.warning("%s: cannot look up %s: %s", position.id, client_id, exc)
                continue
            report = None if order is None else order.report(ReportSource.POLLED)
            if report is None:
                continue  # unknown to the venue, or nothing filled yet
            event = fill_event(position, report)
            if event is not None:
                fills.append((report.at_ms, event))
        intents: list[Intent] = []
        for _, event in sorted(fills, key=lambda f: f[0]):
            if position.id not in self.book.live:
                break
            outcome = await self.apply(position, event, now, run=False)
            if outcome is not None and outcome.applied:
                intents.extend(position.intents)
        if intents:
            await self._run_net(position, intents, now)

    async def close_all(self, now: datetime, reason: ExitReason = ExitReason.CLOSE_REQUESTED) -> None:
        """Close every open or partially closed position with a reduce-only market order."""
        for position in list(self.book.live.values()):
            if self.book.machine.has_tag(position.state, PROTECTED):
                await self.apply(position, CloseRequested(reason), now)

    async def withdraw_entries(self, now: datetime) -> int:
        """Graceful shutdown: every resting limit entry is cancelled (a piece filling while the bot is away
        would have no stop); what filled stays, protected. Returns how many were withdrawn."""
        withdrawn = 0
        for position in list(self.book.live.values()):
            if Withdraw.name in self.book.machine.events_from(position.state):
                with self.isolated(position, "withdrawing its resting entry"):
                    await self.apply(position, Withdraw(), now)
                withdrawn += 1
        return withdrawn

    async def panic(self, now: datetime) -> None:
        """Every live position that can still be sent to emergency is (the others are already there)."""
        for position in list(self.book.live.values()):
            if Panic.name in self.book.machine.events_from(position.state):
                await self.apply(position, Panic(ExitReason.PANIC), now)
