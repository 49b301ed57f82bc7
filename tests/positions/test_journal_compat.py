"""A state folder written by an older version of the bot still resumes with the current code.

tests/positions/fixtures/state_v1/ holds the journal, the two snapshot slots and the history that
the code of commit 09626c1 wrote (see fixtures/make_v1_state.py, run once with that code and never
again), and EXPECTED.json, the resumed facts as that code reported them. The folder is copied to
tmp_path and opened with today's PositionBook; nothing in the fixture may be regenerated to make
these tests pass: a failure here means the current code no longer reads state folders users have.

Positions are compared through `to_dict()` reduced to plain JSON values (a str-based enum gives its
value), so the comparison holds whatever in-memory types the fields have.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from engine.positions.book import HISTORY_FILE, JOURNAL_FILE, SNAPSHOT_FILE, PositionBook, replay_journal
from engine.store.history import read_history
from engine.store.journal import read_records
from tests.positions.support import T0, Env, fill, machine

FIXTURE = Path(__file__).parent / "fixtures" / "state_v1"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "EXPECTED.json").read_text())
LATER = T0 + timedelta(minutes=1)  # after every time in the fixture, before its max_hold deadlines


def plain(value: Any) -> Any:
    """A JSON-plain copy: enums become their values, other non-JSON scalars their str()."""

    def default(v: Any) -> Any:
        return v.value if isinstance(v, Enum) else str(v)

    return json.loads(json.dumps(value, default=default))


def facts(position: Any, fields: list[str]) -> dict[str, Any]:
    document = plain(position.to_dict())
    return {name: document.get(name) for name in fields}


def history_lines(folder: Path) -> list[dict[str, Any]]:
    return list(read_history(folder / HISTORY_FILE))  # checked, read-only, without the checksum key


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "state"
    shutil.copytree(FIXTURE, copy, ignore=shutil.ignore_patterns("EXPECTED.json"))
    return copy


def resume(folder: Path) -> tuple[PositionBook, Any]:
    book = PositionBook(machine(), folder)
    return book, book.open()


def assert_live_as_expected(book: PositionBook) -> None:
    assert sorted(book.live) == sorted(EXPECTED["live"])
    for pid, expected in EXPECTED["live"].items():
        got = facts(book.live[pid], list(expected))
        for name, value in expected.items():
            assert got[name] == value, f"{pid}.{name}: resumed {got[name]!r}, the fixture says {value!r}"


def test_the_fixture_is_small_text_and_complete() -> None:
    names = {p.name for p in FIXTURE.iterdir()}
    assert {JOURNAL_FILE, HISTORY_FILE, "EXPECTED.json"} <= names
    assert any(n.startswith(Path(SNAPSHOT_FILE).stem) for n in names)
    assert sum(p.stat().st_size for p in FIXTURE.iterdir()) < 50_000
    states = {p["state"] for p in EXPECTED["live"].values()}
    assert {"open", "partial_tp", "entering", "closing", "emergency"} <= states and EXPECTED["closed"]


def test_the_old_folder_resumes_with_every_position_as_it_was(folder: Path) -> None:
    journal_before = (folder / JOURNAL_FILE).read_bytes()
    book, report = resume(folder)
    try:
        # the snapshot was current: nothing rolled forward, nothing torn, nothing to warn about
        assert report.live == len(EXPECTED["live"])
        assert report.snapshot_seq == report.journal_seq == EXPECTED["journal_seq"]
        assert report.rolled_forward == 0 and report.torn_tail is None and report.warnings == []
        assert_live_as_expected(book)
        for name, value in EXPECTED["bot"].items():  # the pause command's bot value survived
            assert plain(book.bot.get(name)) == value
        assert book.new_position("BTC/USDC:USDC").id == EXPECTED["next_position"]  # ids are never reused
    finally:
        book.close()
    assert (folder / JOURNAL_FILE).read_bytes() == journal_before  # opening wrote nothing to the journal
    closed = [{k: h.get(k) for k in c} for h, c in zip(history_lines(folder), EXPECTED["closed"], strict=True)]
    assert closed == EXPECTED["closed"]


def test_replaying_the_old_journal_agrees_with_the_old_snapshot(folder: Path) -> None:
    book, _ = resume(folder)
    snapshot = {pid: plain(p.to_dict()) for pid, p in book.live.items()}
    book.close()
    replayed = replay_journal(machine(), read_records(folder / JOURNAL_FILE))
    assert sorted(replayed) == sorted([*EXPECTED["live"], *(c["id"] for c in EXPECTED["closed"])])
    live = {pid: plain(p.to_dict()) for pid, p in replayed.items() if pid in EXPECTED["live"]}
    assert live == snapshot
    closed = {pid: plain(p.to_dict()) for pid, p in replayed.items() if pid not in EXPECTED["live"]}
    assert closed == {h["id"]: h for h in history_lines(folder)}


def test_without_its_snapshot_the_old_folder_is_rebuilt_from_the_journal_alone(folder: Path) -> None:
    book, _ = resume(folder)
    from_snapshot = {pid: plain(p.to_dict()) for pid, p in book.live.items()}
    book.close()
    history_before = (folder / HISTORY_FILE).read_bytes()
    snapshots = list(folder.glob(f"{Path(SNAPSHOT_FILE).stem}*{Path(SNAPSHOT_FILE).suffix}"))
    assert snapshots
    for path in snapshots:
        path.unlink()

    book, report = resume(folder)
    try:
        assert report.snapshot_seq == 0 and report.rolled_forward > 0
        assert any("rebuilding every position from the journal" in w for w in report.warnings)
        assert {pid: plain(p.to_dict()) for pid, p in book.live.items()} == from_snapshot
        assert_live_as_expected(book)
        # the pause command's bot value is re-applied from its record; the book's order prefix is
        # not journaled as a bot value (each position keeps its own), so a rebuilt book draws a new one
        assert plain(book.bot.get("paused")) == EXPECTED["bot"]["paused"]
        assert book.new_position("BTC/USDC:USDC").id == EXPECTED["next_position"]
    finally:
        book.close()
    assert (folder / HISTORY_FILE).read_bytes() == history_before  # closings not recorded twice


def test_a_resumed_old_position_takes_further_events(folder: Path) -> None:
    book, _ = resume(folder)
    try:
        (pid,) = [pid for pid, p in EXPECTED["live"].items() if p["state"] == "open"]
        position = book.live[pid]
        expected = EXPECTED["live"][pid]
        (stop,) = [cid for cid in expected["open_orders"] if expected["order_roles"][cid] == "sl"]
        payload = fill(expected["qty"], "58800.0", client_id=stop)
        outcome = book.apply(position, "sl_filled", payload, now=LATER, env=Env())
        assert outcome.applied and str(outcome.dest) == "closed"
        assert pid not in book.live
        assert book.journal.last_seq == EXPECTED["journal_seq"] + 1
    finally:
        book.close()
    last = history_lines(folder)[-1]
    assert last["id"] == pid and last["state"] == "closed" and str(last["exit_reason"]) == "sl"

    book, report = resume(folder)  # and the folder, now written by two versions, resumes again
    try:
        assert report.rolled_forward == 0 and report.live == len(EXPECTED["live"]) - 1
        assert pid not in book.live
    finally:
        book.close()
