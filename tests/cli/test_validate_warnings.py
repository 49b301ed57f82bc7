"""`validate PROFILE` warns, with exit code 0, when a group or channel (negative chat id) is on the
Telegram allow-list without a user allow-list: every member of it could control the bot. Its output
shows whether the secret variables are set, never their values."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main
from tests.positions.support import MACHINE_FILE

GROUP_WARNING = "EVERY member of that chat can control the bot"


def write_profile(tmp_path: Path, telegram: str) -> Path:
    path = tmp_path / "profiles" / "demo.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"name: demo\nruntime:\n  state_dir: {tmp_path / 'state'}\n  machine: {MACHINE_FILE}\n"
                    f"telegram:\n{telegram}", encoding="utf-8")
    return path


def validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_open_group_is_a_warning_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path, "  enabled: true\n  allowed_chat_ids: [42, -1001234567890]\n")
    code, out, err = validate(capsys, str(profile))
    assert code == 0 and f"OK {profile}" in out
    [line] = err.splitlines()
    assert line.startswith(f"warning: {profile}: telegram.allowed_chat_ids has group/channel chat(s) -1001234567890")
    assert "telegram.allowed_user_ids is empty" in line and GROUP_WARNING in line
    assert "42," not in line, "a private chat (positive id) is not named"
    # --quiet prints only problems, and this is one
    assert validate(capsys, "-q", str(profile)) == (0, "", err)


def test_a_disabled_telegram_still_warns_for_later(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path, "  allowed_chat_ids: [-100111, -100222]\n")
    code, _, err = validate(capsys, str(profile))
    assert code == 0 and "chat(s) -100111, -100222" in err and "EVERY member of those chats" in err
    assert "telegram.enabled is false now" in err


@pytest.mark.parametrize("telegram", [
    "  enabled: true\n  allowed_chat_ids: [-1001234567890]\n  allowed_user_ids: [42]\n",  # users restricted
    "  enabled: true\n  allowed_chat_ids: [42, 43]\n",  # private chats only: the user is the chat
    "  enabled: false\n",
])
def test_no_warning_when_only_known_people_can_control(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       telegram: str) -> None:
    code, out, err = validate(capsys, str(write_profile(tmp_path, telegram)))
    assert (code, err) == (0, "") and "OK " in out


def test_validate_shows_no_secret_value(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "777:validate-secret-token")
    monkeypatch.setenv("ENGINE_APPRISE_URLS", "json://127.0.0.1:9/hook/validate-url-token?+X-Auth=validate-hdr")
    code, out, err = validate(capsys, str(write_profile(tmp_path, "  allowed_chat_ids: [42]\n")))
    assert code == 0 and "urls_env: ENGINE_APPRISE_URLS (set)" in out and "token_env: TELEGRAM_BOT_TOKEN (set)" in out
    for secret in ("validate-secret-token", "validate-url-token", "validate-hdr", "127.0.0.1:9"):
        assert secret not in out + err
