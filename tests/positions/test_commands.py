"""Command records: user commands (pause, resume, panic, close, profile switch) are journaled with who
sent them, share the seq counter with transitions, survive a restart, and every reader of the journal
(resume, roll-forward, replay, `log`, `status`, `diagram --position`) treats them as commands."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.positions.book import JOURNAL_FILE, SNAPSHOT_FILE, PositionBook, replay_journal
from engine.store.journal import is_command, read_records, transitions
from engine.store.snapshot import read_snapshot_file, slot_paths
from tests.positions.support import MACHINE_FILE, PATHS, T0, Env, fill, machine, plan

S = timedelta(seconds=1)


def open_book(path: Path) -> PositionBook:
    book = PositionBook(machine(), path)
    book.open()
    return book


def interleaved(path: Path) -> PositionBook:
    """P1 partial_tp, P2 closed, P3 entering, with a command between most transitions."""
    book = open_book(path)
    env = Env()
    p1 = book.new_position("BTC/USDC:USDC")
    book.apply(p1, "signal", {"plan": plan()}, now=T0, env=env)                                  # 1
    book.record_command("pause", "telegram:123456", now=T0 + S, bot={"paused": True})             # 2
    book.apply(p1, "entry_filled", fill("0.010", "60010.0"), now=T0 + 2 * S, env=env)             # 3
    p2 = book.new_position("ETH/USDC:USDC")
    book.apply(p2, "signal", {"plan": plan()}, now=T0 + 3 * S, env=env)                          # 4
    book.record_command("close", "cli:alice", {"position": "P2"}, now=T0 + 4 * S)                 # 5
    book.apply(p2, "entry_rejected", {"code": -2019, "msg": "margin"}, now=T0 + 5 * S, env=env)   # 6
    book.record_command("resume", "telegram:123456", now=T0 + 6 * S, bot={"paused": False})       # 7
    p3 = book.new_position("SOL/USDC:USDC")
    book.apply(p3, "signal", {"plan": plan()}, now=T0 + 7 * S, env=env)                          # 8
    book.apply(p1, "tp_filled", fill("0.004", "60240.0", step=1), now=T0 + 8 * S, env=env)        # 9
    book.record_command("profile", "telegram:123456", {"to": "aggressive"}, now=T0 + 9 * S)       # 10
    return book


def test_record_command_is_journaled_with_its_sender_and_shares_the_seq(tmp_path: Path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=T0, env=Env())
    record = book.record_command("pause", "telegram:123456", {"reason": "news"}, now=T0 + S, bot={"paused": True})
    assert record == {"seq": 2, "time": (T0 + S).isoformat(), "kind": "command", "command": "pause",
                      "by": "telegram:123456", "args": {"reason": "news"}, "bot": {"paused": True}}
    # on disk before it returned, read back with a fresh reader as a crash right now would
    assert list(read_records(tmp_path / JOURNAL_FILE))[-1] == record
    book.apply(p, "entry_filled", fill("0.010", "60010.0"), now=T0 + 2 * S, env=Env())
    assert [r["seq"] for r in read_records(tmp_path / JOURNAL_FILE)] == [1, 2, 3]
    bot, _ = read_snapshot_file(tmp_path / SNAPSHOT_FILE)
    assert bot["paused"] is True and bot["seq"] == 3
    book.close()


def test_record_command_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    book = open_book(tmp_path)
    with pytest.raises(ValueError, match="sender"):
        book.record_command("pause", "", now=T0)
    with pytest.raises(ValueError, match="book's own keys"):
        book.record_command("pause", "cli:x", now=T0, bot={"seq": 99})
    assert book.journal.last_seq == 0 and not (tmp_path / JOURNAL_FILE).read_bytes()
    book.close()


def test_command_records_survive_a_restart(tmp_path: Path) -> None:
    book = interleaved(tmp_path)
    live = {pid: p.to_dict() for pid, p in book.live.items()}
    book.close()
    again = PositionBook(machine(), tmp_path)
    report = again.open()
    assert report.journal_seq == report.snapshot_seq == 10 and report.rolled_forward == 0
    assert {pid: p.to_dict() for pid, p in again.live.items()} == live
    assert again.bot["paused"] is False
    commands = [r for r in read_records(tmp_path / JOURNAL_FILE) if is_command(r)]
    assert [(r["seq"], r["command"], r["by"]) for r in commands] == [
        (2, "pause", "telegram:123456"), (5, "close", "cli:alice"), (7, "resume", "telegram:123456"),
        (10, "profile", "telegram:123456"),
    ]
    # the next record continues the shared counter
    again.apply(again.live["P3"], "entry_filled", fill("0.010", "60010.0"), now=T0 + 10 * S, env=Env())
    assert again.journal.last_record()["seq"] == 11
    again.close()


def test_a_command_as_the_last_record_does_not_hide_a_contradicting_snapshot(tmp_path: Path) -> None:
    """The tail check looks past trailing commands to the last transition."""
    from engine.positions.book import RecoveryError
    from engine.store.snapshot import encode_slot, read_slots

    book = interleaved(tmp_path)
    book.close()
    generation, seq, data = read_slots(tmp_path / SNAPSHOT_FILE)
    data["positions"]["1"]["state"] = "closing"  # P1's last record (seq 9) moved it to partial_tp
    slot_paths(tmp_path / SNAPSHOT_FILE)[(generation + 1) % 2].write_bytes(encode_slot(generation + 1, data, seq))
    with pytest.raises(RecoveryError, match="journal's last record"):
        PositionBook(machine(), tmp_path).open()


def test_replay_skips_commands_and_equals_the_snapshot(tmp_path: Path) -> None:
    interleaved(tmp_path).close()
    records = list(read_records(tmp_path / JOURNAL_FILE))
    replayed = replay_journal(machine(), records)
    assert replayed.keys() == {"P1", "P2", "P3"}
    _, snapshot = read_snapshot_file(tmp_path / SNAPSHOT_FILE)
    assert {pid: p.to_dict() for pid, p in replayed.items() if p.state != "closed"} == {p["id"]: p for p in snapshot}
    assert {pid: p.to_dict() for pid, p in replay_journal(machine(), transitions(records)).items()} == {
        pid: p.to_dict() for pid, p in replayed.items()
    }


def test_a_lagging_snapshot_rolls_forward_through_commands_and_their_bot_values(tmp_path: Path) -> None:
    book = open_book(tmp_path)
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=T0, env=Env())
    stale = [slot.read_bytes() for slot in slot_paths(tmp_path / SNAPSHOT_FILE) if slot.exists()]
    book.record_command("pause", "telegram:1", now=T0 + S, bot={"paused": True})
    book.apply(p, "entry_filled", fill("0.010", "60010.0"), now=T0 + 2 * S, env=Env())
    book.record_command("panic", "telegram:1", now=T0 + 3 * S)
    book.apply(p, "panic", {}, now=T0 + 3 * S, env=Env())
    book.record_command("note", "cli:ops", {"text": "last"}, now=T0 + 4 * S)
    expected = p.to_dict()
    book.close()
    for slot in slot_paths(tmp_path / SNAPSHOT_FILE):
        slot.unlink()
    slot_paths(tmp_path / SNAPSHOT_FILE)[1].write_bytes(stale[0])  # as if killed right after seq 1

    again = PositionBook(machine(), tmp_path)
    report = again.open()
    assert report.snapshot_seq == 1 and report.rolled_forward == 5
    assert again.live["P1"].to_dict() == expected
    assert again.bot["paused"] is True and again.bot["seq"] == 6
    again.close()
    # caught up: the next start rolls nothing forward even though the last record is a command
    third = PositionBook(machine(), tmp_path)
    assert third.open().rolled_forward == 0
    third.close()


def test_lost_snapshot_is_rebuilt_from_a_journal_with_commands(tmp_path: Path) -> None:
    book = interleaved(tmp_path)
    live = {pid: p.to_dict() for pid, p in book.live.items()}
    book.close()
    for slot in slot_paths(tmp_path / SNAPSHOT_FILE):
        slot.unlink()
    again = PositionBook(machine(), tmp_path)
    again.open()
    assert {pid: p.to_dict() for pid, p in again.live.items()} == live
    assert again.bot["paused"] is False and again.bot["seq"] == 10
    assert again.new_position("BTC/USDC:USDC").id == "P4"
    again.close()


def test_a_command_only_journal_opens(tmp_path: Path) -> None:
    book = open_book(tmp_path)
    book.record_command("pause", "telegram:1", now=T0, bot={"paused": True})
    book.close()
    again = PositionBook(machine(), tmp_path)
    assert again.open().journal_seq == 1 and again.bot["paused"] is True
    again.close()


def test_a_non_durable_book_still_fsyncs_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.store.journal as journal_module

    synced: list[int] = []
    real = journal_module.os.fdatasync
    monkeypatch.setattr(journal_module.os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    book = PositionBook(machine(), tmp_path, durable=False)
    book.open()
    p = book.new_position("BTC/USDC:USDC")
    book.apply(p, "signal", {"plan": plan()}, now=T0, env=Env())
    assert not synced
    book.record_command("pause", "cli:x", now=T0)
    assert synced == [book.journal.fileno()]
    book.close()


# --- the command line ---------------------------------------------------------------------------
def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_log_table_shows_commands_as_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    interleaved(tmp_path).close()
    code, out, err = run(capsys, "log", "--state", str(tmp_path))
    assert code == 0, err
    rows = {int(line.split()[0]): line.split() for line in out.splitlines()[1:] if line.strip()}
    assert sorted(rows) == list(range(1, 11))
    assert rows[2][3:] == ["-", "-", "/pause", "-", "by", "telegram:123456;", "paused=True"]
    assert rows[5][3:] == ["-", "-", "/close", "-", "by", "cli:alice;", "position=P2"]
    assert rows[10][5:] == ["/profile", "-", "by", "telegram:123456;", "to=aggressive"]
    assert rows[3][3:9] == ["P1", "BTC/USDC:USDC", "entry_filled", "entering", "→", "open"]


def test_log_json_includes_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    interleaved(tmp_path).close()
    code, out, err = run(capsys, "log", "--state", str(tmp_path), "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["seq"] for r in records] == list(range(1, 11))
    assert records[1] == {"seq": 2, "time": (T0 + S).isoformat(), "kind": "command", "command": "pause",
                          "by": "telegram:123456", "args": {}, "bot": {"paused": True}}


def test_log_filters_treat_commands_as_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    interleaved(tmp_path).close()

    def seqs(*argv: str) -> list[int]:
        code, out, err = run(capsys, "log", "--state", str(tmp_path), "--json", *argv)
        assert code == 0, err
        return [json.loads(line)["seq"] for line in out.splitlines()]

    assert seqs("--event", "pause") == [2]
    assert seqs("--event", "/resume") == [7]
    assert seqs("--position", "P2") == [4, 6]  # a command naming P2 in its args is not P2's transition
    assert seqs("--symbol", "BTCUSDC") == [1, 3, 9]
    assert seqs("--tail", "2") == [9, 10]


def test_diagram_of_a_position_ignores_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    interleaved(tmp_path).close()
    code, out, err = run(capsys, "diagram", str(MACHINE_FILE), "--position", "P1", "--state", str(tmp_path))
    assert code == 0, err
    assert "%% position P1: now in partial_tp" in out


def test_status_after_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = interleaved(tmp_path / "state" / "demo")
    book.record_command("pause", "telegram:123456", now=T0 + 20 * S, bot={"paused": True})
    book.close()
    profile = tmp_path / "demo.yaml"
    profile.write_text(f"name: demo\nruntime:\n  state_dir: {tmp_path / 'state'}\n  machine: {MACHINE_FILE}\n",
                       encoding="utf-8")
    code, out, err = run(capsys, "status", str(profile))
    assert code == 0, err
    assert "seq 11 · 2 live position(s) · bot paused" in out.splitlines()[0]  # an older top-level pause
    code, out, err = run(capsys, "status", str(profile), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["seq"] == 11 and [p["id"] for p in data["positions"]] == ["P1", "P3"]


def test_every_path_still_replays_with_a_command_after_each_transition(tmp_path: Path) -> None:
    book = open_book(tmp_path)
    now = T0
    for state, steps in PATHS.items():
        p = book.new_position("BNB/USDC:USDC")
        for event, payload in steps:
            now += S
            book.apply(p, event, payload, now=now, env=Env())
            book.record_command("note", f"cli:{state}", {"after": event}, now=now)
    book.close()
    records = list(read_records(tmp_path / JOURNAL_FILE))
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    replayed = replay_journal(machine(), records)
    _, snapshot = read_snapshot_file(tmp_path / SNAPSHOT_FILE)
    assert {pid: p.to_dict() for pid, p in replayed.items() if p.state != "closed"} == {p["id"]: p for p in snapshot}
