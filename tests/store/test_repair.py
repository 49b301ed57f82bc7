"""engine.store.repair: what a cut at the first damaged journal record loses (the damaged record's own
seq included), the copies it keeps, the snapshot slots it sets aside, and the repair command's refusal
while a bot holds the state folder's lock."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.cli.repair_cmd import what_is_lost
from engine.store.journal import Journal, read_records
from engine.store.lock import state_lock
from engine.store.repair import cut_at_damage, examine
from tests.store.support import damage_line


def record(seq: int, position: str = "P1") -> dict:
    return {"seq": seq, "time": "2025-03-03T12:00:00+00:00", "position": position, "event": "signal",
            "payload": {"qty": "0.010"}}


def written(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "journal.jsonl"
    journal = Journal(path)
    journal.open()
    for seq in range(1, count + 1):
        journal.append(record(seq, f"P{seq}"))
    journal.close()
    return path



def test_a_clean_folder_has_nothing_to_cut(tmp_path: Path) -> None:
    journal = written(tmp_path, 5)
    found = examine(journal, tmp_path / "history.jsonl")
    assert not found.damaged and found.lost is None
    with pytest.raises(ValueError):
        cut_at_damage(found, ())


def test_the_lost_seqs_include_the_damaged_record_itself(tmp_path: Path) -> None:
    journal = written(tmp_path, 7)
    damage_line(journal, 4)
    found = examine(journal, tmp_path / "history.jsonl")
    assert found.journal_damage is not None and found.journal_damage.line == 4 and found.journal_damage.seq == 4
    assert found.lost is not None
    assert found.lost.line == 4 and found.lost.records == 4
    assert found.lost.seqs == (4, 7), "the damaged record at seq 4 is lost as well as 5-7"
    assert found.kept_seq == 3
    assert found.lost.positions == ["P5", "P6", "P7"]  # the damaged line's position cannot be read
    text = "\n".join(what_is_lost(found))
    assert "seq 4–7" in text and "seq 1–3" in text and "loses 4 record(s)" in text


def test_damage_on_the_last_complete_line_loses_that_seq_alone(tmp_path: Path) -> None:
    journal = written(tmp_path, 5)
    damage_line(journal, 5)
    found = examine(journal, tmp_path / "history.jsonl")
    assert found.lost is not None and found.lost.seqs == (5, 5) and found.lost.records == 1
    assert found.kept_seq == 4


def test_a_cut_keeps_a_copy_cuts_before_the_damage_and_sets_the_snapshot_aside(tmp_path: Path) -> None:
    journal = written(tmp_path, 7)
    damage_line(journal, 4)
    damaged = journal.read_bytes()
    slots = (tmp_path / "snapshot-a.json", tmp_path / "snapshot-b.json")
    slots[0].write_text("{}")
    found = examine(journal, tmp_path / "history.jsonl")
    result = cut_at_damage(found, slots, stamp="20260101T000000Z")

    copy = tmp_path / "journal.jsonl.damaged-20260101T000000Z"
    assert result.copies == [copy] and copy.read_bytes() == damaged
    assert [r["seq"] for r in read_records(journal)] == [1, 2, 3]
    assert journal.read_bytes() == b"".join(damaged.splitlines(keepends=True)[:3])
    assert result.set_aside == [tmp_path / "snapshot-a.json.damaged-20260101T000000Z"]
    assert not slots[0].exists() and result.set_aside[0].read_text() == "{}"
    assert not examine(journal, tmp_path / "history.jsonl").damaged


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main(list(args))
    return rc, out.getvalue()


def test_repair_without_the_flag_reports_and_changes_nothing(tmp_path: Path) -> None:
    journal = written(tmp_path, 7)
    damage_line(journal, 4)
    before = journal.read_bytes()
    rc, text = cli("repair", "--state", str(tmp_path))
    assert rc == 1, text
    assert "line 4" in text and "seq 4" in text and "seq 4–7" in text and "--cut-at-damage" in text
    assert journal.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.jsonl"]


def test_repair_is_refused_while_the_state_lock_is_held(tmp_path: Path) -> None:
    journal = written(tmp_path, 7)
    damage_line(journal, 4)
    before = journal.read_bytes()
    with state_lock(tmp_path):
        rc, text = cli("repair", "--state", str(tmp_path), "--cut-at-damage")
    assert rc == 1, text
    assert "in use by another run" in text and "Traceback" not in text
    assert journal.read_bytes() == before
    assert not list(tmp_path.glob("*.damaged-*"))
    rc, text = cli("repair", "--state", str(tmp_path), "--cut-at-damage")  # once the lock is free
    assert rc == 0, text
    assert "kept a copy" in text and "ends at seq 3" in text
    assert [r["seq"] for r in read_records(journal)] == [1, 2, 3]


def history_with(folder: Path, closings: list[tuple[str, int]]) -> Path:
    """A history file of sealed lines, one per (position, closing seq)."""
    import json

    from engine.store.sealed import seal

    path = folder / "history.jsonl"
    body = [seal(json.dumps({"id": pid, "last_seq": seq, "state": "closed"}).encode()) for pid, seq in closings]
    path.write_bytes(b"".join(body))
    return path


def history_ids(path: Path) -> list[str]:
    from engine.store.history import read_history

    return [h["id"] for h in read_history(path)]


def test_a_cut_keeps_only_the_closings_the_kept_journal_records(tmp_path: Path) -> None:
    journal = written(tmp_path, 7)
    history = history_with(tmp_path, [("P2", 2), ("P3", 3), ("P5", 5), ("P6", 6)])
    before = history.read_bytes()
    damage_line(journal, 4)
    result = cut_at_damage(examine(journal, history), (), stamp="20260101T000000Z")
    assert history_ids(history) == ["P2", "P3"], "closings recorded at or after the damage are gone with it"
    assert result.history_dropped == 2
    copy = tmp_path / "history.jsonl.damaged-20260101T000000Z"
    assert copy in result.copies and copy.read_bytes() == before


def test_a_cut_that_drops_no_history_line_keeps_no_copy_of_it(tmp_path: Path) -> None:
    journal = written(tmp_path, 7)
    history = history_with(tmp_path, [("P1", 1), ("P2", 2)])
    damage_line(journal, 5)
    result = cut_at_damage(examine(journal, history), (), stamp="20260101T000000Z")
    assert result.history_dropped == 0 and history_ids(history) == ["P1", "P2"]
    assert not (tmp_path / "history.jsonl.damaged-20260101T000000Z").exists()


def test_damage_in_the_history_alone_cuts_the_history_from_that_line(tmp_path: Path) -> None:
    journal = written(tmp_path, 3)
    journal_before = journal.read_bytes()
    history = history_with(tmp_path, [("P1", 1), ("P2", 2), ("P3", 3)])
    damage_line(history, 2)
    found = examine(journal, history)
    assert found.journal_damage is None and found.history_damage is not None and found.history_damage.line == 2
    result = cut_at_damage(found, (tmp_path / "snapshot-a.json",), stamp="20260101T000000Z")
    assert history_ids(history) == ["P1"] and result.history_dropped == 2
    assert journal.read_bytes() == journal_before, "a damaged history line never cuts the journal"
    assert result.set_aside == []
