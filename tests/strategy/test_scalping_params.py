"""ScalpingParams refuses what cannot work, with a message naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.strategy import Confirmation, PrimaryTrigger, ScalpingParams


def test_defaults_are_valid_and_plain() -> None:
    p = ScalpingParams()
    periods = (p.ema_fast, p.ema_slow, p.rsi_period, p.macd_fast, p.macd_slow, p.macd_signal)
    assert periods == (9, 21, 14, 12, 26, 9)
    assert p.primary_trigger is PrimaryTrigger.EMA_CROSS and p.min_confirmations == 1
    assert p.warmup_candles == 26 + 9 - 1


def test_profile_style_mapping_is_accepted() -> None:
    p = ScalpingParams.model_validate(
        {
            "ema_fast": 5,
            "ema_slow": 13,
            "primary_trigger": "macd_cross",
            "confirmations": ["rsi", "ema"],
            "min_confirmations": 2,
            "atr_tp_mults": [0.8, 1.6],
        }
    )
    assert p.confirmations == (Confirmation.RSI, Confirmation.EMA)
    assert p.atr_tp_mults == (0.8, 1.6)


@pytest.mark.parametrize(("fast", "slow"), [(21, 21), (30, 21)])
def test_ema_fast_must_be_below_ema_slow(fast: int, slow: int) -> None:
    with pytest.raises(ValidationError, match=rf"ema_fast \({fast}\) must be below ema_slow \({slow}\)"):
        ScalpingParams(ema_fast=fast, ema_slow=slow)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"macd_fast": 26, "macd_slow": 12}, r"macd_fast \(26\) must be below macd_slow \(12\)"),
        ({"rsi_long_max": 45.0}, r"rsi_short_min < rsi_midline < rsi_long_max"),
        ({"rsi_short_min": 55.0}, r"rsi_short_min < rsi_midline < rsi_long_max"),
        ({"atr_pct_min": 1.0, "atr_pct_max": 0.5}, r"atr_pct_min \(1.0\) must be below atr_pct_max"),
        ({"atr_tp_mults": (2.0, 1.0)}, r"strictly increasing"),
        ({"confirmations": ("rsi", "rsi")}, r"lists a component twice"),
        ({"confirmations": ("ema", "rsi")}, r"'ema' cannot confirm primary_trigger 'ema_cross'"),
        ({"primary_trigger": "macd_cross"}, r"'macd' cannot confirm primary_trigger 'macd_cross'"),
        ({"confirmations": ("rsi", "close_vs_ema_slow")}, r"'close_vs_ema_slow' cannot .*always agrees"),
        ({"confirmations": ("rsi",), "min_confirmations": 2}, r"min_confirmations \(2\) exceeds the 1"),
    ],
)
def test_inconsistent_values_are_refused_with_a_clear_message(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScalpingParams(**overrides)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ema_fast", 1),
        ("rsi_period", 0),
        ("rsi_long_max", 101.0),
        ("atr_pct_min", -0.1),
        ("atr_sl_mult", 0.0),
        ("min_confirmations", 0),
        ("atr_tp_mults", ()),
        ("primary_trigger", "rsi_cross"),
        ("confirmations", ("volume",)),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as err:
        ScalpingParams(**{field: value})
    assert err.value.errors()[0]["loc"][0] == field


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="ema_fats"):
        ScalpingParams.model_validate({"ema_fats": 9})


def test_params_are_immutable() -> None:
    with pytest.raises(ValidationError):
        ScalpingParams().ema_fast = 5  # type: ignore[misc]
