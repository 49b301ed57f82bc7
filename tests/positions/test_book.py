"""Durability and exact resume of the position book, on real files."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.positions.book import (
    HISTORY_FILE,
    JOURNAL_FILE,
    SNAPSHOT_FILE,
    PositionBook,
    RecoveryError,
    replay_journal,
)
from engine.store.history import History
from engine.store.journal import read_records
from engine.store.snapshot import encode_slot, read_slots, read_snapshot_file, slot_paths
from tests.positions.support import PATHS, T0, Env, fill, machine, plan


def open_book(path) -> PositionBook:
    book = PositionBook(machine(), path)
    book.open()
    return book


def snapshot_positions(path) -> dict[str, dict]:
    _, positions = read_snapshot_file(path / SNAPSHOT_FILE)
    return {p["id"]: p for p in positions}


def slot_bytes(path) -> list[bytes | None]:
    return [slot.read_bytes() if slot.exists() else None for slot in slot_paths(path / SNAPSHOT_FILE)]


def restore_slots(path, blobs: list[bytes | None]) -> None:
    for slot, blob in zip(slot_paths(path / SNAPSHOT_FILE), blobs, strict=True):
        if blob is None:
            slot.unlink(missing_ok=True)
        else:
            slot.write_bytes(blob)


def test_every_transition_is_journaled_and_snapshotted_before_apply_returns(tmp_path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    for n, (event, payload) in enumerate(PATHS["partial_tp"], start=1):
        book.apply(p, event, payload, now=T0 + timedelta(seconds=n), env=Env())
        # read back from disk with fresh readers, as a crash right now would
        last = list(read_records(tmp_path / JOURNAL_FILE))[-1]
        assert last["seq"] == n and last["event"] == event and last["to"] == p.state
        assert last["time"] == (T0 + timedelta(seconds=n)).isoformat()
        assert snapshot_positions(tmp_path)["P1"] == p.to_dict()
    book.close()


def test_refused_signal_leaves_no_trace(tmp_path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    outcome = book.apply(p, "signal", {"plan": plan()}, now=T0, env=Env(risk=_refusing("max_positions")))
    assert not outcome.applied and outcome.refusals == ("risk.max_positions",)
    assert book.journal.last_seq == 0 and not book.live
    assert not (tmp_path / JOURNAL_FILE).read_bytes()


def _refusing(*rules: str):
    from tests.positions.support import Risk

    return Risk(refuse=set(rules))


def test_min_notional_guard_refuses_small_entries_and_slices(tmp_path) -> None:
    book = open_book(tmp_path)
    small = plan(qty="0.001")  # 60 USDC < 100 on BTCUSDC
    p = book.new_position("BTC/USDC:USDC")
    assert book.apply(p, "signal", {"plan": small}, now=T0, env=Env()).refusals == ("sizing.meets_min_notional",)
    sliced = plan()
    sliced["take_profits"][0]["qty"] = "0.001"  # one 60 USDC slice: would be rejected with -4164
    p = book.new_position("BTC/USDC:USDC")
    assert not book.apply(p, "signal", {"plan": sliced}, now=T0, env=Env()).applied


def test_closed_positions_move_to_history_and_leave_the_snapshot(tmp_path) -> None:
    book = open_book(tmp_path)
    for _ in range(3):
        p = book.new_position("ETH/USDC:USDC")
        for event, payload in PATHS["open"]:
            book.apply(p, event, payload, now=T0, env=Env())
        book.apply(p, "sl_filled", fill("0.010", "58800.0"), now=T0, env=Env())
    keep = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["open"]:
        book.apply(keep, event, payload, now=T0, env=Env())
    book.close()
    assert list(snapshot_positions(tmp_path)) == [keep.id]
    history = list(History(tmp_path / HISTORY_FILE))
    assert [h["id"] for h in history] == ["P1", "P2", "P3"]
    assert all(h["state"] == "closed" and h["exit_reason"] == "sl" for h in history)


def test_resume_restores_every_position_exactly_without_rerunning_actions(tmp_path) -> None:
    book = open_book(tmp_path)
    positions = {}
    for state in ("entering", "open", "partial_tp", "closing", "emergency"):
        p = book.new_position("SOL/USDC:USDC")
        for event, payload in PATHS[state]:
            book.apply(p, event, payload, now=T0, env=Env())
        positions[p.id] = p.to_dict()
    book.close()

    again = PositionBook(machine(), tmp_path)
    report = again.open()
    assert report.live == 5 and report.rolled_forward == 0 and report.torn_tail is None
    assert {pid: p.to_dict() for pid, p in again.live.items()} == positions  # intents, counters, deadlines
    # the resumed machine continues from the restored state
    p = again.live["P2"]
    assert again.apply(p, "sl_filled", fill("0.010", "58800.0"), now=T0, env=Env()).dest == "closed"
    # and new positions never reuse an id
    assert again.new_position("SOL/USDC:USDC").id == "P6"


def test_journal_replay_equals_snapshot(tmp_path) -> None:
    book = open_book(tmp_path)
    for state in PATHS:
        p = book.new_position("BNB/USDC:USDC")
        for event, payload in PATHS[state]:
            book.apply(p, event, payload, now=T0, env=Env())
    book.close()
    replayed = replay_journal(machine(), read_records(tmp_path / JOURNAL_FILE))
    live = {pid: p.to_dict() for pid, p in replayed.items() if p.state != "closed"}
    assert live == snapshot_positions(tmp_path)
    closed = {h["id"]: h for h in History(tmp_path / HISTORY_FILE)}
    assert {pid: p.to_dict() for pid, p in replayed.items() if p.state == "closed"} == closed


def test_torn_last_line_is_reported_and_cut_not_fatal(tmp_path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["open"]:
        book.apply(p, event, payload, now=T0, env=Env())
    expected = p.to_dict()
    book.close()
    with (tmp_path / JOURNAL_FILE).open("ab") as fh:
        fh.write(b'{"seq":3,"time":"2025-03-03T12:00:00+00:00","position":"P1","ev')
    again = PositionBook(machine(), tmp_path)
    report = again.open()
    assert report.torn_tail is not None and "torn last record" in report.torn_tail
    assert again.live["P1"].to_dict() == expected
    assert (tmp_path / JOURNAL_FILE).read_bytes().endswith(b"\n")
    # the next transition gets seq 3, as if the torn write never happened
    again.apply(again.live["P1"], "max_hold", {}, now=T0, env=Env())
    assert again.journal.last_record()["seq"] == 3


def test_snapshot_lagging_the_journal_is_rolled_forward(tmp_path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=T0, env=Env())
    stale = slot_bytes(tmp_path)
    book.apply(p, "entry_filled", fill("0.010", "60010.0"), now=T0, env=Env())
    book.apply(p, "tp_filled", fill("0.004", "60240.0", step=1), now=T0, env=Env())
    expected = p.to_dict()
    book.close()
    restore_slots(tmp_path, stale)  # as if the process died before two snapshot writes

    again = PositionBook(machine(), tmp_path)
    report = again.open()
    assert report.rolled_forward == 2
    assert again.live["P1"].to_dict() == expected
    assert snapshot_positions(tmp_path)["P1"] == expected


def test_snapshot_ahead_of_journal_refuses_to_start(tmp_path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["open"]:
        book.apply(p, event, payload, now=T0, env=Env())
    book.close()
    lines = (tmp_path / JOURNAL_FILE).read_bytes().splitlines(keepends=True)
    (tmp_path / JOURNAL_FILE).write_bytes(lines[0])
    with pytest.raises(RecoveryError, match="journal lost records"):
        PositionBook(machine(), tmp_path).open()


def test_snapshot_contradicting_journal_tail_is_detected(tmp_path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["open"]:
        book.apply(p, event, payload, now=T0, env=Env())
    book.close()
    generation, seq, data = read_slots(tmp_path / SNAPSHOT_FILE)
    data["positions"]["1"]["state"] = "closing"
    slot_paths(tmp_path / SNAPSHOT_FILE)[(generation + 1) % 2].write_bytes(encode_slot(generation + 1, data, seq))
    with pytest.raises(RecoveryError, match="journal's last record"):
        PositionBook(machine(), tmp_path).open()


def test_action_failure_restores_the_position(tmp_path) -> None:
    from engine.machine.runtime import ActionFailed

    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=T0, env=Env())
    before = p.to_dict()
    with pytest.raises(ActionFailed):
        book.apply(p, "entry_filled", {"qty": "not-a-number", "price": "1"}, now=T0, env=Env())
    assert p.to_dict() == before and book.journal.last_seq == 1


def test_a_torn_snapshot_slot_falls_back_to_the_other_and_rolls_forward(tmp_path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    for event, payload in PATHS["partial_tp"]:
        book.apply(p, event, payload, now=T0, env=Env())
    expected = p.to_dict()
    book.close()
    generation = read_slots(tmp_path / SNAPSHOT_FILE).generation
    newest = slot_paths(tmp_path / SNAPSHOT_FILE)[generation % 2]
    newest.write_bytes(newest.read_bytes()[:40])  # torn in the middle of its write
    again = PositionBook(machine(), tmp_path)
    report = again.open()
    assert report.rolled_forward == 1
    assert again.live["P1"].to_dict() == expected


def test_lost_snapshot_is_rebuilt_from_the_whole_journal(tmp_path) -> None:
    book = open_book(tmp_path)
    for state in ("open", "closed", "partial_tp"):
        p = book.new_position("BTC/USDC:USDC")
        for event, payload in PATHS[state]:
            book.apply(p, event, payload, now=T0, env=Env())
    live = {pid: q.to_dict() for pid, q in book.live.items()}
    book.close()
    history_before = (tmp_path / HISTORY_FILE).read_bytes()
    for slot in slot_paths(tmp_path / SNAPSHOT_FILE):
        slot.unlink()
    again = PositionBook(machine(), tmp_path)
    again.open()
    assert {pid: q.to_dict() for pid, q in again.live.items()} == live
    assert (tmp_path / HISTORY_FILE).read_bytes() == history_before  # closings not recorded twice
    assert again.new_position("BTC/USDC:USDC").id == "P4"
