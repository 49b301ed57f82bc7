"""The bot machine at the command line: `validate machines/bot.yaml`, `rearm PROFILE` on a stopped bot's
folder and beside a running one, `status` and `log` showing the bot's state and transitions, and
`diagram machines/bot.yaml --state DIR` highlighting where the bot is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.bot.control.control import BotControl
from engine.bot.session import open_risk
from engine.config.loading import load_machine_for, load_profile
from engine.positions.book import PositionBook
from engine.store.lock import state_lock
from engine.trading.bot_machine import DEFAULT_PATH
from engine.trading.bot_state import REARM_REQUEST, open_bot_machine, take_rearm_request
from tests.cli.test_cli import run, write_profile

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def stopped_out(tmp_path: Path) -> Path:
    """A profile whose bot the equity hard stop left stopped_out (flat), as a run would leave it."""
    profile = write_profile(tmp_path, body="risk:\n  max_drawdown_pct: 20\n")
    loaded = load_profile(profile)
    book = PositionBook(load_machine_for(loaded), loaded.state_dir)
    book.open()
    risk = open_risk(loaded, book)
    bot = open_bot_machine(loaded, book, risk)
    risk.record_equity(Decimal(1000))
    bot.check(T0, equity=Decimal(790), live=0)
    assert bot.state == "stopped_out"
    book.close()
    return profile


def bot_state(capsys: pytest.CaptureFixture[str], profile: Path) -> dict:
    code, out, err = run(capsys, "status", str(profile), "--json")
    assert code == 0, err
    return json.loads(out)["bot"]


def test_validate_the_bot_machine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(DEFAULT_PATH))
    assert code == 0, err
    assert "machine 'bot': 6 states" in out


def test_a_bad_bot_machine_exits_2_naming_file_line_and_key(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    bad = text.replace("guards: [bot.hard_stop_hit]", "guards: [bot.hard_stop_hitt]", 1)
    path = tmp_path / "bot.yaml"
    path.write_text(bad, encoding="utf-8")
    line = next(i for i, s in enumerate(bad.splitlines(), start=1) if "hard_stop_hitt" in s)
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}:{line}: transitions[")
    assert "unknown guard 'bot.hard_stop_hitt'; expected one of: bot.hard_stop_hit" in err and "Traceback" not in err
    # a bot machine that no longer handles an event the engine sends is refused too
    rearm = "  - event: rearm\n    from: stopped_out\n    to: running\n    actions: [bot.record_rearm]\n"
    assert rearm in text
    dropped = text.replace(rearm, "")
    path.write_text(dropped, encoding="utf-8")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2 and "event 'rearm' is not handled in state 'stopped_out'" in err


def test_a_bad_drawdown_limit_exits_2_naming_file_line_and_key(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path, body="risk:\n  max_drawdown_pct: 150\n")
    line = profile.read_text().splitlines().index("  max_drawdown_pct: 150") + 1
    code, _, err = run(capsys, "validate", str(profile))
    assert code == 2 and "Traceback" not in err
    assert f"{profile}:{line}: risk.max_drawdown_pct: Input should be less than 100" in err


def test_rearm_on_a_stopped_bot_asks_for_yes_then_journals_who(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    profile = stopped_out(tmp_path)
    assert bot_state(capsys, profile)["state"] == "stopped_out"
    assert "21.00% below its peak 1000.00 (risk.max_drawdown_pct 20)" in bot_state(capsys, profile)["why"]
    code, out, _ = run(capsys, "rearm", str(profile))
    assert code == 1 and "run again with --yes" in out
    assert bot_state(capsys, profile)["state"] == "stopped_out"  # nothing changed
    code, out, err = run(capsys, "rearm", str(profile), "--yes", "--by", "ann")
    assert code == 0, err
    assert "re-armed by cli:ann" in out
    bot = bot_state(capsys, profile)
    assert (bot["state"], bot["by"], bot["tripped"]) == ("running", "cli:ann", False)
    # the log shows the bot's transitions, who re-armed it included
    code, out, _ = run(capsys, "log", "--profile", str(profile), "--json", "--event", "rearm")
    records = [json.loads(line) for line in out.splitlines()]
    [record] = [r for r in records if r.get("machine") == "bot"]
    [command] = [r for r in records if r.get("kind") == "command"]  # and the command, with the same sender
    assert (command["command"], command["by"]) == ("rearm", "cli:ann")
    assert (record["event"], record["from"], record["to"], record["by"]) == ("rearm", "stopped_out", "running",
                                                                              "cli:ann")
    code, out, _ = run(capsys, "log", "--profile", str(profile))
    assert code == 0 and "hard_stop" in out and "all_flat" in out and "bot#" in out
    # a second rearm finds nothing to do
    code, out, _ = run(capsys, "rearm", str(profile), "--yes")
    assert code == 1 and "nothing to re-arm: the bot is running" in out


def test_rearm_beside_a_running_bot_leaves_a_request_the_bot_takes(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    profile = stopped_out(tmp_path)
    loaded = load_profile(profile)
    with state_lock(loaded.state_dir):  # the running bot holds its folder
        code, out, _ = run(capsys, "rearm", str(profile))
        assert code == 1 and "in use by a running bot" in out and not (loaded.state_dir / REARM_REQUEST).exists()
        code, out, err = run(capsys, "rearm", str(profile), "--yes", "--by", "bob")
        assert code == 0, err
        assert "asked it to re-arm at its next tick" in out
        assert (loaded.state_dir / REARM_REQUEST).is_file()
    assert take_rearm_request(loaded.state_dir) == "cli:bob"
    assert take_rearm_request(loaded.state_dir) is None  # taken once


def test_the_running_bot_takes_the_request_at_its_tick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.bot.session import open_session
    from engine.venue.builtin_markets import builtin_markets

    profile = stopped_out(tmp_path)
    loaded = load_profile(profile)
    session = open_session(loaded, builtin_markets(("USDC",)))
    try:
        control = BotControl(loaded, session, now=lambda: T0, started=T0, stats=None)  # type: ignore[arg-type]
        control.tick()
        assert session.bot.state == "stopped_out"  # no request: nothing
        (loaded.state_dir / REARM_REQUEST).write_text(json.dumps({"by": "cli:carol"}), encoding="utf-8")
        control.tick()
        assert session.bot.state == "running" and session.bot.model.by == "cli:carol"
        assert not (loaded.state_dir / REARM_REQUEST).exists()
    finally:
        session.book.close()


def test_diagram_of_the_bot_machine_highlights_its_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = stopped_out(tmp_path)
    folder = load_profile(profile).state_dir
    code, out, err = run(capsys, "diagram", str(DEFAULT_PATH), "--state", str(folder))
    assert code == 0, err
    assert "the bot: now in stopped_out" in out and "class stopped_out current" in out
    assert "class flattening visited" in out  # the path it took, from its journaled transitions
    assert "stopped_out" in out and "flattening" in out
    code, plain, _ = run(capsys, "diagram", str(DEFAULT_PATH))
    assert code == 0 and "now in" not in plain
