"""The journal file on its own: zero-padded preallocation, what readers see while it is open, what a
killed writer leaves behind, and what `close` leaves at rest."""

from __future__ import annotations

import os
from pathlib import Path

from engine.store.fsio import read_tail
from engine.store.journal import Journal, read_records


def record(seq: int, **extra: object) -> dict:
    return {"seq": seq, "time": "2025-03-03T12:00:00+00:00", "position": "P1", "event": "signal", **extra}


def opened(path: Path, *, sync: bool = True) -> Journal:
    journal = Journal(path, sync=sync)
    journal.open()
    return journal


def test_a_durable_journal_writes_over_preallocated_zeros_and_readers_see_only_records(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = opened(path)
    for seq in (1, 2, 3):
        journal.append(record(seq))
    content = b"".join(line for line in path.read_bytes().splitlines(keepends=True) if line.endswith(b"\n"))
    assert path.stat().st_size > Journal.PREALLOCATE > len(content)  # the zeros are allocated ahead
    assert path.read_bytes()[len(content):].strip(b"\0") == b""
    assert [r["seq"] for r in read_records(path)] == [1, 2, 3]
    assert read_tail(path).endswith(b"}\n") and b"\0" not in read_tail(path)  # the content's tail, not the padding
    journal.close()
    assert path.read_bytes() == content  # at rest: plain JSON lines
    assert content.count(b"\n") == 3


def test_a_journal_left_by_a_killed_writer_is_resumed_after_its_last_record(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = opened(path)
    journal.append(record(1))
    journal.append(record(2))
    os.close(journal.fileno())  # no close(): the padding stays, as after SIGKILL
    size = path.stat().st_size
    resumed = opened(path)
    assert resumed.last_seq == 2 and resumed.torn is None
    resumed.append(record(3))
    assert path.stat().st_size == size  # the padding was reused, not added to
    assert [r["seq"] for r in read_records(path)] == [1, 2, 3]
    resumed.close()
    assert b"\0" not in path.read_bytes()


def test_a_record_torn_over_the_padding_is_cut_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = opened(path)
    journal.append(record(1))
    line = b'{"seq":2,"time":"2025-03-03T12:00:00+00:00","position":"P1","ev'
    os.pwrite(journal.fileno(), line, journal._end)  # half a record, then death
    os.close(journal.fileno())
    resumed = opened(path)
    assert resumed.torn is not None and resumed.torn.data == line  # reported without the padding
    assert resumed.last_seq == 1
    resumed.append(record(2, event="entry_filled"))
    resumed.close()
    assert [(r["seq"], r["event"]) for r in read_records(path)] == [(1, "signal"), (2, "entry_filled")]


def test_a_backtest_journal_is_not_padded(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = opened(path, sync=False)
    journal.append(record(1))
    assert b"\0" not in path.read_bytes()
    journal.close()
    assert [r["seq"] for r in read_records(path)] == [1]


def test_the_padding_grows_by_whole_chunks_and_records_never_straddle_a_gap(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = opened(path)
    journal.PREALLOCATE = 256  # small chunks: many extensions
    for seq in range(1, 41):
        journal.append(record(seq, payload={"qty": "0.001" * (seq % 7)}))
    assert [r["seq"] for r in read_records(path)] == list(range(1, 41))
    journal.close()
    assert b"\0" not in path.read_bytes()
