"""A simulated venue that keeps its state on disk: paper trading resumes the same account, orders and
positions after a restart.

The file is rewritten after every call that changes the venue, and `fed` remembers the last candle fed
per symbol, so a step replayed after a crash does not fill anything twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.store.sealed import StateFileError, write_failed
from engine.venue.leverage import Brackets
from engine.venue.markets import Market
from engine.venue.sim.venue import SimVenue

ACCOUNT_REMEDY = ("restore the file from a backup; or, to start afresh, move the whole state folder away (its "
                  "positions and orders belong to that account, a new balance would not match them)")


class PersistentSimVenue(SimVenue):
    """A SimVenue that saves its whole state after every call that changes it (paper trading)."""

    path: Path
    fed: dict[str, int]  # last candle open time fed per symbol: a replayed step is not fed twice

    def _saved(self) -> None:
        try:
            self.save(self.path)
        except OSError as exc:
            raise write_failed(self.path, exc, "the paper account") from exc

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "fed": dict(self.fed)}

    def on_candle(self, symbol: str, open_ms: int, *args: Any, **kwargs: Any):  # noqa: ANN201
        if self.fed.get(symbol, -1) >= open_ms:
            return []  # fed before a restart; its fills are recovered by the engine's order lookups
        out = super().on_candle(symbol, open_ms, *args, **kwargs)
        self.fed[symbol] = open_ms
        self._saved()
        return out


def _saving(name: str):  # noqa: ANN202 - builds an async method
    """Wrap SimVenue's `name` so the venue is saved after the call, whether it succeeded or not
    (a rejected order can still have changed state, e.g. an order-id counter)."""
    inner = getattr(SimVenue, name)

    async def method(self: PersistentSimVenue, *args: Any, **kwargs: Any) -> Any:
        try:
            return await inner(self, *args, **kwargs)
        finally:
            self._saved()

    method.__name__ = name
    return method


# Every call that changes the venue's state; margin mode included (it was easy to forget one by hand).
for _name in ("place_market", "place_limit", "place_stop_market", "place_take_profit_market", "cancel", "set_leverage",
              "set_margin_mode"):
    setattr(PersistentSimVenue, _name, _saving(_name))


def open_persistent(
    path: Path, markets: dict[str, Market], fresh: Any, *, existed: str | None = None,
    brackets: Mapping[str, Brackets] | None = None,
) -> PersistentSimVenue:
    """The venue saved at `path`, else a new one from `fresh()` (a MatchingEngine-building callable
    is enough: it is only called when there is nothing to resume), saved at once, so that the file
    exists before anything the bot journals can refer to it. Saved at `path` from then on.

    `existed` says why the account must already exist (the state folder's journal has records): a
    missing file is then refused rather than replaced by a fresh balance. Raises StateFileError for
    a missing (when it must exist), unreadable or malformed file, naming it and the remedy. `brackets` (the
    markets' leverage brackets; the simulator's default tier without) are not saved: they are given again
    on every open, as to `fresh`."""
    if path.is_file():
        try:
            state = json.loads(path.read_bytes())
            venue = PersistentSimVenue.from_state(markets, state, brackets=brackets)
            venue.fed = {k: int(v) for k, v in state.get("fed", {}).items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:  # JSON/UTF-8 errors are ValueErrors
            raise StateFileError(path, f"the paper account cannot be read ({type(exc).__name__}: {exc})",
                                 ACCOUNT_REMEDY) from None
        venue.path = path
        return venue
    if existed is not None:
        raise StateFileError(path, f"the paper account is missing, but {existed}", ACCOUNT_REMEDY)
    venue = fresh()
    venue.fed = {}
    venue.path = path
    venue._saved()
    return venue
