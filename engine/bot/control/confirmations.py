"""One-time confirmation tokens for dangerous commands (/panic, /close ID).

A token is created when the command is asked for and consumed by the confirming button press; it
expires `ttl` seconds after creation, measured with an injected clock (monotonic seconds by default;
tests move a fake one), never with the market clock that paper trading accelerates.

A token belongs to whoever asked, where they asked (`by` and `where`, e.g. the Telegram user and
chat): the buttons of a prompt are visible to everyone in a group, and the same operator's other
allowed chat is another audience, so only the same person in the same conversation can answer it.
Anyone else gets `ConfirmationError("not yours")` and the token stays live for its owner.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Pending:
    token: str
    action: str  # "panic" | "close"
    by: str
    created_at: float
    expires_at: float
    args: dict[str, Any] = field(default_factory=dict)
    where: str | None = None  # the conversation it was asked in (None: not asked through a chat)

    def belongs_to(self, by: str, where: str | None) -> bool:
        return self.by == by and self.where == where


class ConfirmationError(Exception):
    """The token is unknown, already used, expired, or someone else's; `reason` says which."""

    def __init__(self, reason: str, pending: Pending | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pending = pending


class Confirmations:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ValueError(f"a confirmation must stay valid for some time, got ttl={ttl}")
        self.ttl = ttl
        self.clock = clock
        self._pending: dict[str, Pending] = {}

    def create(self, action: str, by: str, *, where: str | None = None, **args: Any) -> Pending:
        now = self.clock()
        token = secrets.token_hex(4)  # fits easily in Telegram's 64-byte callback data
        pending = Pending(token, action, by, now, now + self.ttl, dict(args), where)
        self._pending[token] = pending
        return pending

    def check(self, token: str, by: str, where: str | None) -> Pending | None:
        """The live token (None when unknown or gone); raises ConfirmationError("not yours"), leaving it
        live, when `by`/`where` is not who asked."""
        pending = self._pending.get(token)
        if pending is not None and not pending.belongs_to(by, where):
            raise ConfirmationError("not yours", pending)
        return pending

    def take(self, token: str, by: str, where: str | None = None) -> Pending:
        """Consume a token. Raises ConfirmationError("not yours" | "expired" | "unknown")."""
        if self.check(token, by, where) is None:
            raise ConfirmationError("unknown")
        pending = self._pending.pop(token)
        if self.clock() >= pending.expires_at:
            raise ConfirmationError("expired", pending)
        return pending

    def cancel(self, token: str, by: str, where: str | None = None) -> Pending | None:
        """Drop a token; None when there is none. Raises ConfirmationError("not yours")."""
        if self.check(token, by, where) is None:
            return None
        return self._pending.pop(token)

    def expire(self) -> list[Pending]:
        """Forget expired tokens (a later press answers "unknown or expired"); returns them."""
        now = self.clock()
        gone = [p for p in self._pending.values() if now >= p.expires_at]
        for pending in gone:
            del self._pending[pending.token]
        return gone

    def __len__(self) -> int:
        return len(self._pending)
