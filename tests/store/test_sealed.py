"""Checksummed journal and history lines on real files: damage anywhere but a torn last line is
reported with file, line and seq; files written before checksums existed still read."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.store.history import History
from engine.store.journal import Journal, read_records
from engine.store.sealed import DamagedRecord, StateWriteError, seal, unseal
from tests.store.support import damage_line


def record(seq: int) -> dict:
    return {"seq": seq, "time": "2025-03-03T12:00:00+00:00", "position": "P1", "event": "signal",
            "payload": {"note": "é", "qty": "0.010"}}


def written(path: Path, count: int) -> Path:
    journal = Journal(path)
    journal.open()
    for seq in range(1, count + 1):
        journal.append(record(seq))
    journal.close()
    return path



def test_every_line_is_one_json_object_carrying_the_crc_of_its_own_bytes(tmp_path: Path) -> None:
    path = written(tmp_path / "journal.jsonl", 3)
    for raw in path.read_bytes().splitlines(keepends=True):
        parsed, sealed = unseal(raw)
        assert sealed and "crc32" not in parsed
        assert raw == seal(raw[: raw.rindex(b',"crc32":')] + b"}")
    assert [r["seq"] for r in read_records(path)] == [1, 2, 3]
    assert all("crc32" not in r for r in read_records(path))


@pytest.mark.parametrize("data", [b"XXXX", b"7", b"\xff\xfe", b"\n"], ids=["text", "digit", "not-utf8", "newline"])
def test_damage_in_the_middle_is_reported_with_file_line_and_seq(tmp_path: Path, data: bytes) -> None:
    path = written(tmp_path / "journal.jsonl", 150)
    damage_line(path, 100, data)
    with pytest.raises(DamagedRecord) as caught:
        list(read_records(path))
    err = caught.value
    assert err.path == path and err.line == 100 and err.seq == 100
    assert "journal.jsonl: damaged record at line 100 (seq 100)" in str(err)
    assert "repair" in str(err) and "--cut-at-damage" in str(err)
    opened = Journal(path)
    with pytest.raises(DamagedRecord):
        opened.open()
        opened.scan_all()


def test_a_record_whose_seq_was_changed_consistently_breaks_the_order(tmp_path: Path) -> None:
    path = written(tmp_path / "journal.jsonl", 5)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = seal(lines[3][: lines[3].rindex(b',"crc32":')] + b"}")  # a valid line, in the wrong place
    path.write_bytes(b"".join(lines))
    with pytest.raises(DamagedRecord, match=r"line 3 \(seq 3\): seq 4 where seq 3 was expected"):
        list(read_records(path))


def test_a_legacy_line_is_accepted_only_before_the_first_checksummed_one(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    legacy = b'{"seq":1,"position":"P1","event":"signal"}\n{"seq":2,"position":"P1","event":"entry_filled"}\n'
    path.write_bytes(legacy)
    journal = Journal(path)
    journal.open()
    journal.scan_all()
    assert journal.last_seq == 2
    journal.append(record(3))
    journal.close()
    assert [r["seq"] for r in read_records(path)] == [1, 2, 3]
    with path.open("ab") as fh:
        fh.write(b'{"seq":4,"position":"P1","event":"signal"}\n{"seq":5,"position":"P1","event":"x"}\n')
    with pytest.raises(DamagedRecord, match=r"line 4 \(seq 4\): no checksum, after checksummed lines"):
        list(read_records(path))


def test_a_torn_last_line_is_still_cut_not_reported(tmp_path: Path) -> None:
    path = written(tmp_path / "journal.jsonl", 3)
    with path.open("ab") as fh:
        fh.write(b'{"seq":4,"time":"2025')
    journal = Journal(path)
    journal.open()
    assert journal.torn is not None and journal.last_seq == 3
    journal.close()


def test_history_lines_are_sealed_and_a_damaged_one_stops_the_opening(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = History(path)
    for n in range(1, 6):
        history.append({"id": f"P{n}", "last_seq": n * 3, "state": "closed"})
    history.close()
    assert [h["id"] for h in History(path)] == ["P1", "P2", "P3", "P4", "P5"]
    damage_line(path, 2)
    with pytest.raises(DamagedRecord, match=r"history.jsonl: damaged record at line 2: checksum mismatch"):
        History(path)


def test_a_full_disk_names_the_journal_and_the_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.open()
    journal.append(record(1))

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(StateWriteError) as caught:
        journal.append(record(2))
    message = str(caught.value)
    assert str(path) in message and "No space left on device" in message and "free disk space" in message
    assert journal.last_seq == 1
    monkeypatch.undo()
    journal.close()
    assert [r["seq"] for r in read_records(path)] == [1]
