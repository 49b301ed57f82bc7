"""Parameters of the ScalpingV1 strategy, as the profile YAML embeds them under `strategy:`.

The model refuses unknown keys and values out of range at load time, with pydantic's message naming
the field; cross-field rules (fast period below slow period, RSI thresholds around the midline, a
confirmation count the listed confirmations can reach) are checked by one validator each.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator, model_validator

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


class ScalpingParams(BaseModel):
    """Every tunable of ScalpingV1. Defaults are a conventional 5m scalping set-up."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

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

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: object, info: ValidationInfo) -> object:
        return refuse_booleans(cls, value, info)

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
    def warmup_candles(self) -> int:
        """Candles before the first one that may carry a signal (row `warmup_candles` is the first).

        Every indicator and the previous candle's values (needed to detect a cross) are defined
        from that row on: EMA slow at `ema_slow - 1`, MACD signal at `macd_slow + macd_signal - 2`,
        ATR at `atr_period - 1` (SMA-seeded like TA-Lib), RSI is given `rsi_period` candles.
        """
        return max(self.ema_slow, self.macd_slow + self.macd_signal - 1, self.rsi_period, self.atr_period)
