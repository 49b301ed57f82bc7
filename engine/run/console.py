"""What a run shows and does at the terminal: the stop signals (Ctrl+C, SIGTERM), the periodic status
line and the graceful shutdown. Shared by every driver that trades in real time.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from engine.bot.session import Session
from engine.exits import ExitReason


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass


async def shutdown(session: Session, now: datetime, out: Any) -> None:
    """Graceful stop: state is durable either way; resting entries are withdrawn, open positions are
    closed or left protected."""
    profile = session.loaded.profile
    withdrawn = await session.engine.withdraw_entries(now)
    if withdrawn:
        out.print(f"shutting down: withdrew {withdrawn} resting limit entr{'y' if withdrawn == 1 else 'ies'} "
                  "(what filled stays, protected by its stop-loss)")
    live = len(session.book.live)
    if profile.runtime.close_on_shutdown and live:
        out.print(f"shutting down: closing {live} open position(s) (runtime.close_on_shutdown: true)")
        await session.engine.close_all(now, reason=ExitReason.SHUTDOWN)
    elif live:
        out.print(f"shutting down: {live} position(s) left open, protected by their stop-loss")
    out.print(f"state saved in {session.book.state_dir}; run the same command to resume")


async def print_status(out: Any, session: Session, now: datetime, started: float, services: Any = None) -> None:
    profile = session.loaded.profile
    balances = []
    for quote in profile.venue.quote_assets:
        b = await session.venue.balance(quote)
        balances.append(f"{b.total:.2f} {quote}")
    unrealised = sum((p.unrealized_pnl for p in await session.venue.positions()), Decimal(0))
    risk = session.bot.status(now)
    uptime = int(time.monotonic() - started)
    trades = session.engine.counters.closed
    if services is not None:  # today's trades from the statistics store (they survive restarts)
        trades = services.stats.summary(now).today.trades
    out.print(f"{now:%Y-%m-%d %H:%M} · balance {' · '.join(balances)} · open {len(session.book.live)} "
              f"(uPnL {unrealised:+.2f}) · today {Decimal(str(risk.get('day_pnl') or 0)):+.2f} · "
              f"trades today {trades} · up {uptime // 60}m{uptime % 60:02d}s"
              f"{'' if risk.get('state') == 'running' else ' · ' + str(risk.get('why', '')).upper()}")
