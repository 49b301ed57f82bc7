"""Which market a paper state folder trades is read back even when both snapshot slots are lost: `run`
must not start a folder that trades Binance's live data on the synthetic market (or the reverse)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from engine.cli.run_cmd import paper_source
from engine.positions.book import SNAPSHOT_FILE, PositionBook
from engine.store.snapshot import slot_paths
from tests.positions.support import machine


def _folder(tmp_path: Path, paper: dict) -> SimpleNamespace:
    book = PositionBook(machine(), tmp_path)
    book.open()
    book.set_bot_value("paper", paper, sync=True)
    book.close()
    return SimpleNamespace(state_dir=tmp_path)


def test_a_first_start_has_no_source(tmp_path: Path) -> None:
    assert paper_source(SimpleNamespace(state_dir=tmp_path / "absent")) is None


def test_the_source_comes_from_the_snapshot(tmp_path: Path) -> None:
    assert paper_source(_folder(tmp_path, {"source": "binance", "cursor_ms": 1})) == "binance"


def test_without_snapshots_the_source_comes_from_the_journal(tmp_path: Path) -> None:
    loaded = _folder(tmp_path, {"source": "binance", "cursor_ms": 1})
    for slot in slot_paths(tmp_path / SNAPSHOT_FILE):
        slot.unlink(missing_ok=True)
    assert paper_source(loaded) == "binance"


def test_an_old_seeded_folder_reads_as_synthetic_without_snapshots(tmp_path: Path) -> None:
    loaded = _folder(tmp_path, {"seed": 7, "origin_ms": 0})
    for slot in slot_paths(tmp_path / SNAPSHOT_FILE):
        slot.unlink(missing_ok=True)
    assert paper_source(loaded) == "synthetic"
