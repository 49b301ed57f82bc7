"""The position book: every live position, changed only through the machine, durable after every
transition, and restored exactly at start-up.

Durability protocol (DESIGN.md), per transition:
  1. the machine applies the event in memory (actions queue intents; no I/O);
  2. the journal line is written and fsync'd — the commit point; while the fsync waits on the disk,
     a helper thread updates the snapshot document (or, for a closed position, its history line)
     and encodes it in memory, writing nothing (`engine.store.overlap`);
  3. the history line is appended and the snapshot slot written in place (crash-atomic);
  4. only then does the caller get the outcome and may execute the queued intents.
A crash before the fsync returns leaves at most a journal line the start-up may cut or roll forward
from; after it, the start-up rolls the snapshot forward from the journal. If 2–3 fail (a failed
fsync), the book stops: it writes no more snapshots and refuses transitions.

User commands (pause, resume, panic, close, profile switch) are journaled too, as records of kind
"command" sharing the seq counter (`record_command`); replay and roll-forward skip them except for the
bot-level values they carry.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from engine.clock import iso
from engine.machine.runtime import CompiledMachine, Outcome
from engine.machine.tags import Tag
from engine.positions.model import Position
from engine.positions.replay import JournalFacts, RecoveryError, replay_journal, replay_record
from engine.store.history import History, PendingLine
from engine.store.journal import COMMAND, Journal, is_bot, is_command
from engine.store.overlap import FsyncOverlap
from engine.store.snapshot import FsyncPolicy, PreparedSlot, Snapshot

__all__ = ["BookFailed", "PositionBook", "RecoveryError", "ResumeReport", "replay_journal", "replay_record"]

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"
SNAPSHOT_FILE = "snapshot.json"
HISTORY_FILE = "history.jsonl"
# bot keys only the book writes: derived from the journal's records (seq, next_position, bot_n) or
# journaled with the first record that can carry it (order_prefix)
BOOK_KEYS = frozenset({"seq", "next_position", "order_prefix", "bot_n"})
_NONE = object()


class BookFailed(RuntimeError):
    """A transition or command could not be made durable; the book accepts nothing more."""


class Staged(NamedTuple):
    """What a transition still has to write once the journal has committed it."""

    closed: PendingLine | None  # the history line of a position that closed
    slot: PreparedSlot | None  # the snapshot slot (None when the book is not durable)


@dataclass
class ResumeReport:
    live: int = 0
    snapshot_seq: int = 0
    journal_seq: int = 0
    rolled_forward: int = 0
    torn_tail: str | None = None
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"resumed {self.live} live position(s) at seq {self.journal_seq}"]
        if self.rolled_forward:
            out.append(f"snapshot was {self.rolled_forward} transition(s) behind the journal: rolled forward")
        if self.torn_tail:
            out.append(self.torn_tail)
        return out + self.warnings


def record_for(
    position: Position,
    outcome: Outcome,
    payload: dict[str, Any],
    now: datetime,
    seq: int,
    *,
    first: bool | None = None,
) -> dict[str, Any]:
    """The journal record of one applied transition. `first` (default: the position has no seq
    yet) adds what replay needs to create the position."""
    deadline = None if position.deadline_at is None else iso(position.deadline_at)
    intents = [i.to_dict() for i in position.intents]
    record: dict[str, Any] = {
        "seq": seq,
        "time": iso(now),
        "position": position.id,
        "symbol": position.symbol,
        "event": outcome.event,
        "from": outcome.source,
        "to": outcome.dest,
        "payload": payload,
        "deadline_at": deadline,
        "intents": intents,
    }
    if position.last_seq == 0 if first is None else first:
        record["order_prefix"] = position.order_prefix  # what replay needs to create the position
    return record


class PositionBook:
    def __init__(
        self,
        machine: CompiledMachine,
        state_dir: Path,
        *,
        fsync: FsyncPolicy = "always",
        checkpoint_every: int = 64,
        durable: bool = True,
    ) -> None:
        """`durable=False` (backtests only) skips the journal fsync and writes the snapshot only on
        close; every transition is still journaled, so `log` and `diagram` work on the run."""
        self.machine = machine
        self.state_dir = state_dir
        self.durable = durable
        self._snapshot_behind = False  # a non-durable book's snapshot lags its live positions until close
        self.journal = Journal(state_dir / JOURNAL_FILE, sync=durable)
        self.snapshot = Snapshot(state_dir / SNAPSHOT_FILE, fsync=fsync, checkpoint_every=checkpoint_every)
        self.history = History(state_dir / HISTORY_FILE)
        self._overlap = FsyncOverlap(f"book-commit-{state_dir.name}")
        self.live: dict[str, Position] = {}
        self.bot: dict[str, Any] = {}
        self.failed: str | None = None  # why the book stopped accepting transitions (see _fail)
        self._prefix_journaled = False  # whether a journal record carries the order prefix yet

    # --- start-up ---------------------------------------------------------------------------
    def open(self) -> ResumeReport:
        """Load the snapshot, check the whole journal, roll the snapshot forward if it lags, and
        check the history against the journal.

        Raises DamagedRecord (engine.store.sealed) at the first damaged journal record, and
        RecoveryError when the snapshot is ahead of the journal or a journal record does not replay
        to the state it recorded; nothing is changed on disk in either case (a torn last line aside).
        With both snapshot slots gone, everything is rebuilt from the journal alone: positions, the
        bot values journaled by `set_bot_value`, the order prefix and the next position number.
        """
        self.journal.open()
        report = ResumeReport()
        if self.journal.torn:
            report.torn_tail = self.journal.torn.describe(self.journal.path)
            log.warning(report.torn_tail)
        self.bot = self.snapshot.bot or {"seq": 0, "next_position": 1}
        report.snapshot_seq = self.snapshot.seq
        found = JournalFacts.read(self.journal, self.machine)  # every record checked before anything is changed
        report.journal_seq = self.journal.last_seq
        if report.snapshot_seq > report.journal_seq:
            raise RecoveryError(
                f"{self.snapshot.storage.path} is at seq {report.snapshot_seq} but {self.journal.path} ends at "
                f"seq {report.journal_seq}: the journal lost records; refusing to guess (restore the journal "
                "or move the state folder away)"
            )
        for raw in self.snapshot.live_positions():
            position = Position.from_dict(raw)
            self.machine.attach(position)
            self.live[position.id] = position
        self._check_tail(report)
        if report.snapshot_seq == 0 and (report.journal_seq > 0 or found.bot_n):
            report.warnings.append("no valid snapshot: rebuilding every position from the journal, and the bot "
                                   "values it holds")
        bot_n = int(self.bot.get("bot_n", 0))
        if report.journal_seq > report.snapshot_seq or found.bot_n > bot_n:
            for record in self.journal.scan():
                if is_bot(record):
                    if record["n"] > bot_n:
                        self.bot.update(record["bot"])
                elif record["seq"] > report.snapshot_seq:
                    self._roll_forward(record)
                    report.rolled_forward += 1
        self.bot["bot_n"] = found.bot_n
        self.bot.setdefault("order_prefix", found.order_prefix or secrets.token_hex(2))
        self._prefix_journaled = found.order_prefix is not None
        if report.rolled_forward or found.bot_n > bot_n:
            self.bot["seq"] = report.journal_seq
            self.snapshot.set_bot(self.bot)
            self.snapshot.set_seq(report.journal_seq)
            self.snapshot.flush(sync=True)
        report.warnings += self._rebuild_history(found)
        missing = {k: v for k, v in self.bot.items() if k not in BOOK_KEYS and found.bot.get(k, _NONE) != v}
        if missing:  # a snapshot written before bot values were journaled: journal them now
            self._journal_bot(missing, sync=True)
        report.live = len(self.live)
        return report

    def _rebuild_history(self, found: JournalFacts) -> list[str]:
        """Every position the journal shows closed must be in the history: a closing it lacks (a
        truncated file, or a line lost with the page cache) is replayed from the journal and
        appended. Returns what to report."""
        recorded = set(self.history.keys)
        missing = {pid: seq for pid, seq in found.closings.items() if (pid, seq) not in recorded}
        notes = []
        if missing:
            for position in replay_journal(self.machine, self.journal.scan(), only=set(missing)).values():
                self.history.append(position.to_dict(), sync=True)
            ids = ", ".join(sorted(missing, key=lambda pid: missing[pid])[:10])
            notes.append(f"{self.history.path}: {len(missing)} closed position(s) the journal records were missing "
                         f"({ids}{' …' if len(missing) > 10 else ''}): rebuilt from the journal")
        unknown = sorted({pid for pid, seq in recorded if found.closings.get(pid) != seq})
        if unknown:
            notes.append(f"{self.history.path}: holds {len(unknown)} closed position(s) the journal does not record "
                         f"as closed ({', '.join(unknown[:10])}): the journal was cut or replaced")
        for note in notes:
            log.warning(note)
        return notes

    def _check_tail(self, report: ResumeReport) -> None:
        if report.snapshot_seq != report.journal_seq or report.journal_seq == 0:
            return
        last = self.journal.last_transition()
        if last is None:
            return
        position = self.live.get(last["position"])
        if position is not None and position.state != last["to"]:
            raise RecoveryError(
                f"snapshot says {position.id} is {position.state!r} but the journal's last record "
                f"(seq {last['seq']}) moved it to {last['to']!r}"
            )

    def _roll_forward(self, record: dict[str, Any]) -> None:
        if is_command(record):
            self.bot.update(record.get("bot") or {})
            self._persist_bot(int(record["seq"]))
            return
        position = self.live.get(record["position"])
        if position is None:
            position = Position(record["position"], record["symbol"], order_prefix=record.get("order_prefix", ""))
            self.machine.attach(position)
            self.bot["next_position"] = max(int(self.bot.get("next_position", 1)), position.number + 1)
        replay_record(self.machine, position, record)
        self._persist(position, int(record["seq"]))

    # --- trading ----------------------------------------------------------------------------
    def new_position(self, symbol: str) -> Position:
        """A fresh idle position; it becomes durable with its first applied transition."""
        number = int(self.bot.get("next_position", 1))
        self.bot["next_position"] = number + 1
        position = Position(f"P{number}", symbol, order_prefix=str(self.bot["order_prefix"]))
        self.machine.attach(position)
        return position

    def apply(
        self, position: Position, event: str, payload: dict[str, Any] | None, *, now: datetime, env: Any = None
    ) -> Outcome:
        """Apply `event` and make the result durable before returning (see module docstring).

        Raises InvalidTransition / ActionFailed from the machine with the position unchanged, and
        BookFailed once an earlier transition failed to become durable.
        """
        self._check_usable()
        payload = payload or {}
        seq = self.journal.last_seq + 1
        if position.last_seq == 0:
            self.machine.attach(position)  # a new position refused before may try again
        outcome = self.machine.fire(position, event, payload, now=now, env=env, seq=seq)
        if not outcome.applied:
            if position.last_seq == 0:
                self.discard(position)  # refused before it ever existed
            return outcome
        first = position.last_seq == 0
        position.last_seq = seq
        record = record_for(position, outcome, payload, now, seq, first=first)
        self._prefix_journaled = self._prefix_journaled or "order_prefix" in record
        try:
            self.journal.write(record)
            staged = self._commit(position, seq)
            self._publish(staged)  # only now may the snapshot and the history show the transition
        except BaseException as exc:
            self._fail(f"seq {seq} ({position.id} {event}) failed while being made durable: {exc!r}")
            raise
        return outcome

    def record_command(
        self,
        command: str,
        by: str,
        args: dict[str, Any] | None = None,
        *,
        now: datetime,
        bot: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Journal a user command (`pause`, `resume`, `panic`, `close`, `profile`…) and who sent it
        (`telegram:123456`, `cli:alice`), fsync'd before returning, even in a non-durable book.

        `bot` holds bot-level values the command sets (`{"paused": True}`): they are written in the
        same record, so a crash after the journal line cannot lose them (roll-forward re-applies
        them). Commands share the journal's seq counter and never change a position; the caller
        acts on the command (fires `panic`, `close`… through `apply`) after this returns.
        Returns the record as written. Raises ValueError on an empty command or sender, or when
        `bot` names a key the book owns (seq, next_position, order_prefix); nothing is written then.
        """
        if not command or not by:
            raise ValueError(f"a command record needs a command and a sender, got {command!r} by {by!r}")
        if bot and (owned := sorted(set(bot) & BOOK_KEYS)):
            raise ValueError(f"command {command!r} may not set the book's own keys {owned}")
        seq = self.journal.last_seq + 1
        record: dict[str, Any] = {
            "seq": seq,
            "time": iso(now),
            "kind": COMMAND,
            "command": command,
            "by": by,
            "args": dict(args or {}),
        }
        if bot:
            record["bot"] = dict(bot)
        self._check_usable()
        try:
            self.journal.append(record, force_sync=True)
        except BaseException as exc:
            self._fail(f"seq {seq} (command {command} by {by}) failed while being made durable: {exc!r}")
            raise
        self.bot.update(bot or {})
        self._persist_bot(seq)  # the journal line is the commit point; the snapshot follows its policy
        return record

    def discard(self, position: Position) -> None:
        """Forget a position that never had a transition; its number is reused if it was the last."""
        self.machine.detach(position)
        if position.last_seq == 0 and self.bot.get("next_position") == position.number + 1:
            self.bot["next_position"] = position.number

    def _commit(self, position: Position, seq: int) -> Staged:
        """Sync the journal line just written (the commit point) and, meanwhile, stage what the
        snapshot and the history will show: see `engine.store.overlap`."""
        def stage() -> Staged:
            # (a non-durable book needs the document only for the history line of a closed position)
            document = position.to_dict() if self.durable or self.machine.has_tag(position.state, Tag.TERMINAL) else {}
            return self._stage(position, seq, document)

        if not self.journal.sync_writes:
            return stage()
        return self._overlap.during(self.journal.sync, stage)

    def _persist(self, position: Position, seq: int) -> None:
        """Make transition `seq` (already durable in the journal: roll-forward) visible in the
        history or the snapshot."""
        self._publish(self._stage(position, seq, position.to_dict()))

    def _stage(self, position: Position, seq: int, document: dict[str, Any]) -> Staged:
        """Apply transition `seq` to the in-memory snapshot and encode what is to be written once it
        is committed: the history line of a closed position and the snapshot slot. Writes nothing: it
        runs while the journal's fsync waits, and the files are written only after that fsync
        (neither may show a transition the journal has not committed)."""
        closed = None
        if not self.durable:
            # A backtest's book: nothing reads the snapshot while it runs, so it is written once, from the
            # live positions, when the book closes (`_catch_up_snapshot`): a TinyDB update per transition
            # cost a tenth of a backtest trade.
            if self.machine.has_tag(position.state, Tag.TERMINAL):
                closed = self.history.prepare(document)
                self.live.pop(position.id, None)
                self.machine.detach(position)
            else:
                self.live[position.id] = position
            self.bot["seq"] = seq
            self._snapshot_behind = True
            return Staged(closed, None)
        if self.machine.has_tag(position.state, Tag.TERMINAL):
            closed = self.history.prepare(document)
            self.snapshot.drop_position(position.number)
            self.live.pop(position.id, None)
            self.machine.detach(position)
        else:
            self.snapshot.put_position(position.number, document)
            self.live[position.id] = position
        self.bot["seq"] = seq
        self.snapshot.set_bot(self.bot)  # a no-op unless a bot value changed (a new position's number…)
        self.snapshot.set_seq(seq)
        return Staged(closed, self.snapshot.prepare() if self.durable else None)

    def _publish(self, staged: Staged) -> None:
        self.history.write(staged.closed)
        self.snapshot.write_prepared(staged.slot)

    def _fail(self, why: str) -> None:
        """After a failed commit the in-memory state may be ahead of the journal (a failed fsync may
        even have lost the line): stop writing the snapshot and refuse further transitions, so the
        next start recovers from what the journal holds."""
        self.failed = why
        self.snapshot.abandon()
        log.error("position book stopped: %s", why)

    def _check_usable(self) -> None:
        if self.failed:
            raise BookFailed(f"the position book stopped after {self.failed}; restart to recover from the journal")

    def _persist_bot(self, seq: int) -> None:
        self.bot["seq"] = seq
        if not self.durable:
            self._snapshot_behind = True
            return
        self.snapshot.set_bot(self.bot)  # a no-op unless a bot value changed (a new position's number…)
        self.snapshot.set_seq(seq)
        if self.durable:
            self._flush_snapshot()

    def due_timeouts(self, now: datetime) -> list[tuple[Position, str]]:
        """Positions whose deadline has passed, with the event to fire, oldest deadline first."""
        due = [(p, e) for p in self.live.values() if (e := self.machine.due(p, now))]
        return sorted(due, key=lambda pe: pe[0].deadline_at or now)

    def set_bot_value(self, key: str, value: Any, *, sync: bool = False) -> None:
        """Persist a bot-level value (risk state, pause flag, paper cursor): journaled as a bot record
        (so that it survives the loss of both snapshot slots) and written to the snapshot.
        `sync=True` forces both to disk now (commands a user gave). Otherwise nothing is fsync'd here:
        the next transition's or command's fsync, or `close`, makes the record durable. That is
        cheap enough for the paper cursor, set after every candle, and loses nothing to a kill -9
        (the write is in the page cache); a power cut can lose the last records, which for the
        cursor only makes the next start replay candles that the paper venue refuses to feed twice
        (its own `fed`, fsync'd with venue.json every candle). A value equal to the stored one
        writes nothing."""
        if key in self.bot and self.bot[key] == value:
            return
        self.bot[key] = value
        self._journal_bot({key: value}, sync=sync)
        if not (self.durable or sync):
            self._snapshot_behind = True
            return
        self._catch_up_snapshot()
        self.snapshot.set_bot(self.bot)
        if self.durable or sync:
            self._flush_snapshot(sync=True if sync else None)

    def record_bot_transition(self, transition: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """Journal one transition of the bot's own machine with the bot values it sets (its state), as a
        bot record (`engine.store.journal.is_bot_transition`), synced before returning when the book is
        durable, as a position's transition is; then write the snapshot. The caller acts on the new
        state (flattens, refuses entries) only after this returns. Returns the record as written."""
        self.bot.update(values)
        record = self._journal_bot(values, sync=self.durable, transition=transition)
        if not self.durable:
            self._snapshot_behind = True
            return record
        self.snapshot.set_bot(self.bot)
        if self.durable:
            self._flush_snapshot(sync=True)
        return record

    def _journal_bot(self, values: dict[str, Any], *, sync: bool,
                     transition: dict[str, Any] | None = None) -> dict[str, Any]:
        self._check_usable()
        if not self._prefix_journaled:  # the prefix is journaled with the first record that can carry it
            values = {"order_prefix": self.bot["order_prefix"], **values}
        try:
            record = self.journal.write_bot(values, transition)
            if sync:
                self.journal.force_sync()
        except BaseException as exc:
            self._fail(f"bot values {sorted(values)} failed while being made durable: {exc!r}")
            raise
        self._prefix_journaled = True
        self.bot["bot_n"] = self.journal.bot_n
        return record

    def _catch_up_snapshot(self) -> None:
        """A non-durable book's snapshot brought up to the live positions and bot values (see `_stage`)."""
        if not self._snapshot_behind:
            return
        self._snapshot_behind = False
        numbers = {p.number for p in self.live.values()}
        for doc in self.snapshot.live_positions():
            number = int(str(doc["id"]).lstrip("P"))
            if number not in numbers:
                self.snapshot.drop_position(number)
        for position in self.live.values():
            self.snapshot.put_position(position.number, position.to_dict())
        self.snapshot.set_bot(self.bot)
        self.snapshot.set_seq(int(self.bot.get("seq", 0)))

    def _flush_snapshot(self, sync: bool | None = None) -> None:
        """Write the snapshot slot; a slot that is fsync'd is preceded by the journal's fsync, so a
        durable slot never holds a bot value whose record the journal could still lose."""
        self._catch_up_snapshot()
        prepared = self.snapshot.prepare(sync)
        if prepared is not None and prepared.sync:
            self.journal.sync()
        self.snapshot.write_prepared(prepared)

    def close(self) -> None:
        self._overlap.close()
        if self.failed is None:
            self._catch_up_snapshot()
        if self.failed is None and self.journal.is_open:
            self.journal.sync()  # before the snapshot's final fsync (see `_flush_snapshot`)
        self.snapshot.close()
        self.journal.close()
        self.history.close()
