"""The snapshot store on its own: TinyDB on double-buffered slots, the per-document encoding cache,
the seq in the slot header, the fsync policies, and what a failed commit leaves behind."""

from __future__ import annotations

import json
import math
import os
import zlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinydb.table import Document

from engine.positions.book import JOURNAL_FILE, SNAPSHOT_FILE, BookFailed, PositionBook
from engine.positions.model import iso
from engine.store import snapshot as snapshot_module
from engine.store.fsio import from_json, to_json
from engine.store.journal import read_records
from engine.store.snapshot import Snapshot, decode_slot, encode_slot, read_slots, read_snapshot_file, slot_paths
from tests.positions.support import PATHS, T0, Env, fill, machine, plan


def reference_payload(snapshot: Snapshot) -> bytes:
    """The whole document, encoded at once (what the cache must reproduce byte for byte)."""
    return to_json(snapshot.storage.read() or {})


# --- the encoding cache ---------------------------------------------------------------------------
documents = st.dictionaries(st.sampled_from(["a", "b", "é", "qty"]),
                            st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3)),
                            max_size=4)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(1, 5), documents),
        st.tuples(st.just("drop"), st.integers(1, 5), st.none()),
        st.tuples(st.just("bot"), st.none(), documents),
        st.tuples(st.just("raw"), st.integers(1, 5), documents),  # TinyDB used directly, unannounced
        st.tuples(st.just("flush"), st.none(), st.none()),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(ops=operations)
def test_the_payload_is_always_exactly_the_whole_document_encoded(tmp_path_factory, ops) -> None:
    snap = Snapshot(tmp_path_factory.mktemp("snap") / SNAPSHOT_FILE, fsync="checkpoint")
    for n, (op, number, doc) in enumerate(ops):
        if op == "put":
            snap.put_position(number, doc)
        elif op == "drop":
            snap.drop_position(number)
        elif op == "bot":
            snap.set_bot({**doc, "n": n})
        elif op == "raw":
            snap.positions.upsert(Document({"raw": n, **doc}, doc_id=number))
        snap.set_seq(n + 1)
        if op == "flush":
            snap.flush()
            newest = read_slots(snap.storage.path)
            assert newest is not None and newest.data == (snap.storage.read() or {}) and newest.seq == n + 1
        assert snap.storage.payload() == reference_payload(snap)
    snap.close()


def test_only_the_changed_document_is_encoded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = Snapshot(tmp_path / SNAPSHOT_FILE, fsync="checkpoint")
    for number in (1, 2, 3):
        snap.put_position(number, {"id": f"P{number}", "state": "open"})
    snap.set_bot({"next_position": 4})
    snap.flush()
    encoded: list[object] = []
    real = snapshot_module._dumps
    monkeypatch.setattr(snapshot_module, "_dumps", lambda value: (encoded.append(value), real(value))[1])
    snap.put_position(2, {"id": "P2", "state": "partial_tp"})
    snap.set_seq(9)
    snap.flush()
    assert encoded == [{"id": "P2", "state": "partial_tp"}]
    assert read_slots(tmp_path / SNAPSHOT_FILE).data["positions"]["2"]["state"] == "partial_tp"
    snap.close()


def test_the_bot_document_is_written_only_when_a_value_changes(tmp_path: Path) -> None:
    snap = Snapshot(tmp_path / SNAPSHOT_FILE, fsync="checkpoint")
    bot = {"seq": 1, "next_position": 2, "risk": {"streak": 0}}
    snap.set_bot(bot)
    writes = []
    real_write = snap.storage.write
    snap.storage.write = lambda data: (writes.append(1), real_write(data))  # type: ignore[method-assign]
    snap.set_bot({**bot, "seq": 2})  # the seq lives in the slot header, not in the document
    assert not writes
    bot["risk"]["streak"] = 1  # edited in place by a caller: still a change
    snap.set_bot(bot)
    assert writes and snap.bot["risk"] == {"streak": 1}
    snap.close()


# --- the slot header ------------------------------------------------------------------------------
def test_the_seq_lives_in_the_crc_checked_header(tmp_path: Path) -> None:
    blob = encode_slot(7, {"bot": {"1": {"next_position": 3}}}, seq=41)
    head = json.loads(blob.partition(b"\n")[0])
    assert (head["gen"], head["seq"]) == (7, 41)
    assert decode_slot(blob) == (7, 41, {"bot": {"1": {"next_position": 3}}})
    forged = blob.replace(b'"seq":41', b'"seq":42')  # a header from another write with this payload
    assert decode_slot(forged) is None


def test_a_slot_written_before_the_seq_moved_into_the_header_still_opens(tmp_path: Path) -> None:
    book = PositionBook(machine(), tmp_path)
    book.open()
    p = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["open"]:
        book.apply(p, event, payload, now=T0, env=Env())
    expected = p.to_dict()
    book.close()
    newest = read_slots(tmp_path / SNAPSHOT_FILE)
    data = newest.data
    data["bot"]["1"]["seq"] = newest.seq  # the old layout: seq in the bot document, CRC over the payload
    payload = json.dumps(data, separators=(",", ":")).encode()
    legacy = json.dumps({"gen": newest.generation + 1, "bytes": len(payload), "crc32": zlib.crc32(payload)})
    slot_paths(tmp_path / SNAPSHOT_FILE)[(newest.generation + 1) % 2].write_bytes(
        legacy.encode() + b"\n" + payload + b"\n")
    assert read_snapshot_file(tmp_path / SNAPSHOT_FILE)[0]["seq"] == 2
    again = PositionBook(machine(), tmp_path)
    report = again.open()
    assert (report.snapshot_seq, report.rolled_forward) == (2, 0)
    assert again.live["P1"].to_dict() == expected
    again.apply(again.live["P1"], "max_hold", {}, now=T0, env=Env())
    again.close()
    assert read_slots(tmp_path / SNAPSHOT_FILE).seq == 3


# --- fsync policies -------------------------------------------------------------------------------
def count_slot_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The snapshot slots' fdatasyncs (the journal's own are not counted)."""
    synced: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        if "snapshot-" in os.readlink(f"/proc/self/fd/{fd}"):
            synced.append(fd)
        real(fd)

    monkeypatch.setattr(snapshot_module.os, "fdatasync", counting)
    return synced


def drive(book: PositionBook, transitions: int) -> None:
    now = T0
    while transitions > 0:
        p = book.new_position("BTC/USDC:USDC")
        for event, payload in PATHS["partial_tp"][:transitions]:
            now += timedelta(seconds=1)
            book.apply(p, event, payload, now=now, env=Env())
            transitions -= 1


def test_always_syncs_the_snapshot_after_every_transition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = count_slot_syncs(monkeypatch)
    book = PositionBook(machine(), tmp_path, fsync="always")
    book.open()
    drive(book, 10)
    assert len(synced) == 10
    book.close()


def test_checkpoint_syncs_every_n_writes_and_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = count_slot_syncs(monkeypatch)
    book = PositionBook(machine(), tmp_path, fsync="checkpoint", checkpoint_every=4)
    book.open()
    drive(book, 10)
    assert len(synced) == 2  # after the 4th and the 8th slot write
    book.close()
    assert len(synced) == 4  # and both slot files on close


def test_a_user_command_value_is_synced_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = PositionBook(machine(), tmp_path, fsync="checkpoint")
    book.open()
    synced = count_slot_syncs(monkeypatch)
    book.set_bot_value("paused", True, sync=True)
    assert len(synced) == 1
    book.close()


# --- a failed commit ------------------------------------------------------------------------------
def test_a_failed_journal_fsync_stops_the_book_and_the_snapshot(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    book = PositionBook(machine(), tmp_path)
    book.open()
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=T0, env=Env())
    slots_before = [slot.read_bytes() for slot in slot_paths(tmp_path / SNAPSHOT_FILE) if slot.exists()]

    def failing_sync(self) -> None:  # type: ignore[no-untyped-def]
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(type(book.journal), "sync", failing_sync)
    with pytest.raises(OSError):
        book.apply(p, "entry_filled", fill("0.010", "60010.0"), now=T0, env=Env())
    monkeypatch.undo()
    with pytest.raises(BookFailed, match="restart to recover"):
        book.apply(p, "max_hold", {}, now=T0, env=Env())
    with pytest.raises(BookFailed):
        book.record_command("pause", "cli:x", now=T0)
    book.close()
    # the snapshot never showed the uncommitted transition, not even on close
    assert [slot.read_bytes() for slot in slot_paths(tmp_path / SNAPSHOT_FILE) if slot.exists()] == slots_before
    # here the line did reach the file: a restart rolls it forward from the journal
    assert [r["seq"] for r in read_records(tmp_path / JOURNAL_FILE)] == [1, 2]
    again = PositionBook(machine(), tmp_path)
    assert again.open().rolled_forward == 1 and again.live["P1"].state == "open"
    again.close()


def test_apply_writes_nothing_before_the_journal_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The snapshot slot and the history line are encoded while the journal's fsync waits, and written
    after it."""
    book = PositionBook(machine(), tmp_path)
    book.open()
    order: list[str] = []
    real_pwrite, real_sync = os.pwrite, type(book.journal).sync

    def pwrite(fd: int, data: bytes, at: int) -> int:
        if "snapshot-" in os.readlink(f"/proc/self/fd/{fd}"):
            order.append("snapshot")
        else:
            order.append("journal write" if data.strip(b"\0") else "journal padding")
        return real_pwrite(fd, data, at)

    monkeypatch.setattr(snapshot_module.os, "pwrite", pwrite)
    monkeypatch.setattr(type(book.journal), "sync", lambda self: (order.append("journal fsync"), real_sync(self))[1])
    real_history_write = type(book.history).write
    monkeypatch.setattr(type(book.history), "write",
                        lambda self, pending, sync=False: (order.append("history") if pending else None,
                                                           real_history_write(self, pending, sync))[1])
    p = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["closed"]:
        book.apply(p, event, payload, now=T0, env=Env())
    assert order == ["journal padding", "journal write", "journal fsync", "snapshot",
                     "journal write", "journal fsync", "history", "snapshot"]
    book.close()


# --- serialisation helpers -----------------------------------------------------------------------
def test_iso_is_isoformat_and_keeps_zones_apart() -> None:
    utc = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert utc == paris
    assert iso(utc) == utc.isoformat() == "2025-03-03T12:00:00+00:00"
    assert iso(paris) == paris.isoformat() == "2025-03-03T13:00:00+01:00"
    assert iso(utc) == "2025-03-03T12:00:00+00:00"  # memoised per zone, not per instant


def test_to_json_is_compact_utf8_json_that_parses_back() -> None:
    value = {"a": [1, 2.5, None, True], "é": "ü\n\"", "n": {"x": {}}}
    assert to_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert from_json(to_json(value)) == value


def test_to_json_falls_back_for_wide_integers_and_keeps_int_keys_as_json_does() -> None:
    assert to_json({"n": 2**70}) == b'{"n":1180591620717411303424}'
    assert to_json({1: "a"}) == b'{"1":"a"}'


def test_to_json_refuses_what_json_refuses() -> None:
    for value in (datetime(2025, 1, 1, tzinfo=UTC), Decimal("1.5"), {"x": object()}):
        with pytest.raises(TypeError):
            to_json(value)


def test_from_json_reads_what_older_versions_wrote_and_refuses_garbage() -> None:
    assert math.isnan(from_json(b'{"x":NaN}')["x"])
    with pytest.raises(json.JSONDecodeError):
        from_json(b'{"x":')
