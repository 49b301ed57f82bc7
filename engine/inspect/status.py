"""The live positions of a profile, read from its snapshot without disturbing a running bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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
