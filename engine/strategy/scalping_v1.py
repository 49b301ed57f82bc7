"""ScalpingV1: EMA cross (or MACD histogram flip) confirmed by RSI / MACD / trend, ATR-filtered.

Two entry points, one rule:
* `signals_frame(candles, params)` — the backtest: every candle of a history at once.
* `ScalpingV1.on_candle(symbol, window)` — live: called once per closed candle with a window of
  the latest candles; returns that candle's Signal.

How the live path equals the backtest exactly: on the first call for a symbol (or when the window no
longer overlaps what it saw, e.g. after a gap) the strategy runs the vectorised code on the window
and keeps the indicators' recursion state; on later calls it advances that state over the new candles
only (see `indicators.IndicatorState`). The result is bit-identical to `signals_frame` computed on a
history that starts at the first candle of that seed window. A live instance seeded later than a
backtest starts (e.g. after a restart) differs from it only through the EMA/RSI/ATR seeds, a gap
that shrinks by (1 - alpha) per candle; use a seed window of several times `warmup_candles` (150
candles is ample for the defaults).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.strategy.filters import FilterState, filter_columns
from engine.strategy.indicators import (
    IndicatorState,
    Smoothings,
    indicator_columns,
    validate_candles,
)
from engine.strategy.params import ScalpingParams
from engine.strategy.signal import DECISION_INPUTS, Side, Signal, build_signal, decide

_SIDE_NAMES = np.array([Side.SHORT.value, Side.NONE.value, Side.LONG.value], dtype=object)


def _columns(candles: pd.DataFrame, params: ScalpingParams, with_state: bool) -> dict[str, np.ndarray]:
    ind = indicator_columns(
        candles["high"].to_numpy(np.float64),
        candles["low"].to_numpy(np.float64),
        candles["close"].to_numpy(np.float64),
        params,
        with_state=with_state,
    )
    ind.update(filter_columns(candles.index.to_numpy(), ind["close"], ind["atr_pct"], params))
    warm = np.arange(len(candles)) >= params.warmup_candles
    ind.update(decide(ind, warm, params))
    return ind


def signals_frame(candles: pd.DataFrame, params: ScalpingParams) -> pd.DataFrame:
    """One row per candle (same index): indicators, component votes, gating outcome and side.

    Columns: close, ema_fast, ema_slow, rsi, macd, macd_signal, macd_hist, atr, atr_pct,
    vote_ema, vote_macd, vote_rsi, vote_close_vs_ema_slow, primary_vote, confirming, atr_ok,
    warm, direction (+1/-1/0), side ('long'/'short'/'none'), sl_pct, tp1_pct… (NaN without a side);
    with `htf_trend` on also htf_close, htf_ema, vote_htf_trend, htf_ok, with `vol_regime` on vol_rank
    and vol_ok (engine.strategy.filters).
    A row describes its own closed candle; a backtest must act on it at the next candle at the
    earliest. The first `params.warmup_candles` rows never carry a side.
    Raises ValueError if `candles` is not in the project's candle format.
    """
    validate_candles(candles)
    cols = _columns(candles, params, with_state=False)
    frame = pd.DataFrame(cols, index=candles.index)
    frame["side"] = _SIDE_NAMES[frame["direction"].to_numpy() + 1]
    return frame


def signal_at(frame: pd.DataFrame, position: int, symbol: str, params: ScalpingParams) -> Signal:
    """The Signal of the candle at integer `position` of a `signals_frame` result.

    `params` must be the ones the frame was computed with. Raises IndexError out of range.
    """
    if not -len(frame) <= position < len(frame):
        raise IndexError(f"position {position} outside a frame of {len(frame)} rows")
    position %= len(frame)
    row = {c: frame[c].to_numpy()[position] for c in frame.columns if c != "side"}
    row["candles_seen"] = position + 1
    return build_signal(symbol, int(frame.index[position]), row, params)


def _high_low_close(candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # One conversion of the whole window is ~3x cheaper than three column look-ups on a live tick.
    cols = candles.columns
    try:
        at = [cols.get_loc(name) for name in ("high", "low", "close")]
    except KeyError as exc:
        raise ValueError(f"candles lack column {exc}; expected open, high, low, close, volume") from exc
    values = candles.to_numpy(np.float64)
    return values[:, at[0]], values[:, at[1]], values[:, at[2]]


class ScalpingV1:
    """The live face of the strategy: one Signal per closed candle per symbol, never an order.

    Keeps, per symbol, the indicator state of the last candle seen. Not thread-safe; one instance
    per event loop.
    """

    name = "scalping_v1"

    def __init__(self, params: ScalpingParams | None = None) -> None:
        self.params = params if params is not None else ScalpingParams()
        self._smoothings = Smoothings.of(self.params)
        self._states: dict[str, IndicatorState] = {}
        self._filters: dict[str, FilterState] = {}
        self._last: dict[str, Signal] = {}

    def reset(self, symbol: str | None = None) -> None:
        """Forget the carried state of `symbol` (or of every symbol); the next call re-seeds."""
        for store in (self._states, self._filters, self._last):
            if symbol is None:
                store.clear()
            else:
                store.pop(symbol, None)

    def on_candle(self, symbol: str, candles: pd.DataFrame) -> Signal:
        """The Signal of the last candle of `candles`, the latest closed candles of `symbol`.

        The window must end with a closed candle and, on a first call, hold at least
        `params.warmup_candles + 1` candles for a non-warm-up answer (fewer give side none).
        Calling again with the same last candle returns the same Signal. If the window still
        holds the last candle seen, only the candles after it are computed; otherwise (first call,
        gap longer than the window, or that candle's close changed) the state is rebuilt from the
        window. Raises ValueError for a malformed window or one ending before the last candle seen.
        """
        if len(candles) == 0:
            raise ValueError(f"{symbol}: empty candle window")
        if candles.index.dtype != np.int64:
            raise ValueError(f"{symbol}: candle index must be int64 open times, not {candles.index.dtype}")
        times = candles.index.to_numpy()
        state = self._states.get(symbol)
        if state is not None:
            if times[-1] < state.open_time_ms:
                raise ValueError(
                    f"{symbol}: window ends at {int(times[-1])}, before the last candle seen "
                    f"({state.open_time_ms}); call reset() to replay history"
                )
            pos = int(np.searchsorted(times, state.open_time_ms))
            high, low, close = _high_low_close(candles)
            if pos < len(times) and times[pos] == state.open_time_ms and close[pos] == state.close:
                if pos == len(times) - 1:
                    return self._last[symbol]
                return self._advance(symbol, times, high, low, close, pos + 1)
        return self._seed(symbol, candles)

    def _seed(self, symbol: str, candles: pd.DataFrame) -> Signal:
        self.reset(symbol)
        validate_candles(candles)
        p = self.params
        enough = len(candles) >= p.warmup_candles + 1
        cols = _columns(candles, p, with_state=enough)
        row = {k: v[-1] for k, v in cols.items()}
        row["candles_seen"] = len(candles)
        signal = build_signal(symbol, int(candles.index[-1]), row, p)
        if enough:  # only a fully defined state can be advanced exactly
            self._states[symbol] = IndicatorState.from_columns(cols, len(candles) - 1, int(candles.index[-1]))
            self._filters[symbol] = FilterState.seed(candles.index.to_numpy(), cols["close"], cols, p)
            self._last[symbol] = signal
        return signal

    def _advance(
        self, symbol: str, times: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, start: int
    ) -> Signal:
        state, filters = self._states[symbol], self._filters[symbol]
        new = slice(start, len(times))
        if not all(np.isfinite(column[new]).all() for column in (high, low, close)):
            raise ValueError(f"{symbol}: NaN or infinite prices in the new candles")
        prev = state.row()
        for i in range(start, len(times)):
            prev = state.row()  # the candle before the last one, for cross detection
            state.advance(self._smoothings, int(times[i]), float(high[i]), float(low[i]), float(close[i]))
            filters.advance(self._smoothings, state.open_time_ms, state.close, state.atr_pct)
        cur = state.row() | filters.row()
        # The same decision code as the backtest, on the last two candles (the filters read the last only).
        ind = {k: np.array((prev[k], cur[k])) for k in DECISION_INPUTS}
        ind.update({k: np.array((v, v)) for k, v in filters.row().items()})
        warm = np.array(
            (
                state.candles_seen - 1 > self.params.warmup_candles,
                state.candles_seen - 1 >= self.params.warmup_candles,
            )
        )
        decided = decide(ind, warm, self.params)
        row: dict[str, object] = {k: v[1] for k, v in decided.items()}
        row.update(cur)
        row["candles_seen"] = state.candles_seen
        signal = build_signal(symbol, state.open_time_ms, row, self.params)
        self._last[symbol] = signal
        return signal
