"""Signals are values: what the strategy thinks of a candle, with every component's vote and why.

`decide` turns indicator arrays into votes and a side. It is the one decision rule: the backtest
applies it to whole histories and the live path applies it to the last two candles, so the two can
differ only if their indicator numbers differ (and tests prove those are bit-identical).

The rule, per candle:
* primary trigger: EMA fast crossing EMA slow on this candle (or the MACD histogram changing sign),
  +1 for a cross up, -1 for a cross down;
* confirmations, each +1 / -1 / 0: RSI on the trigger's side of the midline but not beyond the
  overbought / oversold threshold (chasing an extended move is what a scalper's stop pays for), the
  MACD histogram's sign (or EMA fast vs slow with the MACD trigger), close vs EMA slow (MACD
  trigger only: an EMA cross implies it, see params);
* a side is given when the trigger fires, at least `min_confirmations` confirmations vote the same
  way, the ATR filter passes (ATR% of close inside [atr_pct_min, atr_pct_max]) and the history is
  past warm-up. Opposing confirmations do not veto; they simply do not count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from engine.strategy.params import Confirmation, PrimaryTrigger, ScalpingParams


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"
    NONE = "none"


class Role(StrEnum):
    PRIMARY = "primary"
    CONFIRMATION = "confirmation"
    FILTER = "filter"


@dataclass(frozen=True, slots=True)
class Vote:
    """One component's opinion of a candle: its value(s), its vote (+1 long, -1 short, 0) and role.

    A filter never votes a direction (vote 0); `veto` is true when it blocks the signal.
    """

    component: str
    value: tuple[tuple[str, float], ...]
    vote: int
    role: Role
    veto: bool = False

    def values(self) -> dict[str, float]:
        """The component's values by name, e.g. {'ema_fast': ..., 'ema_slow': ...}."""
        return dict(self.value)


@dataclass(frozen=True, slots=True)
class Signal:
    """What ScalpingV1 says about one closed candle of one symbol. It is never an order.

    `sl_pct` and `tp_pcts` (distances from the price, in % of it) are given only for a long or
    short signal when ATR-scaled exits are enabled; otherwise None.
    """

    symbol: str
    side: Side
    open_time_ms: int
    price: float
    atr_pct: float
    breakdown: tuple[Vote, ...]
    reason: str
    sl_pct: float | None = None
    tp_pcts: tuple[float, ...] | None = None

    def vote(self, component: str) -> Vote:
        """The breakdown entry of `component`; raises KeyError if it took no part."""
        for v in self.breakdown:
            if v.component == component:
                return v
        raise KeyError(f"component {component!r} is not in this signal's breakdown")


VOTE_COLUMNS = {c.value: f"vote_{c.value}" for c in Confirmation}
PRIMARY_COMPONENT = {PrimaryTrigger.EMA_CROSS: "ema", PrimaryTrigger.MACD_CROSS: "macd"}
DECISION_INPUTS = ("close", "ema_fast", "ema_slow", "macd_hist", "rsi", "atr_pct")


def _vote(up: np.ndarray, down: np.ndarray) -> np.ndarray:
    return up.astype(np.int8) - down.astype(np.int8)


def decide(ind: Mapping[str, np.ndarray], warm: np.ndarray, p: ScalpingParams) -> dict[str, np.ndarray]:
    """Votes and side for every candle of `ind` (arrays named like DECISION_INPUTS, same length).

    A candle's cross votes compare it with the previous element, so the first element never
    crosses. `warm` marks the candles past warm-up. Returns int8 arrays `vote_<component>`,
    `primary_vote`, `confirming` (confirmations agreeing with the trigger), `direction`
    (+1 long, -1 short, 0 none), bool `atr_ok` and `warm`, and float `sl_pct`, `tp<k>_pct`
    (NaN where there is no side or ATR-scaled exits are off). NaN inputs vote 0.
    """
    fast, slow, hist = ind["ema_fast"], ind["ema_slow"], ind["macd_hist"]
    rsi, close, atr_pct = ind["rsi"], ind["close"], ind["atr_pct"]
    prev_fast = np.concatenate(([np.nan], fast[:-1]))
    prev_slow = np.concatenate(([np.nan], slow[:-1]))
    prev_hist = np.concatenate(([np.nan], hist[:-1]))

    if p.primary_trigger is PrimaryTrigger.EMA_CROSS:
        vote_ema = _vote((fast > slow) & (prev_fast <= prev_slow), (fast < slow) & (prev_fast >= prev_slow))
        vote_macd = _vote(hist > 0, hist < 0)
        primary = vote_ema
    else:
        vote_ema = _vote(fast > slow, fast < slow)
        vote_macd = _vote((hist > 0) & (prev_hist <= 0), (hist < 0) & (prev_hist >= 0))
        primary = vote_macd
    votes = {
        "ema": vote_ema,
        "macd": vote_macd,
        "rsi": _vote(
            (rsi > p.rsi_midline) & (rsi <= p.rsi_long_max), (rsi < p.rsi_midline) & (rsi >= p.rsi_short_min)
        ),
        "close_vs_ema_slow": _vote(close > slow, close < slow),
    }
    confirming = np.zeros(len(primary), dtype=np.int8)
    for c in p.confirmations:
        confirming += (votes[c.value] == primary) & (primary != 0)
    atr_ok = (atr_pct >= p.atr_pct_min) & (atr_pct <= p.atr_pct_max)
    fire = warm & atr_ok & (primary != 0) & (confirming >= p.min_confirmations)
    direction = np.where(fire, primary, 0).astype(np.int8)

    out = {VOTE_COLUMNS[k]: v for k, v in votes.items()}
    out.update(primary_vote=primary, confirming=confirming, atr_ok=atr_ok, warm=warm, direction=direction)
    scaled = fire if p.atr_scaled_exits else np.zeros_like(fire)
    out["sl_pct"] = np.where(scaled, atr_pct * p.atr_sl_mult, np.nan)
    for k, mult in enumerate(p.atr_tp_mults, start=1):
        out[f"tp{k}_pct"] = np.where(scaled, atr_pct * mult, np.nan)
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _component_value(component: str, row: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    names = {
        "ema": ("ema_fast", "ema_slow"),
        "macd": ("macd", "macd_signal", "macd_hist"),
        "rsi": ("rsi",),
        "close_vs_ema_slow": ("close", "ema_slow"),
        "atr": ("atr", "atr_pct"),
    }[component]
    return tuple((n, float(row[n])) for n in names)


_DIRECTION_WORD = {1: "long", -1: "short", 0: "neutral"}


def _trigger_text(p: ScalpingParams, vote: int) -> str:
    if p.primary_trigger is PrimaryTrigger.EMA_CROSS:
        ema = f"EMA{p.ema_fast}/EMA{p.ema_slow}"
        return {1: f"{ema} crossed up", -1: f"{ema} crossed down", 0: f"no {ema} cross"}[vote]
    return {
        1: "MACD histogram turned positive",
        -1: "MACD histogram turned negative",
        0: "no MACD histogram sign change",
    }[vote]


def build_signal(symbol: str, open_time_ms: int, row: Mapping[str, Any], p: ScalpingParams) -> Signal:
    """The Signal of one candle from its indicator values and `decide` outputs (scalars by name).

    `row` also needs `candles_seen` (1-based position in the history) for the warm-up message.
    The reason is one line: the side, the trigger, which confirmations agreed, and the ATR filter.
    """
    primary_component = PRIMARY_COMPONENT[p.primary_trigger]
    primary_vote = int(row["primary_vote"])
    direction = int(row["direction"])
    atr_pct = float(row["atr_pct"])
    atr_ok = bool(row["atr_ok"])

    breakdown = [
        Vote(
            primary_component,
            _component_value(primary_component, row),
            int(row[VOTE_COLUMNS[primary_component]]),
            Role.PRIMARY,
        )
    ]
    for c in p.confirmations:
        breakdown.append(
            Vote(c.value, _component_value(c.value, row), int(row[VOTE_COLUMNS[c.value]]), Role.CONFIRMATION)
        )
    breakdown.append(Vote("atr", _component_value("atr", row), 0, Role.FILTER, veto=not atr_ok))

    side = {1: Side.LONG, -1: Side.SHORT, 0: Side.NONE}[direction]
    band = f"ATR {atr_pct:.3f}% of price, band [{p.atr_pct_min:g}%, {p.atr_pct_max:g}%]"
    agreeing = [v.component for v in breakdown if v.role is Role.CONFIRMATION and v.vote == primary_vote]
    if not bool(row["warm"]):
        reason = f"none: warming up ({int(row['candles_seen'])} of {p.warmup_candles + 1} candles)"
    elif primary_vote == 0:
        reason = f"none: {_trigger_text(p, 0)}"
    else:
        trigger = f"{_trigger_text(p, primary_vote)} ({_DIRECTION_WORD[primary_vote]})"
        confirmed = (f"confirmed by {', '.join(agreeing)}" if agreeing else "no confirmation") + (
            f" ({len(agreeing)}, need {p.min_confirmations})"
        )
        if direction != 0:
            reason = f"{side.value}: {trigger}; {confirmed}; {band}"
        elif len(agreeing) < p.min_confirmations:
            against = [
                f"{v.component} {_DIRECTION_WORD[v.vote]}"
                for v in breakdown
                if v.role is Role.CONFIRMATION and v.vote != primary_vote
            ]
            reason = f"none: {trigger} but {confirmed}: {', '.join(against)}"
        else:
            where = "below" if atr_pct < p.atr_pct_min else "above" if atr_pct > p.atr_pct_max else "outside"
            reason = f"none: {trigger}, {confirmed}, vetoed: {band}, {where} it"

    sl_pct = tp_pcts = None
    if direction != 0 and p.atr_scaled_exits:
        sl_pct = float(row["sl_pct"])
        tp_pcts = tuple(float(row[f"tp{k}_pct"]) for k in range(1, len(p.atr_tp_mults) + 1))
    return Signal(
        symbol,
        side,
        int(open_time_ms),
        float(row["close"]),
        atr_pct,
        tuple(breakdown),
        reason,
        sl_pct,
        tp_pcts,
    )
