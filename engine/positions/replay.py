"""Rebuilding positions from the journal: replay of recorded transitions, and the facts one checked
pass over the whole journal gives the book at start-up (`engine.positions.book`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.machine.runtime import CompiledMachine
from engine.machine.tags import Tag
from engine.positions.lifecycle import follow_recorded_intents
from engine.positions.model import Position
from engine.store.journal import Journal, is_bot, is_command, transitions


class RecoveryError(Exception):
    """The snapshot and the journal disagree in a way that cannot be repaired automatically."""


@dataclass
class JournalFacts:
    """What one checked pass over the whole journal says, before anything is changed on disk."""

    bot: dict[str, Any] = field(default_factory=dict)  # bot values as the journal holds them, folded
    bot_n: int = 0
    order_prefix: str | None = None  # the last one a record carries
    closings: dict[str, int] = field(default_factory=dict)  # position → seq of its terminal transition

    @classmethod
    def read(cls, journal: Journal, machine: CompiledMachine) -> JournalFacts:
        facts = cls()
        terminal: dict[str, bool] = {}
        for record in journal.scan():  # DamagedRecord at the first damaged record
            if is_bot(record) or is_command(record):
                facts.bot.update(record.get("bot") or {})
                continue
            if "order_prefix" in record:
                facts.bot["order_prefix"] = record["order_prefix"]
            to = record["to"]
            if to not in terminal:
                terminal[to] = machine.has_tag(to, Tag.TERMINAL)
            if terminal[to]:
                facts.closings[record["position"]] = int(record["seq"])
        facts.bot_n = journal.bot_n
        facts.order_prefix = facts.bot.pop("order_prefix", None)
        return facts


def replay_journal(
    machine: CompiledMachine, records: Iterable[dict[str, Any]], only: set[str] | None = None
) -> dict[str, Position]:
    """Rebuild every position (or those in `only`) from journal records alone (no snapshot, no
    venue); command and bot records are skipped.

    Returns all positions by id, closed ones included. Raises RecoveryError on a record that does
    not replay to the state it recorded.
    """
    positions: dict[str, Position] = {}
    for record in transitions(records):
        if only is not None and record["position"] not in only:
            continue
        position = positions.get(record["position"])
        if position is None:
            position = Position(record["position"], record["symbol"], order_prefix=record.get("order_prefix", ""))
            machine.attach(position)
            positions[position.id] = position
        replay_record(machine, position, record)
    for position in positions.values():
        machine.detach(position)
    return positions


def replay_record(machine: CompiledMachine, position: Position, record: dict[str, Any]) -> None:
    """Apply one journal record: the recorded edge, time and deadline; guards are not consulted."""
    deadline = record.get("deadline_at")
    before = position.checkpoint()
    try:
        outcome = machine.fire(
            position,
            record["event"],
            record.get("payload") or {},
            now=datetime.fromisoformat(record["time"]),
            seq=int(record["seq"]),
            replay_to=record["to"],
            deadline_at=None if deadline is None else datetime.fromisoformat(deadline),
        )
    except Exception as exc:
        raise RecoveryError(f"journal record seq {record['seq']} does not replay for {position.id}: {exc}") from exc
    if not outcome.applied or position.state != record["to"]:
        raise RecoveryError(
            f"journal record seq {record['seq']} ({record['event']} {record['from']}→{record['to']}) "
            f"does not replay for {position.id}"
        )
    if "intents" in record:
        follow_recorded_intents(position, before, record["intents"])
    position.last_seq = int(record["seq"])
