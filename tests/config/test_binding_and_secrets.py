"""Binding a machine to a profile's numbers, and secrets that `validate` never prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config.loading import bind_machine, load_machine_for
from engine.errors import SpecErrors
from engine.positions.events import load_position_machine
from tests.config.support import (
    edit,
    expect,
    line_of,
    load,
    write,
)
from tests.config.test_durations_and_overrides import write_overrides
from tests.positions.support import MACHINE_FILE


# --- binding a machine ---------------------------------------------------------------------------
def minimal_profile(
    tmp_path: Path, name: str = "mini", machine: Path = MACHINE_FILE, extra: str = ""
) -> Path:
    return write(
        tmp_path / "profiles",
        f"{name}.yaml",
        f"name: {name}\nruntime:\n  machine: {machine}\n  state_dir: {tmp_path / 'run'}\n{extra}",
    )


@pytest.mark.parametrize(
    ("after", "phrase"),
    [
        ("orders.entry_timout", "has no parameter 'orders.entry_timout'"),
        ("limits.entry_timeout", "has no parameter 'limits.entry_timeout'"),
        ("orders.leverage", "profile parameter 'orders.leverage' is 5, expected a duration"),
    ],
    ids=["typo", "no-section", "not-a-duration"],
)
def test_bind_machine_refuses_a_timeout_the_profile_cannot_supply(
    tmp_path: Path, after: str, phrase: str
) -> None:
    text = edit(
        MACHINE_FILE.read_text(encoding="utf-8"), "{after: orders.entry_timeout,", f"{{after: {after},"
    )
    machine_path = write(tmp_path / "machines", "position.yaml", text)
    definition = load_position_machine(machine_path)  # the machine itself is valid
    loaded = load(minimal_profile(tmp_path, machine=machine_path), tmp_path)
    with pytest.raises(SpecErrors) as info:
        bind_machine(definition, loaded)
    errors = info.value.errors
    assert len(errors) == 1
    expect(errors, machine_path, line_of(text, f"after: {after}"), "states.entering.timeout.after", phrase)
    # and the same through load_machine_for (what `validate` and the bot use)
    with pytest.raises(SpecErrors) as again:
        load_machine_for(loaded)
    assert [str(e) for e in again.value.errors] == [str(e) for e in errors]


def test_validate_profile_with_an_unbindable_machine_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = edit(
        MACHINE_FILE.read_text(encoding="utf-8"),
        "{after: risk.max_hold, event: max_hold, since: opened}\n  partial_tp:",
        "{after: risk.max_hould, event: max_hold, since: opened}\n  partial_tp:",
    )
    machine_path = write(tmp_path / "machines", "position.yaml", text)
    profile = minimal_profile(tmp_path, machine=machine_path)
    assert main(["validate", str(profile)]) == 2
    err = capsys.readouterr().err
    assert f"{machine_path}:{line_of(text, 'risk.max_hould')}: states.open.timeout.after:" in err
    assert "Traceback" not in err


# --- secrets -----------------------------------------------------------------------------------
SECRETS = {
    "BINANCE_API_KEY": "k3y-VALUE-7f3a9c-must-not-leak",
    "BINANCE_API_SECRET": "s3cr3t-VALUE-0d1e2f-must-not-leak",
    "TELEGRAM_BOT_TOKEN": "123456:tel3gram-VALUE-must-not-leak",
    "ENGINE_APPRISE_URLS": "tgram://apprise-VALUE-must-not-leak/",
    "MY_OTHER_SECRET": "other-VALUE-must-not-leak",
}


def test_validate_never_prints_secret_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    profile = minimal_profile(tmp_path, extra="venue:\n  api_key_env: MY_OTHER_SECRET\n")
    assert main(["validate", str(profile)]) == 0
    out, err = capsys.readouterr()
    for value in SECRETS.values():
        assert value not in out and value not in err
        assert value[:12] not in out
    assert "api_key_env: MY_OTHER_SECRET (set)" in out
    assert "api_secret_env: BINANCE_API_SECRET (set)" in out
    assert "token_env: TELEGRAM_BOT_TOKEN (set)" in out
    assert "urls_env: ENGINE_APPRISE_URLS (set)" in out


def test_validate_says_when_a_secret_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", SECRETS["BINANCE_API_KEY"])
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    assert main(["validate", str(minimal_profile(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "api_key_env: BINANCE_API_KEY (set)" in out
    assert "api_secret_env: BINANCE_API_SECRET (not set)" in out
    assert SECRETS["BINANCE_API_KEY"] not in out


def test_validate_shows_merged_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = minimal_profile(tmp_path)
    # overrides live in the profile's own state folder (runtime.state_dir), where the bot writes them
    write_overrides(tmp_path / "run", "mini", {"risk": {"max_positions": 2}})
    assert main(["validate", str(profile)]) == 0
    out = capsys.readouterr().out
    assert 'runtime overrides merged: {"risk": {"max_positions": 2}}' in out
    assert "max_positions: 2" in out
