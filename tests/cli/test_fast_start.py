"""The light commands start fast: `--help`, `validate`, `diagram`, `log` and `status` never import the heavy
libraries (pandas, pandas_ta, numba, ccxt, matplotlib, python-telegram-bot); only `run` and `backtest` load them,
inside the command.

Each command runs as a subprocess under `python -X importtime`, which lists every module the process imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = frozenset({"pandas", "pandas_ta", "numba", "ccxt", "matplotlib", "telegram"})


def imported_modules(stderr: str) -> list[str]:
    """Module names from `-X importtime` lines: `import time: self [us] | cumulative | name`."""
    names = []
    for line in stderr.splitlines():
        if line.startswith("import time:"):
            fields = line.split("|")
            if len(fields) == 3 and fields[0].split(":", 1)[1].strip().isdigit():
                names.append(fields[2].strip())
    return names


def engine_importtime(*argv: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    env = {**os.environ, "ENGINE_OFFLINE": "1"}
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "engine", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, imported_modules(done.stderr)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """The aggressive profile with its state in a temporary folder (status and log only read it)."""
    path = tmp_path / "profiles" / "fast.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f"extends: {REPO / 'profiles' / 'aggressive.yaml'}\nname: fast\n"
        f"runtime:\n  state_dir: {tmp_path / 'state'}\n  machine: {REPO / 'machines' / 'position.yaml'}\n",
        encoding="utf-8",
    )
    return path


COMMANDS = [
    pytest.param(["--help"], id="help"),
    pytest.param(["validate", "profiles/aggressive.yaml"], id="validate-profile"),
    pytest.param(["validate", "machines/position.yaml"], id="validate-machine"),
    pytest.param(["diagram", "machines/position.yaml"], id="diagram"),
    pytest.param(["log", "--profile", "{profile}"], id="log"),
    pytest.param(["status", "{profile}"], id="status"),
]


@pytest.mark.parametrize("argv", COMMANDS)
def test_light_command_imports_no_heavy_library(argv: list[str], profile: Path) -> None:
    argv = [arg.format(profile=profile) for arg in argv]
    done, modules = engine_importtime(*argv)
    assert done.returncode == 0, f"python -m engine {' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}"
    assert "engine.cli.main" in modules, "no importtime lines parsed from stderr"
    offenders = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    tops = sorted({m.split(".")[0] for m in offenders})
    assert not offenders, (
        f"python -m engine {' '.join(argv)} imported {', '.join(tops)} "
        f"({len(offenders)} modules: {', '.join(offenders[:20])}{' …' if len(offenders) > 20 else ''}); "
        "move the import into the function that needs it"
    )
