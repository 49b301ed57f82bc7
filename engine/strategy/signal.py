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
  way, the ATR filter passes (ATR% of close inside [atr_pct_min, atr_pct_max]), the optional filters
  that are on pass (`htf_trend`: the last closed higher-timeframe candle's close is on the trigger's
  side of its EMA; `vol_regime`: the ATR % rank is inside its band; see engine.strategy.filters) and
  the history is past warm-up. Opposing confirmations do not veto; they simply do not count. The
  breakdown lists every filter with `veto` set on the ones that blocked the candidate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import numpy as np

from engine.strategy.params import Confirmation, PrimaryTrigger, ScalpingParams
from engine.values import value


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"
    NONE = "none"


class Role(StrEnum):
    PRIMARY = "primary"
    CONFIRMATION = "confirmation"
    FILTER = "filter"


@value
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


@value
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
FILTER_OK = ("htf_ok", "vol_ok")  # the optional filters' verdicts, present when the filter is on


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
    filters = _filter_outcomes(ind, primary, p)
    allowed = atr_ok
    for name in FILTER_OK:
        if name in filters:
            allowed = allowed & filters[name]
    fire = warm & allowed & (primary != 0) & (confirming >= p.min_confirmations)
    direction = np.where(fire, primary, 0).astype(np.int8)

    out = {VOTE_COLUMNS[k]: v for k, v in votes.items()}
    out.update(primary_vote=primary, confirming=confirming, atr_ok=atr_ok, warm=warm, direction=direction)
    out.update(filters)
    scaled = fire if p.atr_scaled_exits else np.zeros_like(fire)
    out["sl_pct"] = np.where(scaled, atr_pct * p.atr_sl_mult, np.nan)
    for k, mult in enumerate(p.atr_tp_mults, start=1):
        out[f"tp{k}_pct"] = np.where(scaled, atr_pct * mult, np.nan)
    return out


def _filter_outcomes(ind: Mapping[str, np.ndarray], primary: np.ndarray, p: ScalpingParams) -> dict[str, np.ndarray]:
    """The optional filters' votes and verdicts: `vote_htf_trend` (+1 above the EMA, -1 below, 0 when
    undefined) and `htf_ok` (it votes with the trigger); `vol_ok` (the ATR rank inside the band)."""
    out: dict[str, np.ndarray] = {}
    if p.htf_trend.enabled:
        close, ema = ind["htf_close"], ind["htf_ema"]
        out["vote_htf_trend"] = _vote(close > ema, close < ema)
        out["htf_ok"] = out["vote_htf_trend"] == primary
    if p.vol_regime.enabled:
        rank = ind["vol_rank"]
        out["vol_ok"] = (rank >= p.vol_regime.min_pct) & (rank <= p.vol_regime.max_pct)
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}"


_COMPONENT_COLUMNS = {
    "ema": ("ema_fast", "ema_slow"),
    "macd": ("macd", "macd_signal", "macd_hist"),
    "rsi": ("rsi",),
    "close_vs_ema_slow": ("close", "ema_slow"),
    "atr": ("atr", "atr_pct"),
    "htf_trend": ("htf_close", "htf_ema"),
    "vol_regime": ("vol_rank",),
}


def _component_value(component: str, row: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    return tuple([(n, float(row[n])) for n in _COMPONENT_COLUMNS[component]])


_DIRECTION_WORD = {1: "long", -1: "short", 0: "neutral"}
_SIDE_OF = {1: Side.LONG, -1: Side.SHORT, 0: Side.NONE}


def _trigger_text(p: ScalpingParams, vote: int) -> str:
    if p.primary_trigger is PrimaryTrigger.EMA_CROSS:
        ema = f"EMA{p.ema_fast}/EMA{p.ema_slow}"
        return f"{ema} crossed up" if vote > 0 else f"{ema} crossed down" if vote < 0 else f"no {ema} cross"
    return _MACD_TEXT[vote]


_MACD_TEXT = {
    1: "MACD histogram turned positive",
    -1: "MACD histogram turned negative",
    0: "no MACD histogram sign change",
}


def _filter_texts(row: Mapping[str, Any], primary_vote: int, p: ScalpingParams) -> list[tuple[str, bool, str]]:
    """(component, passed, one-line description) of each optional filter that is on."""
    out = []
    if p.htf_trend.enabled:
        h = p.htf_trend
        close, ema, vote = float(row["htf_close"]), float(row["htf_ema"]), int(row["vote_htf_trend"])
        trend = f"{h.timeframe} trend (close {_fmt(close)} vs EMA{h.ema} {_fmt(ema)})"
        if vote == 0:
            text = f"{trend} not defined yet" if math.isnan(ema) or math.isnan(close) else f"{trend} flat"
        else:
            text = f"{trend} {'up' if vote > 0 else 'down'}"
        out.append(("htf_trend", bool(row["htf_ok"]), text))
    if p.vol_regime.enabled:
        v = p.vol_regime
        rank = float(row["vol_rank"])
        band = f"[{v.min_pct:g}%, {v.max_pct:g}%] of the last {v.window} candles"
        text = f"ATR rank {rank:.1f}% in {band}" if bool(row["vol_ok"]) else (
            f"ATR rank not defined yet ({v.window} ATRs needed)" if math.isnan(rank) else
            f"ATR rank {rank:.1f}% outside {band}")
        out.append(("vol_regime", bool(row["vol_ok"]), text))
    return out


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
    filters = _filter_texts(row, primary_vote, p)
    for name, ok, _ in filters:
        vote = int(row["vote_htf_trend"]) if name == "htf_trend" else 0
        breakdown.append(Vote(name, _component_value(name, row), vote, Role.FILTER, veto=not ok))

    side = _SIDE_OF[direction]
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
            reason = "; ".join([f"{side.value}: {trigger}", confirmed, band, *(text for _, _, text in filters)])
        elif len(agreeing) < p.min_confirmations:
            against = [
                f"{v.component} {_DIRECTION_WORD[v.vote]}"
                for v in breakdown
                if v.role is Role.CONFIRMATION and v.vote != primary_vote
            ]
            reason = f"none: {trigger} but {confirmed}: {', '.join(against)}"
        else:
            vetoes = [text for _, ok, text in filters if not ok]
            if not atr_ok:
                where = "below" if atr_pct < p.atr_pct_min else "above" if atr_pct > p.atr_pct_max else "outside"
                vetoes.insert(0, f"{band}, {where} it")
            reason = f"none: {trigger}, {confirmed}, vetoed: {'; '.join(vetoes)}"

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
