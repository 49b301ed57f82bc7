"""ExitReason: the typed view of the exit-reason strings the journal, history and trades CSV hold."""

from __future__ import annotations

import pytest

from engine.exits import ExitReason


@pytest.mark.parametrize("member", list(ExitReason))
def test_every_member_round_trips_through_its_string(member: ExitReason) -> None:
    assert ExitReason.of(str(member)) is member
    assert ExitReason.of(member.value) is member


@pytest.mark.parametrize("step", [1, 2, 3, 4, 10])
def test_take_profit_is_numbered_and_read_back(step: int) -> None:
    text = ExitReason.take_profit(step)
    assert text == f"tp{step}" and type(text) is str
    assert ExitReason.of(text) is ExitReason.TAKE_PROFIT


def test_the_strings_are_the_journals() -> None:
    # what the files have always held: none of these may change
    assert [m.value for m in ExitReason] == [
        "sl", "tp", "close", "max_hold", "close_requested", "manual", "shutdown", "end_of_backtest",
        "emergency", "flat", "rejected", "entry_expired", "panic", "liquidation", "reconcile",
    ]
    assert ExitReason.take_profit(2) == "tp2"
    assert f"{ExitReason.STOP_LOSS}" == "sl" and str(ExitReason.MAX_HOLD) == "max_hold"


@pytest.mark.parametrize(
    ("code", "msg", "text"),
    [
        (-2019, "Margin is insufficient", "rejected -2019 Margin is insufficient"),
        ("", "", "rejected"),
        (-2021, "", "rejected -2021"),
        (None, "rejected", "rejected None rejected"),  # as the lifecycle always wrote a code-less refusal
    ],
)
def test_rejected_keeps_code_and_message(code: object, msg: object, text: str) -> None:
    assert ExitReason.rejected(code, msg) == text
    assert ExitReason.of(text) is ExitReason.REJECTED


@pytest.mark.parametrize("text", [None, "", "entry_timeout", "my_yaml_timeout", "tpx", "tp-1", "slx", "rejectedfoo"])
def test_unknown_or_absent_reasons_are_none(text: str | None) -> None:
    assert ExitReason.of(text) is None
