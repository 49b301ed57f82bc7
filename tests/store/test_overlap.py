"""FsyncOverlap: the work runs on the helper while the caller syncs; errors reach the caller only after
both sides have finished."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.positions.book import PositionBook
from engine.store.overlap import FsyncOverlap
from tests.positions.support import T0, Env, machine, plan


def test_work_runs_on_the_helper_while_the_caller_syncs() -> None:
    overlap = FsyncOverlap()
    started, seen = threading.Event(), {}

    def sync() -> None:
        seen["sync"] = threading.current_thread().name
        # the work gets to run while the caller is still here: proof that the two overlap
        assert started.wait(10), "the helper never ran while the caller was syncing"

    def work() -> int:
        seen["work"] = threading.current_thread().name
        started.set()
        return 42

    assert overlap.during(sync, work) == 42
    assert seen == {"sync": threading.current_thread().name, "work": "fsync-overlap"}
    overlap.close()


def test_a_failed_sync_is_raised_after_the_work_has_finished() -> None:
    overlap = FsyncOverlap()
    done = []

    def sync() -> None:
        raise OSError("EIO")

    with pytest.raises(OSError, match="EIO"):
        overlap.during(sync, lambda: done.append("work"))
    assert done == ["work"]  # the helper was not left running behind the caller's back
    assert overlap.during(lambda: None, lambda: "again") == "again"  # still usable
    overlap.close()


def test_a_failed_work_is_raised_in_the_caller_and_a_failed_sync_wins() -> None:
    overlap = FsyncOverlap()

    def work() -> None:
        raise ValueError("bad document")

    with pytest.raises(ValueError, match="bad document"):
        overlap.during(lambda: None, work)

    def sync() -> None:
        raise OSError("EIO")

    with pytest.raises(OSError):
        overlap.during(sync, work)
    overlap.close()


def test_close_stops_the_helper_and_refuses_more_work() -> None:
    overlap = FsyncOverlap(name="overlap-under-test")
    overlap.during(lambda: None, lambda: None)
    assert any(t.name == "overlap-under-test" for t in threading.enumerate())
    overlap.close()
    overlap.close()  # idempotent
    assert not any(t.name == "overlap-under-test" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        overlap.during(lambda: None, lambda: None)


def test_only_a_durable_book_runs_a_helper_thread(tmp_path: Path) -> None:
    for durable in (False, True):
        book = PositionBook(machine(), tmp_path / ("durable" if durable else "backtest"), durable=durable)
        book.open()
        book.apply(book.new_position("BTC/USDC:USDC"), "signal", {"plan": plan()}, now=T0, env=Env())
        helper = book._overlap._thread
        assert (helper is not None and helper.is_alive()) is durable
        book.close()
        assert book._overlap._thread is None
        assert helper is None or not helper.is_alive()
