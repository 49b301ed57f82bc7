"""The bot's own machine (`machines/bot.yaml`): whether the bot may open positions, and why not.

One model, the bot, compiled by the same loader and runtime as the positions. Its transitions are
journaled as bot records of the position book's journal (`PositionBook.record_bot_transition`, synced
before the engine acts on them) that carry its whole state, so the snapshot folds them like any bot
value, a lost snapshot is rebuilt from the journal, and `replay` (the recorded edges through the
machine) must give the same state: `check_replay` says so at start-up.

Who sends what:
- commands (`pause`, `resume`, `panic`, `rearm`, `profile`): the control layer, Telegram and the CLI,
  with who sent them (`by`), which is journaled with the transition;
- the bot's own checks (`check`): `loss_limit`, `sl_streak`, `hard_stop` and `all_flat`, from the risk
  guard's counters and the equity the engine marks to market on every candle or tick; the timeouts
  `new_day` and `cooled` are the YAML's own.

The position machine's `signal` asks `entries_allowed` (the guard `bot.entries_allowed`): only a state
tagged `entries` lets a new position in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.machine.contract import Expected
from engine.machine.loader import MachineDefinition, load_definition
from engine.machine.registry import Registry, Step
from engine.machine.runtime import CompiledMachine, InvalidTransition, Outcome
from engine.machine.tags import Tag
from engine.store.journal import is_bot_transition
from engine.trading.risk import RiskGuard

log = logging.getLogger("engine.bot_machine")
refusals = logging.getLogger("engine.risk")  # where every entry refusal is logged, the per-entry rules' too

BOT_VALUE = "bot_machine"  # the key of the bot machine's state among the book's bot values
MACHINE_NAME = "bot"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "machines" / "bot.yaml"

BOT_REGISTRY = Registry()


@BOT_REGISTRY.guard("bot.hard_stop_hit")
def _hard_stop_hit(step: Step) -> bool:
    """The flattening was started (or joined) by the equity hard stop, not only by a panic."""
    return bool(step.model.tripped)


@BOT_REGISTRY.action("bot.record_hard_stop")
def _record_hard_stop(step: Step) -> None:
    step.model.tripped = True  # read by bot.hard_stop_hit when the flattening ends


@BOT_REGISTRY.action("bot.record_rearm")
def _record_rearm(step: Step) -> None:
    step.model.tripped = False


# Every event the engine sends into the bot machine, and where (by tag, so no state is named here).
EXPECTED: tuple[Expected, ...] = (
    Expected("pause", "a command: /pause, the CLI", frozenset({Tag.ENTRIES})),
    Expected("panic", "a command: /panic", frozenset({Tag.ENTRIES})),
    Expected("hard_stop", "the equity check on every candle or tick", frozenset({Tag.ENTRIES, Tag.FLATTENING})),
    Expected("loss_limit", "the daily loss check after a close or before an entry", frozenset({Tag.ENTRIES})),
    Expected("sl_streak", "the stop-loss streak check after a close", frozenset({Tag.ENTRIES})),
    Expected("all_flat", "the check that finds no live position while flattening", frozenset({Tag.FLATTENING})),
    Expected("rearm", "a command: /rearm, `python -m engine rearm PROFILE`", frozenset({Tag.LATCHED})),
)

COMMANDS = ("pause", "resume", "panic", "rearm", "profile")
DEADLINE_REASONS = {"new_day": "a new UTC day", "cooled": "the stop-loss pause is over"}


def load_bot_definition(path: Path = DEFAULT_PATH) -> MachineDefinition:
    return load_definition(path, BOT_REGISTRY, EXPECTED)


def load_machine_file(path: Path, data: Any = None) -> MachineDefinition:
    """A machine file with its own domain's guards and contract: the bot's (`name: bot`) or a position's."""
    if data is None:
        from engine.yaml_source import load_yaml

        data, _ = load_yaml(path)
    if isinstance(data, dict) and data.get("name") == MACHINE_NAME:
        return load_bot_definition(path)
    from engine.positions.events import load_position_machine

    return load_position_machine(path)


def bot_machine_path(position_machine: Path) -> Path:
    """`bot.yaml` next to the position machine the profile names, else the project's own."""
    sibling = position_machine.with_name("bot.yaml")
    return sibling if sibling.is_file() else DEFAULT_PATH


@dataclass
class BotModel:
    """The bot as a machine model: its state and why it is there (JSON-safe via to_dict/from_dict)."""

    id: str = "bot"
    state: str = "running"
    state_entered_at: datetime | None = None
    opened_at: datetime | None = None  # (a position's; the runtime reads it for `since: opened`)
    deadline_event: str | None = None
    deadline_at: datetime | None = None
    event: str | None = None  # the event that led here
    by: str | None = None  # who sent it: `telegram:123`, `cli:alice`, `engine`
    reason: str = ""
    tripped: bool = False  # the hard stop fired since the last rearm (flattening ends stopped out)

    def checkpoint(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def rollback(self, checkpoint: dict[str, Any]) -> None:
        self.__dict__.update(checkpoint)

    def begin_step(self) -> None:
        pass

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "since": _iso(self.state_entered_at), "deadline_event": self.deadline_event,
                "deadline_at": _iso(self.deadline_at), "event": self.event, "by": self.by, "reason": self.reason,
                "tripped": self.tripped}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BotModel:
        return cls(state=str(d.get("state", "running")), state_entered_at=_dt(d.get("since")),
                   deadline_event=d.get("deadline_event"), deadline_at=_dt(d.get("deadline_at")),
                   event=d.get("event"), by=d.get("by"), reason=str(d.get("reason") or ""),
                   tripped=bool(d.get("tripped", False)))


def describe(m: BotModel) -> str:
    """The bot's state and why, in one line: `halted: today's realised PnL … , until 2025-03-04 00:00 UTC`."""
    text = m.state.replace("_", " ")
    if m.reason:
        text += f": {m.reason}"
    if m.by and m.by != "engine" and m.by not in m.reason:
        text += f" (by {m.by})"
    if m.deadline_at is not None:
        text += f", until {m.deadline_at.strftime('%Y-%m-%d %H:%M UTC')}"
    return text


def migrate(legacy: dict[str, Any]) -> BotModel:
    """The bot machine's state from what a RiskState document held before the bot machine existed:
    a manual pause, a daily halt or a stop-loss pause (the later deadline of the two wins)."""
    if legacy.get("paused"):
        return BotModel(state="paused", state_entered_at=_dt(legacy.get("paused_at")), event="pause",
                        by=legacy.get("paused_by"), reason="paused (kept from an older state folder)")
    halted, cooled = _dt(legacy.get("halted_until")), _dt(legacy.get("sl_pause_until"))
    if halted is not None and (cooled is None or halted >= cooled):
        return BotModel(state="halted", deadline_event="new_day", deadline_at=halted, event="loss_limit",
                        by="engine", reason="daily loss limit (kept from an older state folder)")
    if cooled is not None:
        return BotModel(state="cooling_down", deadline_event="cooled", deadline_at=cooled, event="sl_streak",
                        by="engine", reason="stop-loss streak (kept from an older state folder)")
    return BotModel()


class BotMachine:
    """The bot's machine and its one model. Not thread-safe: call it from the engine loop only."""

    def __init__(self, machine: CompiledMachine, model: BotModel, risk: RiskGuard,
                 journal: Callable[[dict[str, Any], dict[str, Any]], Any]) -> None:
        """`journal(transition, values)` makes one transition durable (PositionBook.record_bot_transition)."""
        self.machine = machine
        self.model = model
        self.risk = risk
        self._journal = journal
        machine.attach(model)
        # Observers of every applied transition, called as listener(model, outcome) once it is durable.
        self.listeners: list[Callable[[BotModel, Outcome], None]] = []
        self.last_refusal: str | None = None

    # --- queries -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.model.state

    def has_tag(self, tag: Tag) -> bool:
        return self.machine.has_tag(self.model.state, tag)

    def accepts(self, event: str) -> bool:
        return event in self.machine.events_from(self.model.state)

    def entries_allowed(self, symbol: str = "", now: datetime | None = None) -> bool:
        """The `bot.entries_allowed` guard: only a state tagged `entries` lets a new position in."""
        if self.has_tag(Tag.ENTRIES):
            return True
        self.last_refusal = f"bot.entries_allowed refused {symbol}: {self.why()}".replace(" :", ":")
        refusals.info("%s", self.last_refusal, extra={"rule": "bot.entries_allowed", "symbol": symbol})
        return False

    def why(self) -> str:
        return describe(self.model)

    def status(self, now: datetime) -> dict[str, Any]:
        """The risk counters and the bot machine's state, JSON-safe, for /status, `status` and the
        status line. Does not change state."""
        m = self.model
        out = self.risk.status(now)
        out.update({
            "state": m.state, "why": self.why(), "since": _iso(m.state_entered_at), "by": m.by,
            "entries_allowed": self.has_tag(Tag.ENTRIES), "until": _iso(m.deadline_at),
            "paused": m.state == "paused", "paused_by": m.by if m.state == "paused" else None,
            "halted": m.state == "halted", "stopped_out": m.state == "stopped_out",
            "last_refusal": self.last_refusal or out.get("last_refusal"),
        })
        return out

    # --- firing --------------------------------------------------------------------------------
    def fire(self, event: str, now: datetime, *, by: str = "engine", reason: str = "",
             payload: dict[str, Any] | None = None) -> Outcome:
        """Apply `event` durably. Raises InvalidTransition when the state does not declare it (nothing
        changed). The transition is journaled (with `by` and `reason`) before this returns."""
        m = self.model
        before = m.checkpoint()
        payload = dict(payload or {})
        try:
            outcome = self.machine.fire(m, event, payload, now=now, env=self)
        except InvalidTransition:
            m.rollback(before)
            raise
        if not outcome.applied:
            m.rollback(before)
            return outcome
        m.event, m.by = event, by
        m.reason = reason or (m.reason if outcome.source == outcome.dest else "")  # a self-transition keeps why
        transition = {"machine": MACHINE_NAME, "time": _iso(now), "event": event, "from": outcome.source,
                      "to": outcome.dest, "by": by, "reason": m.reason, "payload": payload,
                      "deadline_at": _iso(m.deadline_at)}
        try:
            self._journal(transition, {BOT_VALUE: m.to_dict()})
        except BaseException:
            m.rollback(before)
            raise
        if event == "rearm":
            self.risk.rebase_peak(None)  # the drawdown is measured again from the next equity read
        log.warning("bot %s → %s on %s by %s%s", outcome.source, outcome.dest, event, by,
                    f": {m.reason}" if m.reason else "")
        for listener in self.listeners:
            try:
                listener(m, outcome)
            except Exception:  # noqa: BLE001 - observation must not stop trading
                log.exception("bot machine listener %r failed", listener)
        return outcome

    def command(self, event: str, by: str, now: datetime, reason: str = "") -> Outcome | None:
        """A user's command as an event; None (nothing changed, nothing journaled) where the state does
        not declare it."""
        if not self.accepts(event):
            return None
        return self.fire(event, now, by=by, reason=reason)

    def check(self, now: datetime, *, equity: Decimal | None = None, live: int = 0) -> list[Outcome]:
        """The bot's own checks, in order: its deadline, the equity hard stop (with `equity` marked to
        market), the daily loss limit, the stop-loss streak, and whether a flattening is done (`live`
        positions left). Returns the transitions applied."""
        done: list[Outcome] = []
        due = self.machine.due(self.model, now)
        if due is not None:
            if due == "cooled":
                self.risk.spend_streak()  # the cool-down was served: a new streak is needed
            done.append(self.fire(due, now, reason=DEADLINE_REASONS.get(due, "")))
        if equity is not None and not self.model.tripped and self.accepts("hard_stop"):
            why = self.risk.hard_stop_reason(equity)
            if why is not None:
                done.append(self.fire("hard_stop", now, reason=why,
                                      payload={"equity": str(equity), "peak": _str(self.risk.state.peak_equity)}))
        if self.accepts("loss_limit") and (why := self.risk.loss_limit_reason(now)) is not None:
            done.append(self.fire("loss_limit", now, reason=why, payload={"day_pnl": str(self.risk.state.day_pnl)}))
        if self.accepts("sl_streak") and (why := self.risk.streak_reached()) is not None:
            done.append(self.fire("sl_streak", now, reason=why, payload={"streak": self.risk.state.sl_streak}))
        if live == 0 and self.has_tag(Tag.FLATTENING):
            reason = self.model.reason if self.model.tripped else "flat after a panic; /resume to trade again"
            done.append(self.fire("all_flat", now, reason=reason))
        return [o for o in done if o.applied]


def replay(machine: CompiledMachine, records: Iterable[dict[str, Any]], base: BotModel | None = None) -> BotModel:
    """The bot machine's state rebuilt from its journaled transitions alone, from `base` (a fresh bot
    by default; guards not consulted: the recorded edge is taken). Raises ValueError on a record that
    does not follow from the one before."""
    model = base or BotModel()
    machine.attach(model)
    try:
        for record in records:
            if not is_bot_transition(record) or record.get("machine") != MACHINE_NAME:
                continue
            if record["from"] != model.state:
                raise ValueError(f"bot record n={record.get('n')}: {record['event']} from {record['from']!r}, but "
                                 f"the bot was {model.state!r}")
            deadline = _dt(record.get("deadline_at"))
            machine.fire(model, record["event"], record.get("payload") or {}, now=_dt(record["time"]),
                         replay_to=record["to"], deadline_at=deadline)
            model.event, model.by, model.reason = record["event"], record.get("by"), str(record.get("reason") or "")
    finally:
        machine.detach(model)
    return model


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
