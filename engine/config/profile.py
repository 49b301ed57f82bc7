"""The profile schema. Every key is typed and bounded; unknown keys are refused, so a typo is an
error at load, not a silently ignored setting.

Secrets never live in a profile: the telegram and notification sections name the *environment
variables* that hold them (`token_env`, `urls_env`), and the values are read from the environment or
`.env` at start.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.config.durations import Duration, PositiveDuration
from engine.config.numbers import cross_field_error, refuse_booleans
from engine.strategy.params import ScalpingParams

ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_TIMEFRAME_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000}  # VenueSection.timeframe


class _Section(BaseModel):
    # allow_inf_nan=False: `.inf` or `.nan` in a profile is a typo, never a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: object, info: ValidationInfo) -> object:
        return refuse_booleans(cls, value, info)


class FeeTier(_Section):
    """One settle asset's fee rates, in percent of notional (0.04 = 4 bps). A negative maker rate is a
    rebate (some VIP and market-maker tiers)."""

    maker_pct: float = Field(ge=-0.1, le=1)
    taker_pct: float = Field(ge=0, le=1)


DEFAULT_FEE_TIERS = {"USDC": FeeTier(maker_pct=0.0, taker_pct=0.04), "USDT": FeeTier(maker_pct=0.02, taker_pct=0.05)}


class VenueSection(_Section):
    exchange: Literal["binanceusdm"] = "binanceusdm"
    quote_assets: tuple[Literal["USDC", "USDT"], ...] = Field(("USDC",), min_length=1)
    """Which margin assets to trade: USDC-margined, USDT-margined, or both."""
    timeframe: Literal["1m", "3m", "5m", "15m"] = "5m"
    api_key_env: str = Field("BINANCE_API_KEY", pattern=ENV_NAME)
    api_secret_env: str = Field("BINANCE_API_SECRET", pattern=ENV_NAME)
    starting_balance: Decimal = Field(Decimal(1000), gt=0, le=Decimal(10**12))
    """Paper and backtest wallet, in the quote asset."""
    slippage_bps: float | None = Field(None, ge=0, le=500)
    """Simulated adverse slippage on taker fills (paper, backtest). Absent: market-aware, from the
    symbol's tick size and the order's size against the candle's volume (engine.venue.sim.slippage);
    a figure pins that flat slippage on every taker fill, BTC and a thin alt alike."""
    fees: dict[Literal["USDC", "USDT"], FeeTier] = Field(default_factory=lambda: dict(DEFAULT_FEE_TIERS))
    """Your own fee tier per settle asset (paper, backtest); Binance's regular-user rates by default. A
    profile that names one asset keeps the default of the other."""
    markets_refresh: PositiveDuration = timedelta(hours=1)
    """Testnet/live and paper on live data: re-read every market's filters and status (exchangeInfo)
    this often; an order refused by a filter (-1111, -1013, -4164, ...) re-reads them at once."""


class UniverseSection(_Section):
    max_symbols: int = Field(35, ge=1, le=200)
    min_quote_volume_24h: float = Field(0, ge=0)
    atr_pct_min: float = Field(0.0, ge=0, le=100)
    atr_pct_max: float = Field(100.0, gt=0, le=100)
    rotation: PositiveDuration = timedelta(hours=1)
    whitelist: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _atr_range(self) -> Self:
        if self.atr_pct_min >= self.atr_pct_max:
            raise cross_field_error("atr_pct_min", f"atr_pct_min ({self.atr_pct_min:g}) must be below "
                                                   f"atr_pct_max ({self.atr_pct_max:g}): no market could qualify")
        return self


class TakeProfitStep(_Section):
    at_pct: float = Field(gt=0, le=100)
    """Distance from the entry price, in percent."""
    size_pct: float = Field(gt=0, le=100)
    """Share of the position closed at this step, in percent."""


class EntryOrder(_Section):
    """How an entry is sent: a market order, or a limit order resting at the close (`offset_ticks` ticks
    more passive: below it for a long, above it for a short), post-only (GTX) if asked, cancelled after
    `timeout`; what is left then is entered at market or abandoned (`on_timeout`). A part that filled is
    kept and protected either way."""

    type: Literal["market", "limit"] = "market"
    post_only: StrictBool = True
    offset_ticks: int = Field(0, ge=-100, le=1000)
    """Ticks from the close, positive = more passive. Negative crosses the book (taker), so it cannot be
    post-only."""
    timeout: PositiveDuration = timedelta(seconds=20)
    on_timeout: Literal["market", "abandon"] = "market"

    @model_validator(mode="after")
    def _post_only_rests(self) -> Self:
        if self.type == "limit" and self.post_only and self.offset_ticks < 0:
            raise cross_field_error("offset_ticks", f"offset_ticks {self.offset_ticks} puts the price through "
                                    "the book, where a post-only order is always refused (-5022); use 0 or more, "
                                    "or post_only: false")
        return self


class LeverageRule(_Section):
    """How the leverage of each entry is chosen. `fixed`: always `orders.leverage`, set once per symbol.
    `atr_winrate`: per entry, from the signal's ATR % of the close and the win-rate of the last closed
    trades (engine.trading.leverage_rule):

        leverage = floor(orders.leverage × target_atr_pct / ATR% × (1 + win_rate_gain × (W − win_rate_pivot_pct) / 100))

    with W the win-rate in % of the last `win_rate_window` closed trades (the factor is 1 while fewer than
    `min_trades` have closed), clamped to [min, max], then lowered to the highest leverage the symbol's
    leverage brackets allow for the entry's notional."""

    name: Literal["fixed", "atr_winrate"] = "fixed"
    min: int = Field(1, ge=1, le=125)
    """Lowest leverage the rule may choose."""
    max: int = Field(20, ge=1, le=125)
    """Highest leverage the rule may choose (the brackets may allow less)."""
    target_atr_pct: float = Field(0.5, gt=0, le=100)
    """ATR % of the close at which the volatility factor is 1: quieter markets get more, wilder ones less."""
    win_rate_window: int = Field(20, ge=1, le=500)
    """How many of the last closed trades the win-rate is taken over."""
    min_trades: int = Field(5, ge=0, le=500)
    """Closed trades needed before the win-rate counts (until then its factor is 1)."""
    win_rate_pivot_pct: float = Field(50.0, ge=0, le=100)
    """Win-rate (%) at which the win-rate factor is 1."""
    win_rate_gain: float = Field(1.0, ge=0, le=10)
    """How strongly the win-rate moves the leverage: the factor is 1 + gain × (W − pivot) / 100."""

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min > self.max:
            raise cross_field_error("min", f"min ({self.min}) must not exceed max ({self.max})")
        if self.min_trades > self.win_rate_window:
            raise cross_field_error("min_trades", f"min_trades ({self.min_trades}) exceeds win_rate_window "
                                    f"({self.win_rate_window}): the win-rate would never count")
        return self


class OrdersSection(_Section):
    entry: EntryOrder = EntryOrder()
    take_profit_type: Literal["market", "limit"] = "market"
    """limit: reduce-only LIMIT orders resting on the order book (maker fee); market: TAKE_PROFIT_MARKET
    on the Algo Order API (taker fee, fills on a touch of the trigger)."""
    sizing: Literal["risk", "fixed"] = "risk"
    risk_per_trade_pct: float = Field(0.5, gt=0, le=10)
    """With sizing=risk: the loss at the stop-loss, as % of the balance."""
    stake: Decimal = Field(Decimal(100), gt=0, le=Decimal(10**12))
    """With sizing=fixed: margin per trade in the quote asset."""
    leverage: int = Field(5, ge=1, le=125)
    """The leverage of every entry with `leverage_rule.name: fixed`; the rule's base leverage otherwise."""
    leverage_rule: LeverageRule = LeverageRule()
    margin_mode: Literal["isolated", "cross"] = "isolated"
    stop_loss_pct: float = Field(2.0, gt=0, le=50)
    take_profit: tuple[TakeProfitStep, ...] = Field(
        (TakeProfitStep(at_pct=0.4, size_pct=40), TakeProfitStep(at_pct=0.8, size_pct=30),
         TakeProfitStep(at_pct=1.2, size_pct=30)),
        min_length=1,
        max_length=10,
    )
    stop_after_tp: Literal["breakeven", "keep"] = "breakeven"
    entry_timeout: PositiveDuration = timedelta(seconds=30)
    close_timeout: PositiveDuration = timedelta(seconds=30)
    emergency_retry: PositiveDuration = timedelta(seconds=10)
    emergency_alert_after: int = Field(3, ge=1, le=1000)
    """Emergency closes the venue may refuse before every notification channel is alerted; the position
    keeps its stop-loss meanwhile and the close is retried every `emergency_retry`."""

    @field_validator("take_profit")
    @classmethod
    def _steps(cls, steps: tuple[TakeProfitStep, ...]) -> tuple[TakeProfitStep, ...]:
        distances = [s.at_pct for s in steps]
        if distances != sorted(set(distances)):
            raise ValueError(f"take-profit distances must be strictly increasing, got {distances}")
        total = sum(s.size_pct for s in steps)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"take-profit sizes must add up to 100 %, got {total:g} %")
        return steps


class SlStreak(_Section):
    losses: int = Field(3, ge=1, le=100)
    """Consecutive stop-loss exits that trigger the pause."""
    pause: Duration = timedelta(minutes=30)


class RiskSection(_Section):
    max_positions: int = Field(5, ge=1, le=200)
    daily_loss_limit_pct: float = Field(3.0, gt=0, le=100)
    """Entries halt for the rest of the UTC day once today's loss reaches this % of the day's start balance."""
    sl_streak: SlStreak = SlStreak()
    max_hold: PositiveDuration = timedelta(minutes=10)
    symbol_cooldown: Duration = timedelta(minutes=5)
    max_drawdown_pct: float | None = Field(None, gt=0, lt=100)
    """Equity hard stop: once equity marked to market (unrealised PnL included) falls this % below its
    running peak, every position is flattened and the bot stays `stopped_out` until `rearm`. Off when
    absent; every shipped profile sets it."""
    min_equity: Decimal | None = Field(None, gt=0, le=Decimal(10**12))
    """Equity hard stop on an absolute floor: equity at or below this stops the bot the same way."""

    @field_validator("max_drawdown_pct", "min_equity", mode="before")
    @classmethod
    def _optional_numbers_are_not_booleans(cls, value: object) -> object:
        # (refuse_booleans sees `float | None`, not a number type: the optional limits say it themselves)
        if isinstance(value, bool):
            raise PydanticCustomError("number_type", "expected a number, not a boolean (got {value})",
                                      {"value": str(value).lower()})
        return value


class RuntimeSection(_Section):
    state_dir: str = "state"
    """Runtime data folder; the profile's own data lives in `<state_dir>/<profile name>/`."""
    machine: str = "machines/position.yaml"
    tick: PositiveDuration = timedelta(seconds=10)
    status_every: PositiveDuration = timedelta(seconds=60)
    reconcile_every: PositiveDuration = timedelta(seconds=60)
    """Testnet/live and paper on live data: full reconciliation with the venue this often."""
    close_on_shutdown: StrictBool = True  # `1` or "yes" for a switch is a typo, never a setting
    """Ctrl+C / SIGTERM: close open positions (true) or leave them protected by their stop-loss."""
    snapshot_fsync: Literal["always", "checkpoint"] = "checkpoint"
    """The journal is always fsync'd; this sets whether every snapshot write is too (see README)."""


class NotificationsSection(_Section):
    urls_env: str = Field("ENGINE_APPRISE_URLS", pattern=ENV_NAME)
    """Environment variable holding apprise URLs (comma separated)."""
    min_interval: Duration = timedelta(seconds=5)
    """At most one message per interval; events arriving meanwhile are sent as one summary."""
    send_timeout: PositiveDuration = timedelta(seconds=10)
    """A delivery that takes longer is abandoned (and logged); trading never waits for it."""
    max_queue: int = Field(1000, ge=1, le=100_000)
    """Events waiting for delivery beyond this are dropped, oldest first (and counted)."""


class TelegramSection(_Section):
    enabled: StrictBool = False
    token_env: str = Field("TELEGRAM_BOT_TOKEN", pattern=ENV_NAME)
    allowed_chat_ids: tuple[int, ...] = ()
    allowed_user_ids: tuple[int, ...] = ()
    """When set, the sender must also be one of these users (for group chats); empty: any member of an
    allowed chat (in a private chat the user is the chat)."""
    api_base_url: str = Field("https://api.telegram.org/bot", pattern=r"^https?://\S+$")
    """Bot API endpoint; the token is appended (or put where `{token}` is). A local Bot API server or a
    test double on 127.0.0.1 goes here; under ENGINE_OFFLINE only 127.0.0.1 / localhost is contacted."""
    confirm_timeout: PositiveDuration = timedelta(seconds=30)
    """How long the confirmation buttons of /panic and /close stay valid."""
    poll_timeout: Duration = timedelta(seconds=10)
    """Long-poll timeout of getUpdates."""

    @model_validator(mode="after")
    def _allow_list(self) -> Self:
        if self.enabled and not self.allowed_chat_ids:
            raise ValueError("telegram is enabled but allowed_chat_ids is empty: nobody could control the bot")
        return self


class Profile(_Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    mode: Literal["paper", "testnet", "live"] = "paper"
    venue: VenueSection = VenueSection()
    universe: UniverseSection = UniverseSection()
    strategy: ScalpingParams = ScalpingParams()
    orders: OrdersSection = OrdersSection()
    risk: RiskSection = RiskSection()
    runtime: RuntimeSection = RuntimeSection()
    notifications: NotificationsSection = NotificationsSection()
    telegram: TelegramSection = TelegramSection()

    @model_validator(mode="after")
    def _strategy_candles(self) -> Self:
        # The strategy learns the length of its candles from the venue's timeframe (the higher-timeframe
        # filter groups them); the model is frozen, so the validated copy replaces the parsed one.
        try:
            strategy = self.strategy.with_candle_ms(_TIMEFRAME_MS[self.venue.timeframe])
        except ValueError as exc:
            raise cross_field_error("strategy", f"{exc} (venue.timeframe)") from None
        object.__setattr__(self, "strategy", strategy)
        return self

    def param(self, dotted: str) -> object:
        """The value at `section.key` (what a machine's `timeout.after` names). Raises KeyError."""
        node: object = self
        for part in dotted.split("."):
            if not isinstance(node, BaseModel) or part not in type(node).model_fields:
                raise KeyError(dotted)
            node = getattr(node, part)
        return node
