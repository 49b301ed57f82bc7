"""Typed sides and exit reasons inside, the same plain strings on disk.

An Intent's side is the venue's order side (`engine.venue.types.Side`), a Position's side its own
`Side`, an exit reason an `ExitReason` (read back with `Position.exit_kind`); `to_dict()` still gives
the JSON dict the journal and the snapshot have always held, and an old (v1) state folder resumes into
the typed fields.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.exits import ExitReason
from engine.positions.book import HISTORY_FILE, PositionBook
from engine.positions.model import Intent, IntentKind, Position, Side
from engine.store.fsio import from_json, to_json
from engine.venue.types import Side as OrderSide
from tests.positions.support import PATHS, T0, Env, machine

FIXTURE = Path(__file__).parent / "fixtures" / "state_v1"


def plain(value: Any) -> Any:
    """A copy with every str-based enum member replaced by its plain string."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def same_bytes_as_plain_strings(document: dict[str, Any]) -> bool:
    """The document is written exactly as if every enum in it were its plain string."""
    return to_json(document) == to_json(plain(document))


def test_position_sides_give_the_venues_order_sides() -> None:
    assert Side.LONG.entry_order_side is OrderSide.BUY and Side.LONG.exit_order_side is OrderSide.SELL
    assert Side.SHORT.entry_order_side is OrderSide.SELL and Side.SHORT.exit_order_side is OrderSide.BUY


@pytest.mark.parametrize("side", [OrderSide.BUY, OrderSide.SELL])
def test_an_intent_round_trips_to_the_same_json_dict(side: OrderSide) -> None:
    intent = Intent("P1-S2", IntentKind.STOP_LOSS, "BTC/USDC:USDC", side, Decimal("0.010"), Decimal("58800.0"),
                    reduce_only=True, created_seq=3)
    document = intent.to_dict()
    assert document["side"] == side.value and type(document["side"]) is str
    back = Intent.from_dict(from_json(to_json(document)))
    assert back.side is side and back == intent and back.to_dict() == document


def test_a_cancel_has_no_side_and_keeps_its_empty_string_on_disk() -> None:
    cancel = Intent("P1-X3", IntentKind.CANCEL, "BTC/USDC:USDC", None, Decimal(0), target="P1-S2")
    assert cancel.to_dict()["side"] == ""
    assert Intent.from_dict(cancel.to_dict()).side is None


def test_an_intent_named_by_its_string_holds_the_enum() -> None:
    assert Intent("P1-E1", IntentKind.ENTRY, "X", "buy", Decimal(1)).side is OrderSide.BUY  # type: ignore[arg-type]
    assert Intent("P1-X2", IntentKind.CANCEL, "X", "", Decimal(0)).side is None  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Intent("P1-E1", IntentKind.ENTRY, "X", "long", Decimal(1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "kind", "reason"),
    [
        ("open", None, None),
        ("partial_tp", ExitReason.TAKE_PROFIT, "tp1"),
        ("closing", ExitReason.MAX_HOLD, "max_hold"),
        ("emergency", ExitReason.EMERGENCY, "emergency"),
        ("closed", ExitReason.REJECTED, "rejected -4164 min notional"),
    ],
)
def test_a_walked_position_round_trips_with_typed_fields(tmp_path: Path, path: str, kind: Any, reason: Any) -> None:
    book = PositionBook(machine(), tmp_path)
    book.open()
    try:
        p = book.new_position("BTC/USDC:USDC")
        for n, (event, payload) in enumerate(PATHS[path], start=1):
            book.apply(p, event, payload, now=T0 + timedelta(seconds=n), env=Env())
        assert p.exit_reason == reason and p.exit_kind is kind
        assert all(isinstance(i.side, OrderSide) or i.kind is IntentKind.CANCEL for i in p.intents)
        document = p.to_dict()
        assert same_bytes_as_plain_strings(document)
        written = from_json(to_json(document))
        assert written == document
        back = Position.from_dict(written)
        assert back.to_dict() == document and back.exit_kind is kind and back.side is p.side
    finally:
        book.close()


def test_a_v1_state_folder_resumes_into_the_typed_fields(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("EXPECTED.json"))
    expected = json.loads((FIXTURE / "EXPECTED.json").read_text())
    book = PositionBook(machine(), folder)
    book.open()
    try:
        assert sorted(book.live) == sorted(expected["live"])
        for position in book.live.values():
            assert position.side is None or isinstance(position.side, Side)
            for intent in position.intents:
                assert intent.side is None if intent.kind is IntentKind.CANCEL else isinstance(intent.side, OrderSide)
            document = position.to_dict()
            assert same_bytes_as_plain_strings(document)
            assert Position.from_dict(document).to_dict() == document
        emergency = [p for p in book.live.values() if p.state == "emergency"]
        assert emergency and all(p.exit_kind is ExitReason.EMERGENCY for p in emergency)
    finally:
        book.close()
    closed = [json.loads(line) for line in (folder / HISTORY_FILE).read_text().splitlines() if line.strip()]
    assert closed and all(ExitReason.of(c["exit_reason"]) is not None for c in closed)
