"""The event-skipping backtest loop: only the candles at which something can happen cost anything.

The candle-by-candle loop (engine.run.driver, as paper runs it) feeds every symbol's every candle to the
simulated venue, fires due deadlines and runs the bot machine's checks at each. Most of those steps
change nothing: a symbol with no order and no position only has its last price noted, and a position
whose stop and take-profits the candle does not reach only has its mark moved. This loop asks, after
each step it works, where the next step that can change anything lies, and jumps there:

- a signal of any symbol (the strategy's vectorised signals are known in advance), the first candle of a
  UTC day (the daily loss limit rolls), a rotation of the universe, a position's or the bot's deadline;
- for every book with orders or a position, the first candle whose range reaches one of its trigger
  prices (the simulator's own `fall_max` / `rise_min`) or a funding time: a vectorised search over the
  high and low arrays;
- with the equity hard stop on, the first candle at which the equity marked to market (the wallets plus
  every open position at that candle's close) could reach a new peak or the stop: the running peak and
  the stop are the only things the per-candle check records or acts on, so a span in which the equity
  stays strictly between them (with a margin far wider than float error) needs no check at all.

The steps it works run exactly the code the candle-by-candle loop runs (`CandleDriver.step`: the venue,
the machine, the executor, the durable book), with the symbols that can be changed; before a step, every
book with a position is marked with its symbol's latest close so the equity read there is the one the
candle-by-candle loop would read. tests/e2e/test_event_skipping.py proves the two loops give the same
trades, journal and balances.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.clock import to_ms
from engine.machine.tags import Tag
from engine.market.candles import Row
from engine.market.universe import DAY_MS
from engine.run.driver import CandleDriver

NO_STEP = np.iinfo(np.int64).max
# Equity this close to the peak or to the stop (relative) is checked candle by candle: float marks carry
# ~1e-12 of relative error, the check's Decimal arithmetic none.
EQUITY_MARGIN = 1e-7


@dataclass
class CandleGrid:
    """Every symbol's candles on one time axis: step k is the k-th distinct open time of the run."""

    symbols: list[str]
    times: np.ndarray  # int64 open times of the steps
    values: list[np.ndarray]  # per symbol, its own (n_s, 5) open/high/low/close/volume rows
    row_of: np.ndarray  # (n, S) int32: the symbol's row at step k, -1 where it has no candle
    high: np.ndarray  # (n, S) float64, NaN where the symbol has no candle
    low: np.ndarray
    last_row: np.ndarray  # (n, S) int32: the symbol's latest row at or before step k, -1 before its first
    # `times` as Python ints: the loop looks one time up per deadline per step, and bisect on a list costs a
    # tenth of numpy's searchsorted on a scalar
    _times: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._times = self.times.tolist()

    @classmethod
    def build(cls, candles: dict[str, pd.DataFrame]) -> CandleGrid:
        symbols = list(candles)
        own = [frame.index.to_numpy(dtype=np.int64) for frame in candles.values()]
        times = np.unique(np.concatenate(own)) if own else np.zeros(0, dtype=np.int64)
        n, count = len(times), len(symbols)
        values = [frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
                  for frame in candles.values()]
        row_of = np.full((n, count), -1, dtype=np.int32)
        high = np.full((n, count), np.nan)
        low = np.full((n, count), np.nan)
        last_row = np.full((n, count), -1, dtype=np.int32)
        for s, (stamps, rows) in enumerate(zip(own, values, strict=True)):
            at = np.searchsorted(times, stamps)
            row_of[at, s] = np.arange(len(stamps), dtype=np.int32)
            high[at, s], low[at, s] = rows[:, 1], rows[:, 2]
            last_row[:, s] = np.searchsorted(stamps, times, side="right") - 1
        return cls(symbols, times, values, row_of, high, low, last_row)

    def step_at_or_after(self, ms: int) -> int:
        """The first step opening at or after `ms` (len(times) if none)."""
        return bisect.bisect_left(self._times, ms)

    def rows(self, k: int, columns: list[int]) -> list[tuple[str, Row]]:
        out = []
        for s in columns:
            r = self.row_of[k, s]
            if r >= 0:
                out.append((self.symbols[s], tuple(self.values[s][r].tolist())))  # type: ignore[arg-type]
        return out


class EventLoop:
    """Runs a backtest's steps through `driver`, skipping the ones where nothing can happen."""

    def __init__(self, driver: CandleDriver, grid: CandleGrid, signals: dict[str, np.ndarray],
                 before_step: Callable[[int], Awaitable[int | None]]) -> None:
        """`signals`: each symbol's signal open times; `before_step(open_ms)` runs before each worked step
        (the universe rotation) and returns the next time it must run (or None)."""
        self.driver, self.grid = driver, grid
        self.engine = driver.engine
        self.sim = driver.venue.engine
        self.before_step = before_step
        self.step_ms = driver.step_ms
        self.column = {symbol: s for s, symbol in enumerate(grid.symbols)}
        self.signalling: dict[int, list[int]] = {}  # step → the columns with a signal there
        for symbol, times in signals.items():
            if symbol in self.column:
                for k in np.searchsorted(grid.times, times).tolist():
                    self.signalling.setdefault(k, []).append(self.column[symbol])
        signal_steps = np.zeros(len(grid.times), dtype=bool)
        signal_steps[list(self.signalling)] = True
        days = (grid.times + driver.step_ms) // DAY_MS  # by the step's close: its checks run at `now` = the close
        day_starts = np.r_[True, days[1:] != days[:-1]] if len(days) else np.zeros(0, dtype=bool)
        ends = np.zeros(len(days), dtype=bool)
        ends[-1:] = True  # the last step is worked: the run ends at its close, as the candle-by-candle one does
        self.scheduled = np.flatnonzero(signal_steps | day_starts | ends).tolist()  # ascending steps (bisect)
        self.worked = 0  # steps run through the driver (the rest were jumped)
        self.fed = 0  # symbol candles fed to the venue

    async def run(self, progress: Callable[[int], None] | None = None) -> None:
        grid, n = self.grid, len(self.grid.times)
        bot = self.engine.bot
        next_call = 0  # when before_step must run next (ms)
        k, force, reported = 0, False, 0
        while k < n:
            if not force:
                k = self._next_step(k, next_call)
                if k >= n:
                    break
            open_ms = int(grid.times[k])
            if open_ms >= next_call:
                upcoming = await self.before_step(open_ms)
                next_call = NO_STEP if upcoming is None else upcoming
            state = bot.model.state
            await self._work(k, open_ms)
            # After the bot's own machine moved (a flattening done inside the check, after the equity was
            # read), the next candle's check reads an equity no check has seen yet: work it.
            force = bot.model.state != state or bot.has_tag(Tag.FLATTENING)
            if progress is not None and k - reported >= 2048:
                progress(k + 1)
                reported = k
            k += 1
        if progress is not None:
            progress(n)

    async def _work(self, k: int, open_ms: int) -> None:
        grid = self.grid
        active = self._active_columns()
        for s in active:  # a book whose jumped candles were only marked: its latest close and volume
            if grid.row_of[k, s] < 0 and (r := grid.last_row[k, s]) >= 0:
                row = grid.values[s][r]
                self.sim.mark(grid.symbols[s], int(grid.times[k]), float(row[3]), float(row[4]))
        columns = set(active)
        columns.update(self.signalling.get(k, ()))  # the symbols with a signal: an entry fills at their close
        rows = grid.rows(k, sorted(columns))
        self.fed += len(rows)
        self.worked += 1
        await self.driver.step(open_ms, rows)

    def _active_columns(self) -> list[int]:
        """Symbols whose candles can change something: a book with orders or a position, a live position."""
        symbols = {b.market.symbol for b in self.sim.busy_books()}
        symbols.update(p.symbol for p in self.engine.book.live.values())
        return sorted(self.column[s] for s in symbols if s in self.column)

    # --- where the next step that can change anything lies ------------------------------------------
    def _next_step(self, k: int, next_call: int) -> int:
        """The first step at or after k that must be worked."""
        grid = self.grid
        n = len(grid.times)
        if k >= n:
            return n
        if self.engine.bot.has_tag(Tag.FLATTENING):
            return k  # a flattening is followed candle by candle until it is done
        until = n
        i = bisect.bisect_left(self.scheduled, k)
        if i < len(self.scheduled):
            until = int(self.scheduled[i])
        if next_call != NO_STEP:
            until = min(until, grid.step_at_or_after(next_call))
        for deadline in self._deadlines():
            # due at the step whose close (open + step) reaches it
            until = min(until, grid.step_at_or_after(to_ms(deadline) - self.step_ms))
        if until <= k:
            return k
        books = self.sim.busy_books()
        live = {p.symbol for p in self.engine.book.live.values()}
        if not books and not live:
            return until
        if live - {b.market.symbol for b in books}:
            return k  # a live position the venue holds nothing for (an emergency retrying): every candle
        columns = [self.column[b.market.symbol] for b in books]
        span = slice(k, until)
        fall = np.array([b.fall_max for b in books])
        rise = np.array([b.rise_min for b in books])
        funding = np.array([b.next_funding_ms for b in books], dtype=np.int64)
        present = grid.row_of[span][:, columns] >= 0
        hit = (grid.low[span][:, columns] <= fall) | (grid.high[span][:, columns] >= rise)
        hit |= present & (grid.times[span][:, None] >= funding)
        rows = np.flatnonzero(hit.any(axis=1))
        if len(rows):
            until = k + int(rows[0])
            if until == k:
                return k
        return self._equity_bound(k, until, books, columns)

    def _deadlines(self) -> list:
        out = [p.deadline_at for p in self.engine.book.live.values() if p.deadline_at is not None]
        bot = self.engine.bot.model
        if bot.deadline_at is not None:
            out.append(bot.deadline_at)
        return out

    def _equity_bound(self, k: int, until: int, books: list, columns: list[int]) -> int:
        """The first step in [k, until) at which the equity check could record a new peak or fire the hard
        stop (until when none can)."""
        engine = self.engine
        risk = engine.risk
        if not risk.watches_equity or engine.bot.model.tripped or until <= k:
            return until
        peak = risk.state.peak_equity
        held = [(c, b) for c, b in zip(columns, books, strict=True) if b.qty != 0 and b.last is not None]
        if peak is None or not held:
            return k if peak is None else until
        # Wallets do not move between events; the equity moves with the held positions' marks.
        wallets = float(sum(self.sim.balance(a).wallet for a in engine.equity_assets()))
        closes = np.empty((until - k, len(held)))
        grid = self.grid
        for j, (c, _) in enumerate(held):
            r = grid.last_row[k:until, c]
            closes[:, j] = np.where(r >= 0, grid.values[c][np.maximum(r, 0), 3], np.nan)
        qty = np.array([float(b.qty) for _, b in held])
        entry = np.array([float(b.entry) for _, b in held])
        equity = wallets + ((closes - entry) * qty).sum(axis=1)
        top = float(peak)
        floor = -np.inf
        if risk.config.max_drawdown_pct is not None:
            floor = top * (1 - risk.config.max_drawdown_pct / 100)
        if risk.config.min_equity is not None:
            floor = max(floor, float(risk.config.min_equity))
        margin = EQUITY_MARGIN * max(1.0, abs(top))
        unsafe = ~((equity < top - margin) & (equity > floor + margin))  # NaN (no mark yet) is unsafe
        rows = np.flatnonzero(unsafe)
        return k + int(rows[0]) if len(rows) else until
