"""Find the damage in a state folder's journal and history, and cut it off when the user asks.

Nothing here runs by itself: the bot refuses to start on a damaged record (see
`engine.store.sealed`), and `python -m engine repair` shows what a cut would lose; only with
`--cut-at-damage` does it change anything, and then it first keeps a copy of every file it changes
(`<name>.damaged-<UTC time>`), so a cut can always be undone by hand.

A cut keeps the journal up to the line before its first damaged record. The history keeps the
closings that the kept journal still records (and nothing from its own first damaged line on); the
next start rebuilds any closing the kept journal records and the history lacks. The snapshot slots
are set aside: they describe the state after records that are gone, so the next start rebuilds
every position and bot value from the kept journal.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engine.store.fsio import fsync_dir
from engine.store.history import damage_remedy as history_remedy
from engine.store.journal import BOT, SeqOrder, damage_remedy
from engine.store.sealed import DamagedRecord, LineChecker


@dataclass
class Lost:
    """The records a cut of the journal removes."""

    line: int  # first removed line
    records: int = 0  # every line from there on, readable or not
    seqs: tuple[int, int] | None = None  # the readable seqs among them (first, last)
    positions: list[str] = field(default_factory=list)
    bot_records: int = 0


@dataclass
class Findings:
    journal: Path
    history: Path
    journal_damage: DamagedRecord | None = None
    history_damage: DamagedRecord | None = None
    lost: Lost | None = None
    kept_seq: int = 0  # the last seq the journal keeps

    @property
    def damaged(self) -> bool:
        return self.journal_damage is not None or self.history_damage is not None


def examine(journal: Path, history: Path) -> Findings:
    """Read both files through (changing nothing) and say where each is first damaged and what a
    cut of the journal would lose."""
    found = Findings(journal, history)
    found.journal_damage = _first_damage(journal, damage_remedy(journal), SeqOrder())
    found.history_damage = _first_damage(history, history_remedy(history), None)
    if found.journal_damage is not None:
        found.lost = _lost_from(journal, found.journal_damage.line, found.journal_damage.seq)
        found.kept_seq = (found.journal_damage.seq or 1) - 1
    return found


def _first_damage(path: Path, remedy: str, order: SeqOrder | None) -> DamagedRecord | None:
    checker = LineChecker(path, remedy, order)
    try:
        for number, raw in _lines(path):
            checker.check(raw, number)
    except DamagedRecord as exc:
        return exc
    return None


def _lines(path: Path):  # noqa: ANN202 - (number, raw line) of every complete line
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return
            yield number, raw


def _lost_from(journal: Path, line: int, damaged_seq: int | None = None) -> Lost:
    """What the lines from `line` on hold, read leniently (each readable line on its own). The damaged
    record's own seq (`damaged_seq`, the one its line should hold) is lost too, though it cannot be read."""
    from engine.store.sealed import unseal

    lost = Lost(line)
    seqs: list[int] = [damaged_seq] if damaged_seq is not None else []
    for number, raw in _lines(journal):
        if number < line:
            continue
        lost.records += 1
        try:
            record, _ = unseal(raw)
        except ValueError:
            continue
        if record.get("kind") == BOT:
            lost.bot_records += 1
        elif isinstance(record.get("seq"), int):
            seqs.append(record["seq"])
        if "position" in record and str(record["position"]) not in lost.positions:
            lost.positions.append(str(record["position"]))
    if seqs:
        lost.seqs = (min(seqs), max(seqs))
    return lost


@dataclass
class CutResult:
    copies: list[Path] = field(default_factory=list)
    set_aside: list[Path] = field(default_factory=list)  # snapshot slots moved away
    history_dropped: int = 0  # history lines removed


def cut_at_damage(found: Findings, snapshot_slots: tuple[Path, ...], stamp: str | None = None) -> CutResult:
    """Keep a copy of the journal and the history, cut the journal before its first damaged record,
    keep in the history only the closings the kept journal records (and nothing from its first
    damaged line on), and set the snapshot slots aside. Call it only while holding the folder's
    lock. Raises ValueError when there is nothing to cut."""
    if not found.damaged:
        raise ValueError("nothing is damaged: nothing to cut")
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = CutResult()
    keep_closings: set[tuple[str, int]] | None = None
    if found.journal_damage is not None:
        result.copies.append(_copy(found.journal, stamp))
        _truncate_at_line(found.journal, found.journal_damage.line)
    if found.history.is_file():
        keep_closings = _closings(found.journal) if found.journal_damage is not None else None
        limit = found.history_damage.line if found.history_damage is not None else None
        if limit is not None or keep_closings is not None:
            copy = _copy(found.history, stamp)
            result.history_dropped = _filter_history(found.history, limit, keep_closings)
            if result.history_dropped:
                result.copies.append(copy)
            else:
                copy.unlink()
    if found.journal_damage is not None:
        for slot in snapshot_slots:
            if slot.is_file():
                aside = slot.with_name(f"{slot.name}.damaged-{stamp}")
                os.replace(slot, aside)
                result.set_aside.append(aside)
    fsync_dir(found.journal.parent)
    return result


def _copy(path: Path, stamp: str) -> Path:
    copy = path.with_name(f"{path.name}.damaged-{stamp}")
    shutil.copy2(path, copy)
    with copy.open("rb") as fh:
        os.fsync(fh.fileno())
    return copy


def _offset_of_line(path: Path, line: int) -> int:
    offset = 0
    for number, raw in _lines(path):
        if number >= line:
            break
        offset += len(raw)
    return offset


def _truncate_at_line(path: Path, line: int) -> None:
    offset = _offset_of_line(path, line)
    with path.open("r+b") as fh:
        fh.truncate(offset)
        os.fsync(fh.fileno())


def _closings(journal: Path) -> set[tuple[str, int]]:
    """(position, seq) of every transition record of the (already cut) journal: a history line is
    kept when its closing seq is one of them."""
    from engine.store.journal import read_records

    return {(str(r["position"]), int(r["seq"])) for r in read_records(journal) if r.get("kind") is None}


def _filter_history(path: Path, limit: int | None, keep: set[tuple[str, int]] | None) -> int:
    """Rewrite the history without the lines from `limit` on and without closings not in `keep`
    (temp file, fsync, rename). Returns how many lines were dropped."""
    from engine.store.sealed import unseal

    kept: list[bytes] = []
    dropped = 0
    for number, raw in _lines(path):
        if limit is not None and number >= limit:
            dropped += 1
            continue
        record, _ = unseal(raw)
        if keep is not None and (str(record.get("id", "")), int(record.get("last_seq", 0))) not in keep:
            dropped += 1
            continue
        kept.append(raw)
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(b"".join(kept))
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return dropped
