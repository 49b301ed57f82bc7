"""Query the transition journal: filter, tail and follow, without ever writing to it.

The journal holds transition records and command records (`kind: "command"`: who paused, resumed,
panicked…). Commands have no position or symbol: a position or symbol filter leaves them out, and
`--event` matches them by `pause` or `/pause`. The bot machine's transitions (bot records naming the
machine: `engine.store.journal.is_bot_transition`) are shown too, as position `bot`, without a seq.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.store.journal import SeqOrder, damage_remedy, is_bot, is_bot_transition, is_command, read_records
from engine.store.sealed import DamagedRecord, LineChecker


@dataclass(frozen=True)
class LogFilter:
    position: str | None = None
    symbol: str | None = None
    event: str | None = None
    since: datetime | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        if self.position and record.get("position", "bot" if is_bot_transition(record) else None) != self.position:
            return False
        if self.symbol and not _same_symbol(record.get("symbol", ""), self.symbol):
            return False
        if self.event and event_name(record) not in (self.event, f"/{self.event}"):
            return False
        if self.since and datetime.fromisoformat(record["time"]) < self.since:
            return False
        return True


def _same_symbol(recorded: str, wanted: str) -> bool:
    """`BTC/USDC:USDC`, `BTC/USDC` and `BTCUSDC` all name the same market."""
    def squash(s: str) -> str:
        return s.split(":")[0].replace("/", "").upper()

    return squash(recorded) == squash(wanted)


def shown(journal: Path) -> Iterator[dict[str, Any]]:
    """The records a reader is shown, in file order: transitions, commands and the bot machine's
    transitions (the other bot records are state, not log lines)."""
    return (r for r in read_records(journal, bot=True) if not is_bot(r) or is_bot_transition(r))


def bot_transitions(journal: Path) -> list[dict[str, Any]]:
    return [r for r in read_records(journal, bot=True) if is_bot_transition(r)]


def query(journal: Path, flt: LogFilter, tail: int | None = None) -> list[dict[str, Any]]:
    matching: Iterable[dict[str, Any]] = (r for r in shown(journal) if flt.matches(r))
    if tail is not None:
        return list(deque(matching, maxlen=tail))
    return list(matching)


def query_checked(
    journal: Path, flt: LogFilter, tail: int | None = None
) -> tuple[list[dict[str, Any]], DamagedRecord | None]:
    """Like `query`, but the records before a damaged line are kept and the damage is returned
    beside them (None when the whole journal reads), so a reader sees everything that can be read
    and is told where it stops."""
    matching: deque[dict[str, Any]] = deque(maxlen=tail)
    try:
        for record in shown(journal):
            if flt.matches(record):
                matching.append(record)
    except DamagedRecord as exc:
        return list(matching), exc
    return list(matching), None


def positions_in(journal: Path) -> list[str]:
    """Every position id the journal's readable records name, in order of first appearance."""
    seen: dict[str, None] = {}
    try:
        for record in read_records(journal):
            if "position" in record:
                seen.setdefault(str(record["position"]), None)
    except DamagedRecord:
        pass
    return list(seen)


def follow(
    journal: Path,
    flt: LogFilter,
    after_seq: int,
    *,
    after_n: int = 0,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Yield matching records appended after `after_seq`, until `stop()` is true.

    Reads only complete lines, so a record being written is picked up on the next poll. Raises
    DamagedRecord at a damaged line (checksum, JSON or seq order), naming its line. Bot machine
    transitions are yielded after bot record `after_n`.
    """
    offset, seq, line = 0, after_seq, 0
    checker = LineChecker(journal, damage_remedy(journal), SeqOrder())
    while not stop():
        try:
            with journal.open("rb") as fh:
                fh.seek(offset)
                for raw in fh:
                    if not raw.endswith(b"\n"):
                        break
                    offset += len(raw)
                    line += 1
                    record = checker.check(raw, line)
                    if is_bot(record):
                        if is_bot_transition(record) and int(record["n"]) > after_n and flt.matches(record):
                            after_n = int(record["n"])
                            yield record
                        continue
                    if int(record.get("seq", 0)) > seq:
                        seq = int(record["seq"])
                        if flt.matches(record):
                            yield record
        except FileNotFoundError:
            pass
        sleep(poll)


def label(record: dict[str, Any]) -> str:
    """Where a record sits in the journal: its seq, or `bot#n` for a bot machine transition."""
    return str(record["seq"]) if "seq" in record else f"bot#{record.get('n', '?')}"


def event_name(record: dict[str, Any]) -> str:
    """The event of a transition record; `/pause` for a command record."""
    if is_command(record):
        return f"/{record.get('command', '?')}"
    return str(record.get("event", ""))


def describe_payload(record: dict[str, Any]) -> str:
    """A short human summary of what a record carried and asked for."""
    if is_command(record):
        parts = [f"by {record.get('by', '?')}"]
        values = {**(record.get("args") or {}), **(record.get("bot") or {})}
        parts += [f"{k}={v}" for k, v in values.items()]
        return "; ".join(parts)
    if is_bot_transition(record):
        parts = [f"by {record.get('by', '?')}"]
        if record.get("reason"):
            parts.append(str(record["reason"]))
        if record.get("deadline_at"):
            parts.append(f"until {record['deadline_at'][:16].replace('T', ' ')}")
        return "; ".join(parts)
    payload = record.get("payload") or {}
    parts = []
    plan = payload.get("plan")
    if plan:
        parts.append(f"{plan.get('side')} {plan.get('qty')} @ {plan.get('price')} SL {plan.get('stop_price')}")
        if plan.get("leverage") is not None:  # chosen by orders.leverage_rule for this entry
            parts.append(f"{plan['leverage']}x ({plan.get('leverage_why', '')})")
    if "qty" in payload and "price" in payload:
        parts.append(f"{payload['qty']} @ {payload['price']}")
    if "code" in payload:
        parts.append(f"{payload['code']} {payload.get('msg', '')}".strip())
    if payload.get("reason"):
        parts.append(str(payload["reason"]))
    kinds: dict[str, int] = {}
    for intent in record.get("intents", []):
        kinds[intent["kind"]] = kinds.get(intent["kind"], 0) + 1
    if kinds:
        parts.append("→ " + ", ".join(f"{n}×{k}" if n > 1 else k for k, n in kinds.items()))
    return "; ".join(parts)
