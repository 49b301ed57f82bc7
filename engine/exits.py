"""Why a position's exit happened: the vocabulary every layer reads (lifecycle, risk, stats, report,
notifications). Kept out of trading/ so that stats and report can read it without depending on the
trading they report on; imports nothing of the engine.

`Position.exit_reason` stays a plain string, because that is what the journal, the history and the
trades CSV have always held: a member's value, a numbered take-profit (`tp2`), a refusal with the
venue's code and message (`rejected -2019 Margin is insufficient`), or the name of a YAML timeout that
closed the position (`max_hold`, or any other the machine declares). `ExitReason.of` is the typed
view of such a string; the producers write `ExitReason` members (a `StrEnum`, so already strings).
"""

from __future__ import annotations

from enum import StrEnum


class ExitReason(StrEnum):
    STOP_LOSS = "sl"  # the stop-loss order filled
    TAKE_PROFIT = "tp"  # a take-profit slice filled; stored numbered, see `take_profit`
    CLOSE = "close"  # a close order filled with no reason recorded for it
    MAX_HOLD = "max_hold"  # machines/position.yaml's max-hold timeout closed it
    CLOSE_REQUESTED = "close_requested"  # close_all without a more specific cause
    MANUAL = "manual"  # the operator's close command
    SHUTDOWN = "shutdown"  # the console driver closing everything on exit
    END_OF_BACKTEST = "end_of_backtest"  # the backtest's last candle
    EMERGENCY = "emergency"  # flattened by the emergency close (refusals, timeouts, panics)
    FLAT = "flat"  # the venue was found flat with no other reason known
    REJECTED = "rejected"  # the entry was refused; stored with code and message, see `rejected`
    ENTRY_EXPIRED = "entry_expired"  # a limit entry that did not fill before its timeout, abandoned (profile)
    # The causes of a `Panic` event (the position's exit is then recorded as EMERGENCY).
    PANIC = "panic"  # the operator's panic command
    LIQUIDATION = "liquidation"  # the venue liquidated the symbol
    RECONCILE = "reconcile"  # reconciliation found the venue's size disagreeing with ours

    @staticmethod
    def take_profit(step: int) -> str:
        """The stored reason of take-profit step `step` (1-based): `tp2`."""
        return f"{ExitReason.TAKE_PROFIT.value}{step}"

    @staticmethod
    def rejected(code: object, msg: object) -> str:
        """The stored reason of a refused entry: `rejected <code> <msg>`, trimmed (exactly the text the
        journal has always held, so a None is written as `None`, as before)."""
        return f"{ExitReason.REJECTED.value} {code} {msg}".strip()

    @classmethod
    def of(cls, text: str | None) -> ExitReason | None:
        """The member a stored reason string stands for; None for no reason or one the engine does not
        name (a YAML timeout other than max_hold)."""
        if not text:
            return None
        member = cls._value2member_map_.get(text)
        if member is not None:
            return member  # type: ignore[return-value]
        if text.startswith(cls.TAKE_PROFIT.value) and text[len(cls.TAKE_PROFIT.value):].isdigit():
            return cls.TAKE_PROFIT
        if text.split(" ", 1)[0] == cls.REJECTED.value:
            return cls.REJECTED
        return None
