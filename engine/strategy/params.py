"""Parameters of the ScalpingV1 strategy, as the profile YAML embeds them under `strategy:`.

The model refuses unknown keys and values out of range at load time, with pydantic's message naming
the field; cross-field rules (fast period below slow period, RSI thresholds around the midline, a
confirmation count the listed confirmations can reach) are checked by one validator each.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from engine.config.numbers import cross_field_error, refuse_booleans


class PrimaryTrigger(StrEnum):
    """The event that can open a signal on the last closed candle."""

    EMA_CROSS = "ema_cross"  # EMA fast crosses EMA slow
    MACD_CROSS = "macd_cross"  # MACD histogram changes sign (MACD line crosses its signal line)


class Confirmation(StrEnum):
    """Components that may confirm a primary trigger (each votes +1 long, -1 short or 0)."""

    EMA = "ema"  # EMA fast above (+1) / below (-1) EMA slow; only with the MACD trigger
    MACD = "macd"  # MACD histogram above (+1) / below (-1) zero; only with the EMA trigger
    RSI = "rsi"  # RSI on the trigger's side of the midline but not beyond the extreme threshold
    CLOSE_VS_EMA_SLOW = "close_vs_ema_slow"  # close above (+1) / below (-1) EMA slow


# Confirmations that cannot disagree with a trigger, so they would make the gating a formality.
# EMA cross: the component itself, and close vs EMA slow, because both EMAs move toward the close
# and the faster one moves more, so the fast EMA can only overtake the slow one when the close is
# beyond the slow EMA (measured: 100% agreement on 2025 BTC/DOGE/ZEC 5m crosses).
_TAUTOLOGICAL = {
    PrimaryTrigger.EMA_CROSS: (Confirmation.EMA, Confirmation.CLOSE_VS_EMA_SLOW),
    PrimaryTrigger.MACD_CROSS: (Confirmation.MACD,),
}


MINUTE_MS = 60_000
HTF_TIMEFRAME_MS = {"15m": 15 * MINUTE_MS, "30m": 30 * MINUTE_MS, "1h": 60 * MINUTE_MS, "2h": 120 * MINUTE_MS,
                    "4h": 240 * MINUTE_MS, "6h": 360 * MINUTE_MS, "12h": 720 * MINUTE_MS, "1d": 1440 * MINUTE_MS}
DEFAULT_CANDLE_MS = 5 * MINUTE_MS  # the profile's `venue.timeframe` default; a profile sets its own


class _Strict(BaseModel):
    """Unknown keys, infinities and booleans given for numbers are refused (as in the profile's sections)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: object, info: ValidationInfo) -> object:
        return refuse_booleans(cls, value, info)


class HtfTrend(_Strict):
    """Higher-timeframe trend filter: longs only while the close of the last *closed* `timeframe`
    candle is above its EMA, shorts only while it is below. The higher-timeframe candles are the
    strategy's own candles grouped into UTC-aligned buckets; the bucket still open never counts."""

    enabled: StrictBool = False
    timeframe: Literal["15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"] = "1h"
    """Length of the higher-timeframe candle; a whole multiple of the profile's `venue.timeframe`."""
    ema: int = Field(50, ge=2, le=400)
    """Period of the EMA of higher-timeframe closes (in higher-timeframe candles)."""


class VolRegime(_Strict):
    """Volatility regime filter: a signal only while the percentile rank of the current ATR % among
    the last `window` candles' ATR % (the current one included) lies inside [min_pct, max_pct]."""

    enabled: StrictBool = False
    window: int = Field(288, ge=10, le=10_000)
    """Candles in the rolling window (288 = one day of 5m candles)."""
    min_pct: float = Field(20.0, ge=0.0, lt=100.0)
    """Lowest percentile rank allowed (0 = no lower bound)."""
    max_pct: float = Field(80.0, gt=0.0, le=100.0)
    """Highest percentile rank allowed (100 = no upper bound)."""

    @model_validator(mode="after")
    def _band(self) -> Self:
        if self.min_pct >= self.max_pct:
            raise cross_field_error("min_pct", f"min_pct ({self.min_pct:g}) must be below max_pct ({self.max_pct:g})")
        return self


class ScalpingParams(_Strict):
    """Every tunable of ScalpingV1. Defaults are a conventional 5m scalping set-up."""

    ema_fast: int = Field(9, ge=2, le=200)
    """Period of the fast EMA of closes (candles). Must be below `ema_slow`."""
    ema_slow: int = Field(21, ge=3, le=400)
    """Period of the slow EMA of closes (candles)."""

    rsi_period: int = Field(14, ge=2, le=100)
    """Period of Wilder's RSI (candles)."""
    rsi_midline: float = Field(50.0, gt=0.0, lt=100.0)
    """RSI above the midline confirms longs, below it confirms shorts."""
    rsi_long_max: float = Field(70.0, gt=0.0, le=100.0)
    """Overbought: above this RSI a long is no longer confirmed (too late to chase)."""
    rsi_short_min: float = Field(30.0, ge=0.0, lt=100.0)
    """Oversold: below this RSI a short is no longer confirmed."""

    macd_fast: int = Field(12, ge=2, le=200)
    """Period of the MACD fast EMA (candles). Must be below `macd_slow`."""
    macd_slow: int = Field(26, ge=3, le=400)
    """Period of the MACD slow EMA (candles)."""
    macd_signal: int = Field(9, ge=2, le=200)
    """Period of the EMA of the MACD line (the signal line)."""

    atr_period: int = Field(14, ge=2, le=200)
    """Period of Wilder's ATR (candles)."""
    atr_pct_min: float = Field(0.05, ge=0.0, le=100.0)
    """No signal while ATR is below this % of the close: too quiet to pay fees."""
    atr_pct_max: float = Field(2.0, gt=0.0, le=100.0)
    """No signal while ATR is above this % of the close: too wild for scalping stops."""

    atr_scaled_exits: StrictBool = True
    """When true, signals carry stop-loss and take-profit distances derived from ATR."""
    atr_sl_mult: float = Field(1.5, gt=0.0, le=50.0)
    """Stop-loss distance = this many ATRs (as % of the close)."""
    atr_tp_mults: tuple[float, ...] = Field((1.0, 2.0, 3.0), min_length=1, max_length=10)
    """Take-profit steps, each this many ATRs from entry; strictly increasing, all positive."""

    primary_trigger: PrimaryTrigger = PrimaryTrigger.EMA_CROSS
    """Which event triggers a signal: `ema_cross` or `macd_cross`."""
    confirmations: tuple[Confirmation, ...] = Field((Confirmation.RSI, Confirmation.MACD), min_length=1)
    """Components that may confirm the trigger. Refused: the trigger's own component, and
    `close_vs_ema_slow` with `ema_cross` (a cross implies it, so it would confirm every cross)."""
    min_confirmations: int = Field(1, ge=1, le=3)
    """How many of `confirmations` must vote with the trigger (1 = "1+1 gating")."""

    htf_trend: HtfTrend = HtfTrend()
    """Higher-timeframe trend filter (off unless `enabled: true`)."""
    vol_regime: VolRegime = VolRegime()
    """Volatility regime filter (off unless `enabled: true`)."""

    # The length of the strategy's own candles, which the higher-timeframe filter groups. Not a YAML
    # key: the profile sets it from `venue.timeframe` (`with_candle_ms`), so the two cannot disagree.
    _candle_ms: int = PrivateAttr(DEFAULT_CANDLE_MS)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.ema_fast >= self.ema_slow:
            raise cross_field_error("ema_fast", f"ema_fast ({self.ema_fast}) must be below ema_slow ({self.ema_slow})")
        if self.macd_fast >= self.macd_slow:
            raise cross_field_error("macd_fast",
                                    f"macd_fast ({self.macd_fast}) must be below macd_slow ({self.macd_slow})")
        if not self.rsi_short_min < self.rsi_midline < self.rsi_long_max:
            raise cross_field_error(
                "rsi_midline",
                f"RSI thresholds must satisfy rsi_short_min < rsi_midline < rsi_long_max, got "
                f"{self.rsi_short_min} < {self.rsi_midline} < {self.rsi_long_max}"
            )
        if self.atr_pct_min >= self.atr_pct_max:
            raise cross_field_error(
                "atr_pct_min", f"atr_pct_min ({self.atr_pct_min}) must be below atr_pct_max ({self.atr_pct_max})"
            )
        mults = self.atr_tp_mults
        if any(m <= 0 for m in mults) or any(b <= a for a, b in zip(mults, mults[1:], strict=False)):
            raise cross_field_error("atr_tp_mults",
                                    f"atr_tp_mults must be positive and strictly increasing, got {list(mults)}")
        if len(set(self.confirmations)) != len(self.confirmations):
            names = [c.value for c in self.confirmations]
            raise cross_field_error("confirmations", f"confirmations lists a component twice: {names}")
        for same in _TAUTOLOGICAL[self.primary_trigger]:
            if same in self.confirmations:
                raise cross_field_error(
                    "confirmations",
                    f"confirmation '{same.value}' cannot confirm primary_trigger "
                    f"'{self.primary_trigger.value}': it always agrees with it"
                )
        if self.min_confirmations > len(self.confirmations):
            raise cross_field_error(
                "min_confirmations",
                f"min_confirmations ({self.min_confirmations}) exceeds the {len(self.confirmations)} "
                "confirmations listed"
            )
        return self

    @property
    def candle_ms(self) -> int:
        """Length of one of the strategy's candles in ms (5m unless `with_candle_ms` said otherwise)."""
        return self._candle_ms

    def with_candle_ms(self, candle_ms: int) -> ScalpingParams:
        """A copy for candles of `candle_ms`. Raises ValueError when the higher-timeframe filter is on
        and its timeframe is not a whole multiple (at least 2) of that length."""
        if self.htf_trend.enabled:
            htf = HTF_TIMEFRAME_MS[self.htf_trend.timeframe]
            if htf % candle_ms or htf // candle_ms < 2:
                raise ValueError(f"htf_trend.timeframe {self.htf_trend.timeframe} must be a whole multiple "
                                 f"(2 or more) of the candles' {candle_ms // MINUTE_MS}m")
        copy = self.model_copy()
        copy._candle_ms = candle_ms
        return copy

    @property
    def htf_candles(self) -> int:
        """How many of the strategy's candles make one higher-timeframe candle."""
        return HTF_TIMEFRAME_MS[self.htf_trend.timeframe] // self._candle_ms

    @property
    def warmup_candles(self) -> int:
        """Candles before the first one that may carry a signal (row `warmup_candles` is the first).

        Every indicator and the previous candle's values (needed to detect a cross) are defined
        from that row on: EMA slow at `ema_slow - 1`, MACD signal at `macd_slow + macd_signal - 2`,
        ATR at `atr_period - 1` (SMA-seeded like TA-Lib), RSI is given `rsi_period` candles. The filters
        that are on add theirs: the higher-timeframe EMA needs `ema` closed higher-timeframe candles (at
        most `ema * htf_candles` candles from any start), the volatility rank `window` defined ATRs.
        """
        needs = [self.ema_slow, self.macd_slow + self.macd_signal - 1, self.rsi_period, self.atr_period]
        if self.htf_trend.enabled:
            needs.append(self.htf_trend.ema * self.htf_candles)
        if self.vol_regime.enabled:
            needs.append(self.atr_period + self.vol_regime.window - 1)
        return max(needs)
