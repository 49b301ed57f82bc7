"""Losing the snapshot resets nothing, a damaged journal changes nothing, a truncated history is
rebuilt: the position book at start-up, on real files."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from engine.positions.book import HISTORY_FILE, JOURNAL_FILE, SNAPSHOT_FILE, PositionBook
from engine.store.history import History
from engine.store.journal import read_records
from engine.store.sealed import DamagedRecord
from engine.store.snapshot import slot_paths
from tests.positions.support import PATHS, T0, Env, machine
from tests.positions.test_journal_compat import FIXTURE

RISK = {"day": "2025-03-03", "day_pnl": "-41.5", "day_start_balance": "1000", "halted_until": None,
        "sl_streak": 2, "last_exit": {"BTC/USDC:USDC": "2025-03-03T12:00:03+00:00"}}


def traded(folder: Path) -> PositionBook:
    """A book with a closed, an open and a partly filled position, risk counters and a paper cursor
    moved on after every 'candle', closed cleanly."""
    book = PositionBook(machine(), folder)
    book.open()
    for n, state in enumerate(("closed", "open", "partial_tp")):
        p = book.new_position("BTC/USDC:USDC")
        for event, payload in PATHS[state]:
            book.apply(p, event, payload, now=T0 + timedelta(seconds=n), env=Env())
        book.set_bot_value("risk", {**RISK, "sl_streak": n})
    for cursor in range(20):
        book.set_bot_value("paper", {"source": "synthetic", "seed": 7, "origin_ms": 1000, "cursor_ms": 1000 + cursor})
    book.close()
    return book


def drop_snapshot(folder: Path) -> None:
    for slot in slot_paths(folder / SNAPSHOT_FILE):
        slot.unlink()


def reopened(folder: Path) -> tuple[PositionBook, object]:
    book = PositionBook(machine(), folder)
    return book, book.open()


def test_with_both_snapshot_slots_gone_every_bot_value_and_position_is_rebuilt_exactly(tmp_path: Path) -> None:
    before = traded(tmp_path)
    live = {pid: p.to_dict() for pid, p in before.live.items()}
    bot = dict(before.bot)
    drop_snapshot(tmp_path)
    book, report = reopened(tmp_path)
    try:
        assert {pid: p.to_dict() for pid, p in book.live.items()} == live
        assert book.bot == bot  # risk counters (day loss included), paper seed/origin/cursor, prefix, next id
        assert book.bot["risk"]["day_pnl"] == "-41.5" and book.bot["paper"]["cursor_ms"] == 1019
        assert book.new_position("ETH/USDC:USDC").id == "P4"  # no id reused
        assert any("no valid snapshot" in w for w in report.warnings)
    finally:
        book.close()


def test_bot_records_stay_out_of_the_transition_readers(tmp_path: Path) -> None:
    traded(tmp_path)
    records = list(read_records(tmp_path / JOURNAL_FILE))
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    bot = list(r for r in read_records(tmp_path / JOURNAL_FILE, bot=True) if r.get("kind") == "bot")
    assert [r["n"] for r in bot] == list(range(1, 24))  # 3 risk values and 20 cursors, each journaled once
    assert "order_prefix" in bot[0]["bot"] or "order_prefix" in records[0]


def test_an_old_snapshots_bot_values_are_journaled_at_the_first_start(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("EXPECTED.json"))
    book, _ = reopened(folder)
    bot = dict(book.bot)
    book.close()
    assert bot["paused"] is True and bot["order_prefix"] == "f1x0"
    drop_snapshot(folder)
    again, _ = reopened(folder)
    try:
        assert again.bot == bot
    finally:
        again.close()


def test_a_damaged_record_stops_the_start_and_changes_no_file(tmp_path: Path) -> None:
    traded(tmp_path)
    journal = tmp_path / JOURNAL_FILE
    lines = journal.read_bytes().splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if b'"seq":3,' in line)
    lines[target] = lines[target].replace(b'"seq":3,', b'"seq":3, ', 1)[:-6] + lines[target][-5:]
    journal.write_bytes(b"".join(lines))
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(DamagedRecord) as caught:
        reopened(tmp_path)
    assert caught.value.line == target + 1 and caught.value.seq == 3
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files
    drop_snapshot(tmp_path)  # without a snapshot the old code resumed from the records before it
    with pytest.raises(DamagedRecord):
        reopened(tmp_path)


def test_a_truncated_history_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    book = PositionBook(machine(), tmp_path)
    book.open()
    for state in ("closed", "closed", "open", "closed"):
        p = book.new_position("BTC/USDC:USDC")
        for event, payload in PATHS[state]:
            book.apply(p, event, payload, now=T0, env=Env())
    book.close()
    path = tmp_path / HISTORY_FILE
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.index(b"\n") + 1])  # only P1's line is left
    again, report = reopened(tmp_path)
    again.close()
    assert path.read_bytes() == whole
    assert [h["id"] for h in History(path)] == ["P1", "P2", "P4"]
    assert any("2 closed position(s) the journal records were missing (P2, P4)" in w for w in report.warnings)
