"""Opening the bot machine on a state folder: compile `machines/bot.yaml` with the profile's numbers and
resume the bot in the state the book holds (the snapshot, rolled forward from the journal), or, for
a state folder written before the bot machine existed, in the state its older risk document implies."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from engine.config.loading import LoadedProfile, bind_machine
from engine.machine.runtime import CompiledMachine
from engine.positions.book import PositionBook, ResumeReport
from engine.store.journal import read_records
from engine.trading.bot_machine import (
    BOT_VALUE,
    BotMachine,
    BotModel,
    bot_machine_path,
    load_bot_definition,
    migrate,
    replay,
)
from engine.trading.risk import RiskGuard, RiskState

log = logging.getLogger("engine.bot_machine")

REARM_REQUEST = "rearm.request"  # `python -m engine rearm` beside a running bot: who asks, picked up each tick
BASE_VALUE = "bot_machine_base"  # the state a migration started the bot machine in (replay starts there)


def resumed_state(bot: dict[str, Any], legacy: dict[str, Any] | None = None) -> BotModel:
    """The state a bot resumes in from its bot values: the bot machine's own, else what an older folder
    held (the pause and halts of its risk document, `legacy`, or a top-level `paused` value)."""
    if bot.get(BOT_VALUE):
        return BotModel.from_dict(bot[BOT_VALUE])
    older = dict(legacy if legacy is not None else RiskState.from_dict(bot.get("risk") or {}).legacy)
    if bot.get("paused") is True:
        older.setdefault("paused", True)
        older.setdefault("paused_by", bot.get("paused_by"))
    return migrate(older)


def compile_bot_machine(loaded: LoadedProfile) -> CompiledMachine:
    """Raises SpecErrors naming machines/bot.yaml's file, line and key (or the profile's) on any problem."""
    return bind_machine(load_bot_definition(bot_machine_path(loaded.machine_path)), loaded)


def open_bot_machine(loaded: LoadedProfile, book: PositionBook, risk: RiskGuard,
                     report: ResumeReport | None = None) -> BotMachine:
    machine = compile_bot_machine(loaded)
    saved = book.bot.get(BOT_VALUE)
    model = resumed_state(book.bot, risk.state.legacy)
    if not saved:
        if model.state != "running":  # (a fresh bot starts running: nothing to write)
            note = f"bot machine: resumed {model.state!r} from the older risk state ({model.reason})"
            log.warning(note)
            if report is not None:
                report.warnings.append(note)
            # journaled at once, so a replay of the journal starts from the same state
            book.set_bot_value(BASE_VALUE, model.to_dict(), sync=book.durable)
            book.set_bot_value(BOT_VALUE, model.to_dict(), sync=book.durable)
    if risk.state.legacy:
        risk.state.legacy = {}
        risk.changed = True
        if risk.on_change is not None:
            risk.on_change(risk.state)  # saved without the keys the bot machine now holds
    if model.state not in machine.spec.states:
        raise ValueError(f"{book.state_dir}: the bot is in state {model.state!r}, which "
                         f"{machine.definition.file} does not declare")
    return BotMachine(machine, model, risk, book.record_bot_transition)


def replayed_state(loaded: LoadedProfile, book: PositionBook) -> BotModel:
    """The bot's state rebuilt from the journal's bot-machine records alone (for tests and `repair`):
    it must equal what the book resumed (`book.bot[BOT_VALUE]`)."""
    records = list(read_records(book.journal.path, bot=True))
    base = next((r["bot"][BASE_VALUE] for r in records if BASE_VALUE in r.get("bot", {})), None)
    return replay(compile_bot_machine(loaded), records, BotModel.from_dict(base) if base else None)


def request_rearm(folder: Path, by: str) -> Path:
    """Ask the bot running on `folder` to re-arm (it takes the request at its next tick). Written whole
    (a temporary file renamed over it), so the bot never reads half a request."""
    path = folder / REARM_REQUEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"by": by}), encoding="utf-8")
    os.replace(tmp, path)
    return path


def take_rearm_request(folder: Path) -> str | None:
    """Who asked for a re-arm (the request is removed), or None without a request."""
    path = folder / REARM_REQUEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    try:
        by = json.loads(text).get("by")
    except (ValueError, AttributeError):
        by = None
    return str(by) if by else "cli:unknown"
