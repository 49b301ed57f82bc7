"""/status names the profile whose trading sections the bot runs (`current_aggression`). It is asked on
every status (Telegram, the dashboard's polling), so the folder's profiles are loaded once and again
only when one of their files changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.bot.control import profiles as control_profiles
from engine.bot.control.profiles import current_aggression
from engine.config.loading import load_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles", ignore=shutil.ignore_patterns("spaces"))
    shutil.copytree(REPO / "machines", tmp_path / "machines")
    return tmp_path


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    loads: list[Path] = []
    real = control_profiles.load_profile

    def counted(path, *args, **kwargs):  # noqa: ANN001, ANN202
        loads.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(control_profiles, "load_profile", counted)
    return loads


def test_the_folder_is_loaded_once_while_its_files_stay_as_they_are(project: Path, monkeypatch) -> None:
    loaded = load_profile(project / "profiles" / "balanced.yaml", state_root=project / "state")
    loads = _counting(monkeypatch)
    assert current_aggression(loaded) == "balanced"
    first = len(loads)
    assert first == 3  # aggressive, balanced, conservative
    for _ in range(5):
        assert current_aggression(loaded) == "balanced"
    assert len(loads) == first


def test_an_edited_profile_is_read_again(project: Path, monkeypatch) -> None:
    loaded = load_profile(project / "profiles" / "balanced.yaml", state_root=project / "state")
    assert current_aggression(loaded) == "balanced"
    path = project / "profiles" / "balanced.yaml"
    path.write_text(path.read_text().replace("max_positions: 5", "max_positions: 6"))
    # the running bot still trades the old sections: no file in the folder has them any more
    assert current_aggression(loaded) is None
    loads = _counting(monkeypatch)
    current_aggression(loaded)
    assert loads == []  # nothing changed since the last call


def test_editing_the_base_of_a_profile_is_seen_through_its_extends(project: Path) -> None:
    loaded = load_profile(project / "profiles" / "conservative.yaml", state_root=project / "state")
    assert current_aggression(loaded) == "conservative"
    base = project / "profiles" / "balanced.yaml"  # conservative takes rsi_period from it
    base.write_text(base.read_text().replace("rsi_period: 14", "rsi_period: 15"))
    assert current_aggression(loaded) is None


def test_a_profile_that_no_longer_loads_is_skipped(project: Path) -> None:
    loaded = load_profile(project / "profiles" / "conservative.yaml", state_root=project / "state")
    assert current_aggression(loaded) == "conservative"
    broken = project / "profiles" / "aggressive.yaml"
    broken.write_text(broken.read_text().replace("leverage: 10", "leverage: many"))
    assert current_aggression(loaded) == "conservative"
