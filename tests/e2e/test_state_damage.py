"""A damaged or missing state file, end to end through the real CLI (paper, offline synthetic market).

- a record damaged in the middle of the journal stops `run` (exit 1) naming the file, the line and the
  seq and what to do; nothing is traded and no byte of the folder changes; `log` says the same;
- `repair --cut-at-damage` keeps a copy, cuts there, and the next `run` resumes from what is left;
- both snapshot slots gone: the restart rebuilds the same positions, risk counters, order prefix and
  paper-market identity from the journal alone;
- `venue.json` gone: the start is refused, since the paper balance and resting orders live nowhere else.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.bot.venues import VENUE_FILE
from engine.cli.main import main
from engine.positions.book import JOURNAL_FILE, SNAPSHOT_FILE
from tests.e2e.support import journal_records, make_profile, open_book, state_dir_of
from tests.store.support import damage_line


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def run(profile: Path, candles: int) -> tuple[int, str, str]:
    return cli("run", str(profile), "--speed", "1e9", "--candles", str(candles), "--seed", "7")


def folder_bytes(state: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(state.iterdir()) if p.is_file()}


def resumable(book) -> dict[str, Any]:  # noqa: ANN001 - a PositionBook
    """What a restart must bring back: every live position, the bot values (risk counters, paper
    identity), the order prefix and the next position id."""
    live = {pid: json.loads(json.dumps(p.to_dict(), default=str)) for pid, p in book.live.items()}
    bot = json.loads(json.dumps(dict(book.bot), default=str))
    return {"live": live, "bot": bot, "prefix": book.bot["order_prefix"]}


@pytest.fixture
def traded(tmp_path: Path) -> tuple[Path, Path]:
    """A profile whose first run left positions live and a journal long enough to damage inside."""
    profile = make_profile(tmp_path, "damage", universe={"max_symbols": 3}, risk={"max_hold": "12h"},
                           runtime={"close_on_shutdown": False})
    state = state_dir_of(profile)
    for _ in range(8):  # until a run stops with positions open (most do; the synthetic day can be quiet)
        rc, out, err = run(profile, 200)
        assert rc == 0, err
        book = open_book(profile, state)
        try:
            if book.live:
                break
        finally:
            book.close()
    assert len(journal_records(state)) >= 20, "the first run must leave a journal with something in the middle"
    return profile, state


def test_damage_inside_the_journal_stops_the_start_by_name_and_touches_nothing(traded) -> None:
    profile, state = traded
    journal = state / JOURNAL_FILE
    records = [json.loads(raw) for raw in journal.read_bytes().splitlines()]
    line = next(n for n, r in enumerate(records, start=1) if n >= 10 and "seq" in r)  # a transition, not a bot record
    seq = records[line - 1]["seq"]
    damage_line(journal, line)
    before = folder_bytes(state)

    rc, out, err = run(profile, 50)
    assert rc == 1
    assert str(journal) in err and f"line {line}" in err and f"seq {seq}" in err
    assert "repair" in err, "the message says what to do"
    assert "Traceback" not in out + err
    assert folder_bytes(state) == before, "a refused start writes nothing: no trade, no cursor, no snapshot"

    rc, out, err = cli("log", "--state", str(state))
    assert rc == 1 and f"line {line}" in out + err and "Traceback" not in out + err


def test_repair_cuts_at_the_damage_keeps_a_copy_and_the_next_run_resumes(traded) -> None:
    profile, state = traded
    journal = state / JOURNAL_FILE
    lines = journal.read_bytes().splitlines(keepends=True)
    damage_line(journal, 12)
    damaged = journal.read_bytes()

    rc, out, _ = cli("repair", str(profile))
    assert rc != 0 or "nothing changed" in out
    assert journal.read_bytes() == damaged, "repair without --cut-at-damage changes nothing"

    rc, out, err = cli("repair", str(profile), "--cut-at-damage")
    assert rc == 0, err
    assert b"".join(lines[:11]) == journal.read_bytes(), "the journal keeps exactly the records before the damage"
    copies = [p for p in state.rglob("*") if p.is_file() and p.read_bytes() == damaged]
    assert copies, "a copy of the damaged journal is kept"

    # long enough for something to happen even with every symbol busy (max_hold 12h = 144 candles)
    rc, out, err = run(profile, 200)
    assert rc == 0, err
    records = journal_records(state)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1)), "seqs go on from the cut, none reused"
    ids = [r["position"] for r in records if "position" in r]
    assert len(records) > 11 and ids


def test_without_both_snapshots_the_restart_rebuilds_everything_from_the_journal(traded) -> None:
    profile, state = traded
    book = open_book(profile, state)
    try:
        expected = resumable(book)
    finally:
        book.close()
    assert expected["live"], "the first run must leave positions live"
    assert expected["bot"].get("paper"), "the paper market's identity is a bot value"
    slots = list(state.glob(f"{Path(SNAPSHOT_FILE).stem}*{Path(SNAPSHOT_FILE).suffix}"))
    assert slots
    for path in slots:
        path.unlink()
    copy = state.parent / "copy"
    shutil.copytree(state, copy)

    rc, out, err = run(profile, 5)
    assert rc == 0, err
    assert "rebuil" in out + err, "the rebuild is said, not silent"
    book = open_book(profile, copy)
    try:
        assert resumable(book) == expected
    finally:
        book.close()


def test_without_venue_json_the_start_is_refused_by_name(traded, tmp_path: Path) -> None:
    profile, state = traded
    kept = tmp_path / "kept"
    shutil.copytree(state, kept)
    (state / VENUE_FILE).unlink()
    before = folder_bytes(state)
    rc, out, err = run(profile, 5)
    assert rc == 1
    assert VENUE_FILE in err and "Traceback" not in out + err
    assert folder_bytes(state) == before, "nothing reset: no new venue.json with the starting balance"
