"""Saving and restoring a MatchingEngine's whole state as JSON-safe data (paper trading resumes
exactly after a restart). Kept apart from the matching logic it serialises."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from engine.clock import Clock
from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.sim.book import NEVER_MS, SettleAccount, SimOrder, SymbolBook
from engine.venue.sim.fees import FeeSchedule
from engine.venue.sim.state import (
    DEFAULT_KEPT_CLOSED_ORDERS,
    ENGINE_KIND,
    STATE_VERSION,
    StateError,
    check_header,
    dec,
    decode_account,
    decode_order,
    enc_dec,
    enc_float,
    encode_account,
    encode_order,
    get,
    integer,
    opt_dec,
    opt_float,
    opt_int,
    order_recency,
    text,
)
from engine.venue.types import (
    ZERO,
    MarginMode,
    OrderType,
)


class EngineStateMixin:
    """`state_dict`, `from_state` and `restore_state` for MatchingEngine (see there for the fields)."""

    def state_dict(self, *, max_closed_orders: int = DEFAULT_KEPT_CLOSED_ORDERS) -> dict[str, Any]:
        """Everything mutable that shapes the engine's future answers, as JSON-safe data (Decimals as
        strings, candle floats as their repr), with `"version": 1`. Restore with `restore_state` or
        `from_state`; continuing a restored engine gives exactly the executions, balances, positions and
        orders the original would have given.

        Kept: per settle asset the wallet, used margin, initial balance and the realised PnL / fees /
        funding totals; per symbol book (in creation order) the leverage, margin mode, signed position,
        entry, isolated margin, liquidation price, last price and candle volume, next funding time, and
        the open orders in placement order (their order breaks ties): conditional orders and resting
        limit orders with their fills so far (a partly filled order resumes with its cumulative fill,
        average price and fee; the margin it holds is derived again from it); the order-id counter;
        the latest candle time; the settings that change behaviour (slippage and its model, market
        impact, volume share, default leverage, funding rate, fee schedules), checked on restore. Also
        the `max_closed_orders` most recently updated closed orders (filled, canceled, expired), so that
        `fetch_order` still answers for them.

        Not kept: the `executions` log (it grows without bound and nothing reads it back: the account
        totals carry its sums), so a restored engine's log starts empty; older closed orders (beyond
        `max_closed_orders`; `fetch_order` then returns None for them); markets, brackets and the clock,
        which the restorer passes in again."""
        if max_closed_orders < 0:
            raise ValueError("max_closed_orders must be >= 0")
        closed = sorted((o for o in self._orders.values() if not o.status.is_open), key=order_recency)
        kept = closed[len(closed) - max_closed_orders :] if max_closed_orders else []
        return {
            "version": STATE_VERSION,
            "kind": ENGINE_KIND,
            "config": self._config(),
            "seq": self._seq,
            "time_ms": self._time_ms,
            "accounts": [encode_account(account) for account in self._accounts.values()],
            "books": [
                {
                    "symbol": symbol,
                    "leverage": book.leverage,
                    "margin_mode": book.margin_mode.value,
                    "qty": str(book.qty),
                    "entry": str(book.entry),
                    "margin": str(book.margin),
                    "liq_price": enc_dec(book.liq_price),
                    "last": enc_float(book.last),
                    "volume": enc_float(book.volume),
                    "next_funding_ms": None if book.next_funding_ms == NEVER_MS else book.next_funding_ms,
                    "orders": [encode_order(order) for order in book.orders],
                }
                for symbol, book in self._books.items()
            ],
            "closed_orders": [encode_order(order) for order in kept],
        }

    def _config(self) -> dict[str, Any]:
        return {
            "slippage": str(self.slippage),
            "slippage_model": self.slippage_model,
            "impact": str(self.impact),
            "max_volume_share": str(self.max_volume_share),
            "default_leverage": self.default_leverage,
            "funding_rate": enc_dec(self.funding_rate),
            "fees": {asset: {"maker": str(f.maker), "taker": str(f.taker)} for asset, f in self._fees.items()},
        }

    @classmethod
    def from_state(
        cls,
        markets: Mapping[str, Market],
        state: Mapping[str, Any],
        *,
        brackets: Mapping[str, Brackets] | None = None,
        clock: Clock | None = None,
    ) -> Self:
        """A new engine continuing a `state_dict()`: the settings (slippage, its model, impact, volume
        share, default leverage, funding rate, fees) come from the state (states saved before the
        market-aware settings existed: their defaults); markets, brackets and the clock are passed again, as to the
        constructor. Raises StateError (a ValueError) for an unknown version or a malformed state."""
        check_header(state, ENGINE_KIND)
        config = _with_defaults(get(state, "config", "state"))
        slippage = dec(get(config, "slippage", "config"), "config.slippage")
        fees_record = get(config, "fees", "config")
        if not isinstance(fees_record, dict):
            raise StateError("config.fees: expected an object")
        fees = {
            asset: FeeSchedule(
                maker=dec(get(f, "maker", f"fees {asset}"), f"fees {asset}.maker"),
                taker=dec(get(f, "taker", f"fees {asset}"), f"fees {asset}.taker"),
            )
            for asset, f in fees_record.items()
        }
        model = text(get(config, "slippage_model", "config"), "config.slippage_model")
        try:
            engine = cls(
                markets,
                balances={},
                brackets=brackets,
                fees=fees,
                slippage_model=model,  # type: ignore[arg-type]  # checked by the constructor
                impact_bps=dec(get(config, "impact", "config"), "config.impact") * 10_000,
                max_volume_share=dec(get(config, "max_volume_share", "config"), "config.max_volume_share"),
                default_leverage=integer(get(config, "default_leverage", "config"), "config.default_leverage"),
                funding_rate=opt_dec(get(config, "funding_rate", "config"), "config.funding_rate"),
                clock=clock,
            )
        except ValueError as exc:
            raise StateError(f"config: {exc}") from None
        # the saved fractions themselves, not via bps
        engine._set_slippage(slippage, dec(get(config, "impact", "config"), "config.impact"))
        engine.restore_state(state)
        return engine
        engine = cls(
            markets,
            balances={},
            brackets=brackets,
            fees=fees,
            default_leverage=integer(get(config, "default_leverage", "config"), "config.default_leverage"),
            funding_rate=opt_dec(get(config, "funding_rate", "config"), "config.funding_rate"),
            clock=clock,
        )

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Replace all mutable state with a `state_dict()`. All or nothing: on any error the engine is
        left as it was. Raises StateError (a ValueError) for an unknown version, a malformed state, a
        symbol missing from this engine's markets, or a state saved under different settings (slippage,
        default leverage, funding rate, fees): use `from_state` to take the saved settings."""
        check_header(state, ENGINE_KIND)
        saved, mine = _with_defaults(get(state, "config", "state")), self._config()
        differing = [
            key
            for key in mine
            if not _same_setting(saved.get(key) if isinstance(saved, dict) else None, mine[key])
        ]
        if differing:
            raise StateError(
                f"state saved with different settings ({', '.join(differing)}): "
                f"saved {saved!r}, this engine {mine!r}; restore with MatchingEngine.from_state"
            )
        seq = integer(get(state, "seq", "state"), "seq")
        time_ms = integer(get(state, "time_ms", "state"), "time_ms")

        accounts: dict[str, SettleAccount] = {}
        for record in _records(state, "accounts"):
            account = decode_account(record)
            if account.asset in accounts:
                raise StateError(f"account {account.asset} saved twice")
            accounts[account.asset] = account

        def account_for(asset: str) -> SettleAccount:
            account = accounts.get(asset)
            if account is None:
                account = accounts[asset] = SettleAccount(asset, ZERO)
            return account

        books: dict[str, SymbolBook] = {}
        orders: dict[tuple[str, str, bool], SimOrder] = {}
        for record in _records(state, "books"):
            symbol = text(get(record, "symbol", "book"), "book.symbol")
            where = f"book {symbol}"
            if symbol not in self.markets:
                raise StateError(f"{where}: symbol not in this engine's markets (another exchangeInfo?)")
            if symbol in books:
                raise StateError(f"{where}: saved twice")
            book = self._new_book(symbol, account_for)
            book.leverage = integer(get(record, "leverage", where), f"{where}.leverage")
            try:
                book.margin_mode = MarginMode(get(record, "margin_mode", where))
            except ValueError as exc:
                raise StateError(f"{where}: {exc}") from None
            book.qty = dec(get(record, "qty", where), f"{where}.qty")
            book.entry = dec(get(record, "entry", where), f"{where}.entry")
            book.margin = dec(get(record, "margin", where), f"{where}.margin")
            book.liq_price = opt_dec(get(record, "liq_price", where), f"{where}.liq_price")
            book.last = opt_float(get(record, "last", where), f"{where}.last")
            book.volume = opt_float(record.get("volume"), f"{where}.volume") or 0.0
            next_funding = opt_int(get(record, "next_funding_ms", where), f"{where}.next_funding_ms")
            book.next_funding_ms = NEVER_MS if next_funding is None else next_funding
            for order_record in _records(record, "orders", where):
                order = decode_order(order_record)
                if order.symbol != symbol or not order.status.is_open:
                    raise StateError(
                        f"{where}: order {order.client_id} is not an open conditional order (nor a resting limit) of it"
                    )
                if order.filled >= order.qty or order.filled and order.type is not OrderType.LIMIT:
                    raise StateError(f"{where}: open order {order.client_id} cannot have filled {order.filled}")
                key = (symbol, order.client_id, order.type.is_conditional)
                if key in orders:
                    raise StateError(f"{where}: open order {order.client_id} saved twice")
                orders[key] = order
                book.orders.append(order)
                book.reserve(order)  # the margin a resting limit holds is derived, not saved
            book.refresh()  # the hot-path caches (fall_max, rise_min, busy) are derived, not saved
            books[symbol] = book
        for order_record in _records(state, "closed_orders"):
            order = decode_order(order_record)
            if order.status.is_open:
                raise StateError(f"closed order {order.client_id} is open")
            if order.symbol not in self.markets:
                raise StateError(f"closed order {order.client_id}: symbol {order.symbol} not in the markets")
            key = (order.symbol, order.client_id, order.type.is_conditional)
            if key in orders:
                raise StateError(f"order {order.client_id} of {order.symbol} saved twice")
            orders[key] = order

        self._accounts, self._books, self._orders = accounts, books, orders
        self._seq, self._time_ms = seq, time_ms
        self.executions = []



_DEFAULT_CONFIG = {"slippage_model": "flat", "impact": "0.001", "max_volume_share": "0.1"}


def _with_defaults(config: Any) -> Any:
    """A saved config with the settings added after version 1 first shipped filled in with the values
    those states were made under (flat slippage; the others then had no effect)."""
    return {**_DEFAULT_CONFIG, **config} if isinstance(config, dict) else config


def _records(record: Any, key: str, where: str = "state") -> list[Any]:
    value = get(record, key, where)
    if not isinstance(value, list):
        raise StateError(f"{where}.{key}: expected a list")
    return value


def _same_setting(saved: Any, mine: Any) -> bool:
    """Saved and current settings agree: equal JSON, decimal strings compared by value."""
    if isinstance(mine, dict):
        return (
            isinstance(saved, dict)
            and saved.keys() == mine.keys()
            and all(_same_setting(saved[k], mine[k]) for k in mine)
        )
    if isinstance(mine, str) and isinstance(saved, str):
        try:
            return Decimal(saved) == Decimal(mine)
        except InvalidOperation:
            return saved == mine
    return type(saved) is type(mine) and saved == mine
