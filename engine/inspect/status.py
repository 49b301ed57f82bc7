"""The live positions of a profile, read from its snapshot without disturbing a running bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.positions.book import SNAPSHOT_FILE
from engine.positions.model import Position
from engine.store.snapshot import read_snapshot_file


@dataclass(frozen=True)
class StatusView:
    state_dir: Path
    seq: int
    bot: dict
    positions: tuple[Position, ...]


def read_status(state_dir: Path) -> StatusView:
    bot, raw = read_snapshot_file(state_dir / SNAPSHOT_FILE)
    positions = tuple(sorted((Position.from_dict(p) for p in raw), key=lambda p: p.number))
    return StatusView(state_dir, int(bot.get("seq", 0)), bot, positions)


def age(position: Position, now: datetime) -> str:
    start = position.opened_at or position.created_at
    if start is None:
        return "-"
    seconds = int((now - start).total_seconds())
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def universe_lines(universe: dict[str, Any] | None, *, changes: int = 3, names: int = 12) -> list[str]:
    """The universe a running bot keeps in its state (`engine.market.live_universe.status_of`), as plain
    lines: its symbols now, then the last changes (who came in, who left and why). Empty without one."""
    if not universe:
        return []
    symbols = [s.split("/", 1)[0] for s in universe.get("symbols", ())]
    shown = " ".join(symbols[:names]) + (f" … (+{len(symbols) - names})" if len(symbols) > names else "")
    lines = [f"universe {len(symbols)} of {universe.get('candidates', '?')} candidates, "
             f"{universe.get('picks', 0)} picks: {shown or 'none'}"]
    for change in universe.get("changes", [])[-changes:]:
        when = datetime.fromtimestamp(change["at_ms"] / 1000, tz=UTC)
        reasons = {e["symbol"]: e["code"] for e in change.get("excluded", ())}
        moved = [f"+{s.split('/', 1)[0]}" for s in change.get("added", ())]
        moved += [f"−{s.split('/', 1)[0]} ({reasons.get(s, 'out')})" for s in change.get("removed", ())]
        lines.append(f"  {when:%m-%d %H:%M} {' '.join(moved) or 'no change'}")
    return lines
