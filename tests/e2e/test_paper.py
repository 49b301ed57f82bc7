"""`python -m engine run PROFILE --data DIR` (paper trading on a replay of real candles), in-process
through `engine.cli.main.main`, stopped by `--candles N` and started again.

A stop leaves the state folder complete: the next run resumes the live positions where they were, the
journal continues (seq, position numbers and client order ids never repeat), and the replay cursor
continues from the last candle processed. With `runtime.close_on_shutdown: false` the positions left
open are protected by their stop on the saved venue; with `true` a stop leaves nothing open.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.cli.main import main
from engine.market.candles import timeframe_ms
from tests.e2e.support import (
    assert_client_ids_unique,
    assert_one_stop_per_protected_position,
    assert_protect_steps,
    assert_replay_equals_snapshot,
    assert_seq_contiguous,
    assert_venue_matches_book,
    journal,
    make_profile,
    open_book,
    saved_venue,
    state_dir_of,
)

STEP_MS = timeframe_ms("5m")
PAPER: dict[str, Any] = {
    "universe": {"max_symbols": 3, "whitelist": ["BTCUSDC", "ETHUSDC", "SOLUSDC"]},
    # positions that live for a while, so that a stop usually finds some open
    "orders": {"stop_loss_pct": 1.0, "take_profit": [{"at_pct": 0.5, "size_pct": 50}, {"at_pct": 1.5, "size_pct": 50}]},
    "risk": {"max_hold": "2h"},
}


@dataclass
class Stop:
    """What one `run --candles N` left behind."""

    candles: int
    rc: int
    out: str
    err: str
    records: list[dict[str, Any]]
    live: dict[str, dict[str, Any]]
    cursor_ms: int
    copy: Path  # a copy of the state folder as this run left it


def paper_run(profile: Path, data: Path, candles: int, copy_to: Path) -> Stop:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["run", str(profile), "--data", str(data), "--speed", "1e9", "--candles", str(candles)])
    state = state_dir_of(profile)
    book = open_book(profile, state)
    try:
        live = {pid: p.to_dict() for pid, p in book.live.items()}
        cursor = int(book.bot["paper"]["cursor_ms"])
    finally:
        book.close()
    shutil.copytree(state, copy_to)
    return Stop(candles, rc, out.getvalue(), err.getvalue(), journal(state), live, cursor, copy_to)


def until(profile: Path, data: Path, root: Path, first: int, then: int, done, limit: int = 8) -> list[Stop]:  # noqa: ANN001
    """Run `first` candles, then `then` more at a time until `done(stop)` or `limit` runs."""
    stops = [paper_run(profile, data, first, root / "stop-1")]
    while not done(stops[-1]) and len(stops) < limit:
        stops.append(paper_run(profile, data, then, root / f"stop-{len(stops) + 1}"))
    return stops


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, list[Stop], Stop]:
    """close_on_shutdown false: run until a stop leaves positions open, then one more run resumes."""
    root = tmp_path_factory.mktemp("paper-kept")
    profile = make_profile(root, "kept", runtime={"close_on_shutdown": False}, **PAPER)
    stops = until(profile, shared_data, root, 250, 60, lambda s: bool(s.live))
    resumed = paper_run(profile, shared_data, 150, root / "resumed")
    return profile, stops, resumed


def test_paper_replay_trades_real_candles(kept: tuple[Path, list[Stop], Stop]) -> None:
    profile, stops, resumed = kept
    for stop in [*stops, resumed]:
        assert stop.rc == 0, stop.err
        assert "paper trading · profile kept" in stop.out
        assert "3 symbols: BTC/USDC:USDC, ETH/USDC:USDC, SOL/USDC:USDC" in stop.out
        assert "run the same command to resume" in stop.out
    records = resumed.records
    assert sum(r["event"] == "signal" for r in records) >= 5
    assert assert_protect_steps(records) >= 5
    assert_seq_contiguous(records)
    assert_client_ids_unique(records)
    assert_one_stop_per_protected_position(records)


def test_positions_left_open_are_protected_by_their_stop_on_the_saved_venue(
    kept: tuple[Path, list[Stop], Stop], shared_data: Path
) -> None:
    profile, stops, _ = kept
    stop = stops[-1]
    assert stop.live, f"no run of {[s.candles for s in stops]} candles stopped with a position open"
    assert f"shutting down: {len(stop.live)} position(s) left open, protected by their stop-loss" in stop.out
    book = assert_replay_equals_snapshot(profile, stop.copy)
    try:
        assert all(p.state in ("open", "partial_tp") for p in book.live.values())
        asyncio.run(assert_venue_matches_book(saved_venue(profile, stop.copy, shared_data), book))
    finally:
        book.close()


def test_the_next_run_resumes_exactly(kept: tuple[Path, list[Stop], Stop], shared_data: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    profile, stops, resumed = kept
    runs = [*stops, resumed]
    for before, after in zip(runs, runs[1:], strict=False):
        # the banner says what was resumed
        assert f"resumed {len(before.live)} live position(s) at seq {len(before.records)}" in after.out
        # the journal only grows: what a run wrote is kept byte for byte, seq goes on from there
        assert after.records[: len(before.records)] == before.records
        new = after.records[len(before.records):]
        assert [r["seq"] for r in new] == list(range(len(before.records) + 1, len(after.records) + 1))
        # market time continues from the last candle processed, one 5m step per candle
        assert after.cursor_ms == before.cursor_ms + after.candles * STEP_MS
        if before.records and new:
            assert new[0]["time"] >= before.records[-1]["time"]
        # a live position continues in the state it was left in
        for pid, position in before.live.items():
            mine = [r for r in new if r["position"] == pid]
            if mine:
                assert mine[0]["from"] == position["state"]
            else:
                assert after.live[pid] == position
        # new positions get new numbers
        old_numbers = {int(r["position"][1:]) for r in before.records}
        new_numbers = {int(r["position"][1:]) for r in new if r["event"] == "signal"}
        assert not old_numbers & new_numbers
        if old_numbers and new_numbers:
            assert min(new_numbers) > max(old_numbers)
    records = resumed.records
    signals = [r["position"] for r in records if r["event"] == "signal"]
    assert len(signals) == len(set(signals)), "a position id was used for two entries"
    assert_client_ids_unique(records)
    assert_one_stop_per_protected_position(records)
    book = assert_replay_equals_snapshot(profile, state_dir_of(profile))
    try:
        asyncio.run(assert_venue_matches_book(saved_venue(profile, state_dir_of(profile), shared_data), book))
        live = sorted(book.live)
    finally:
        book.close()
    # `status` reads the same snapshot
    capsys.readouterr()
    assert main(["status", str(profile), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["seq"] == len(records)
    assert sorted(p["id"] for p in status["positions"]) == live == sorted(resumed.live)


def test_close_on_shutdown_leaves_no_position_and_no_order(tmp_path: Path, shared_data: Path) -> None:
    profile = make_profile(tmp_path, "closing", runtime={"close_on_shutdown": True}, **PAPER)
    state = state_dir_of(profile)

    def closed_some(stop: Stop) -> bool:
        return any(r["event"] == "close_requested" for r in stop.records)

    stops = until(profile, shared_data, tmp_path, 250, 60, closed_some)
    assert closed_some(stops[-1]), "no stop found a position open to close"
    for stop in stops:
        assert stop.rc == 0, stop.err
        assert stop.live == {}
        book = assert_replay_equals_snapshot(profile, stop.copy)
        try:
            assert not book.live
            venue = saved_venue(profile, stop.copy, shared_data)
            assert asyncio.run(venue.open_orders()) == []
            assert asyncio.run(venue.positions()) == []
        finally:
            book.close()
    last = stops[-1]
    shutdown = [r for r in last.records if r["event"] == "close_requested"]
    m = re.search(r"shutting down: closing (\d+) open position\(s\)", last.out)
    assert m and int(m.group(1)) == len({r["position"] for r in shutdown if r["seq"] > len(stops[-2].records)}
                                        if len(stops) > 1 else {r["position"] for r in shutdown})
    for r in shutdown:
        assert r["payload"] == {"reason": "shutdown"}
        fills = [x for x in last.records if x["position"] == r["position"] and x["to"] == "closed"]
        assert fills and fills[0]["event"] == "close_filled" and fills[0]["payload"]["reason"] == "shutdown"
    assert_client_ids_unique(last.records)
    assert_one_stop_per_protected_position(last.records)
    assert state.is_dir()


def test_synthetic_market_is_the_offline_default_and_resumes_with_its_seed(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, "synthetic", universe={"max_symbols": 3}, risk={"max_hold": "1h"},
                           runtime={"close_on_shutdown": False})
    state = state_dir_of(profile)
    outs = []
    cursors = []
    for candles, seed in ((150, 7), (60, 99)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["run", str(profile), "--speed", "1e9", "--candles", str(candles), "--seed", str(seed)]) == 0
        outs.append(out.getvalue())
        book = open_book(profile, state)
        try:
            assert book.bot["paper"]["seed"] == 7, "the seed of the first start is kept on resume"
            cursors.append(int(book.bot["paper"]["cursor_ms"]))
        finally:
            book.close()
    for text in outs:
        assert "SYNTHETIC market data" in text and "seed 7" in text, "synthetic prices must be labelled"
    assert "resumed" in outs[1]
    assert cursors[1] == cursors[0] + 60 * STEP_MS
    records = journal(state)
    assert sum(r["event"] == "entry_filled" for r in records) >= 1
    assert_client_ids_unique(records)
    assert_one_stop_per_protected_position(records)
    book = assert_replay_equals_snapshot(profile, state)
    try:
        asyncio.run(assert_venue_matches_book(saved_venue(profile, state, None), book))
    finally:
        book.close()


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


def _cursor(profile: Path) -> int:
    book = open_book(profile, state_dir_of(profile))
    try:
        return int(book.bot["paper"]["cursor_ms"])
    finally:
        book.close()


def test_from_starts_the_replay_at_that_day(tmp_path: Path, shared_data: Path) -> None:
    profile = make_profile(tmp_path, "from", **PAPER)
    rc, out, err = _run(["run", str(profile), "--data", str(shared_data), "--from", "2025-03-01",
                         "--speed", "1e9", "--candles", "4"])
    assert rc == 0, err
    day = 1740787200000  # 2025-03-01T00:00Z
    assert _cursor(profile) == day + 3 * STEP_MS, "four candles traded from 00:00 on the day given"


def test_a_hole_in_the_files_is_jumped_not_stepped_through(tmp_path: Path, shared_data: Path) -> None:
    """The shared files hold 2023-07/08 and 2025-01 → 08: a replay crossing the hole goes straight
    from the last 2023 candle to the first 2025 one, and says so."""
    profile = make_profile(tmp_path, "gap", **{**PAPER, "universe": {"max_symbols": 1, "whitelist": ["BTCUSDC"]}})
    rc, out, err = _run(["run", str(profile), "--data", str(shared_data), "--from", "2023-08-17",
                         "--speed", "1e9", "--candles", "400"])
    assert rc == 0, err
    assert "skipping the gap" in out
    assert _cursor(profile) > 1735603200000, "the replay reached the 2025 segment (after 2024-12-31)"


def test_a_state_folder_keeps_its_market(tmp_path: Path, shared_data: Path) -> None:
    profile = make_profile(tmp_path, "keep", **PAPER)
    assert _run(["run", str(profile), "--data", str(shared_data), "--speed", "1e9", "--candles", "2"])[0] == 0
    rc, _, err = _run(["--offline", "run", str(profile), "--speed", "1e9", "--candles", "2"])
    assert rc == 2
    assert "file market, not the synthetic one" in err and "Traceback" not in err



def test_a_file_replay_picks_its_universe_by_the_rules(tmp_path: Path, shared_data: Path) -> None:
    """The universe rules choose among the replayed symbols at every rotation, from the candles closed by
    then (engine.market.rotation, tested point in time there); the replay says what they picked and enters
    only on what is in."""
    profile = make_profile(tmp_path, "rules", **{**PAPER, "universe": {**PAPER["universe"], "rotation": "1h"}})
    rc, out, err = _run(["run", str(profile), "--data", str(shared_data), "--from", "2025-03-01",
                         "--speed", "1e9", "--candles", "300"])
    assert rc == 0, err
    picked = re.search(r"universe (\d+) symbols: \+ (.*)", out)
    assert picked is not None, out[-2000:]
    signals = [r for r in journal(state_dir_of(profile)) if r["event"] == "signal"]
    assert signals and {r["symbol"] for r in signals} <= set(picked.group(2).split())
