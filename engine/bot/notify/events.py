"""What each important event says, as a short title and body (apprise sends them to any service).

Events are plain `kind` + data so the engine, the run loop and the control layer can all raise them
without knowing how they are delivered. Unknown kinds still go out, with their data listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.exits import ExitReason

LEVELS = ("info", "success", "warning", "failure")  # apprise NotifyType values, mildest first
SUMMARY_LINES = 8


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    title: str
    body: str
    level: str = "info"


def _money(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):+.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return value
    return "?" if value is None else str(value)


def duration_text(value: Any) -> str:
    """`timedelta` (or seconds) as `1h05m`, `4m12s`, `37s`."""
    if value is None:
        return "?"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _start(d: Mapping[str, Any]) -> tuple[str, str, str]:
    body = f"profile {d.get('profile', '?')} · mode {d.get('mode', '?')}"
    if d.get("positions") is not None:
        body += f" · {d['positions']} live position(s)"
    if d.get("note"):
        body += f"\n{d['note']}"
    return "bot started", body, "info"


def _stop(d: Mapping[str, Any]) -> tuple[str, str, str]:
    body = str(d.get("reason") or ExitReason.SHUTDOWN)
    if d.get("positions") is not None:
        body += f" · {d['positions']} live position(s) left"
    return "bot stopped", body, "warning"


def _entry(d: Mapping[str, Any]) -> tuple[str, str, str]:
    body = f"{d.get('id', '?')} {d.get('qty', '?')} @ {d.get('price', '?')}"
    if d.get("stop") is not None:
        body += f" · SL {d['stop']}"
    return f"entry {d.get('symbol', '?')} {d.get('side', '?')}", body, "info"


def _exit(d: Mapping[str, Any]) -> tuple[str, str, str]:
    pnl = d.get("pnl", "0")
    try:
        won = Decimal(str(pnl)) > 0
    except InvalidOperation:
        won = False
    body = (f"{d.get('id', '?')} {d.get('side', '?')} · reason {d.get('reason', '?')} · "
            f"held {duration_text(d.get('hold'))} · fees {_money(d.get('fees', '?')).lstrip('+')}")
    return f"exit {d.get('symbol', '?')} {_money(pnl)}", body, "success" if won else "warning"


def _emergency(d: Mapping[str, Any]) -> tuple[str, str, str]:
    body = f"{d.get('id', '?')}: {d.get('event', '?')} (was {d.get('source', '?')}); closing at market"
    return f"EMERGENCY {d.get('symbol', '?')}", body, "failure"


def _sl_pause(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return ("stop-loss streak: entries paused",
            f"{d.get('streak', '?')} stop-losses in a row; no entry until {_when(d.get('until'))}", "warning")


def _halt(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return ("daily loss limit: entries halted",
            f"today's realised PnL {_money(d.get('day_pnl'))}; no entry until {_when(d.get('until'))}", "failure")


def _until_rearm(title: str) -> Callable[[Mapping[str, Any]], tuple[str, str, str]]:
    """The equity hard stop's two messages (it fired; the bot is flat): why, and what lifts it."""
    return lambda d: (title, f"{d.get('reason', '?')}; no entry until /rearm", "failure")


def _paused(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return "entries paused", f"by {d.get('by', '?')}; open positions stay managed", "warning"


def _resumed(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return "entries resumed", f"by {d.get('by', '?')}", "info"


def _panic(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return "PANIC", f"by {d.get('by', '?')}: {d.get('positions', '?')} position(s) sent to emergency close", "failure"


def _close(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return f"close {d.get('id', '?')} requested", f"by {d.get('by', '?')}", "info"


def _profile(d: Mapping[str, Any]) -> tuple[str, str, str]:
    body = f"from {d.get('previous', '?')} by {d.get('by', '?')}"
    return f"profile switched to {d.get('name', '?')}", body, "warning"


def _reconciliation(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return "reconciliation problem", str(d.get("problem") or d.get("message") or d), "failure"


def _universe(d: Mapping[str, Any]) -> tuple[str, str, str]:
    lines = [f"in: {', '.join(d['added'])}"] if d.get("added") else []
    if d.get("removed"):
        lines.append(f"out: {', '.join(d['removed'])} (no new entries; open positions run to their end)")
    return f"universe changed: {d.get('symbols', '?')} symbols", "\n".join(lines), "info"


def _error(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return "error", str(d.get("message") or d), "failure"


FORMATS: dict[str, Callable[[Mapping[str, Any]], tuple[str, str, str]]] = {
    "start": _start,
    "stop": _stop,
    "entry": _entry,
    "exit": _exit,
    "emergency": _emergency,
    "sl_streak_pause": _sl_pause,
    "daily_loss_halt": _halt,
    "hard_stop": _until_rearm("EQUITY HARD STOP: flattening everything"),
    "stopped_out": _until_rearm("stopped out: flat"),
    "rearmed": lambda d: ("re-armed", f"by {d.get('by', '?')}; entries allowed again", "warning"),
    "paused": _paused,
    "resumed": _resumed,
    "panic": _panic,
    "close": _close,
    "profile": _profile,
    "reconciliation": _reconciliation,
    "universe": _universe,
    "error": _error,
}


def format_event(kind: str, data: Mapping[str, Any]) -> Message:
    """The message for one event. Never raises: a formatter that fails falls back to the raw data."""
    try:
        title, body, level = FORMATS[kind](data)
    except Exception:  # noqa: BLE001 - a notification must not fail because of odd data
        title, body, level = kind, ", ".join(f"{k}={v}" for k, v in data.items()), "info"
    return Message(kind, title, body, level)


def summarise(messages: Sequence[Message]) -> Message:
    """One message standing for a burst: counts per kind, then the first titles, at the gravest level."""
    counts = Counter(m.kind for m in messages)
    level = max((m.level for m in messages), key=LEVELS.index)
    lines = [", ".join(f"{n}× {kind}" for kind, n in counts.most_common())]
    lines += [f"- {m.title}: {m.body.splitlines()[0] if m.body else ''}" for m in messages[:SUMMARY_LINES]]
    if len(messages) > SUMMARY_LINES:
        lines.append(f"… and {len(messages) - SUMMARY_LINES} more")
    return Message("summary", f"{len(messages)} events", "\n".join(lines), level)
