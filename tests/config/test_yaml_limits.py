"""The YAML reader's limits: alias bombs, recursive aliases and deep nesting are refused naming the file,
the line and the key (exit 2) instead of exhausting memory or the stack; merge keys work and their
errors name the right file. The bomb runs in a child process under an address-space limit and a
timeout, so a broken guard fails the test instead of eating the machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.errors import SpecError
from engine.yaml_source import load_yaml
from tests.config.support import line_of, write
from tests.positions.support import MACHINE_FILE, REPO

BOMB = "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]\n" for p, k in zip("abcdefgh", "bcdefghi", strict=True)
)
BOMB_PROFILE = "name: bomb\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB

GUARDED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from engine.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def refusal(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    return info.value


@pytest.mark.parametrize("command", ["validate", "diagram"])
def test_an_alias_bomb_is_refused_in_a_memory_capped_child(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, "bomb.yaml", BOMB_PROFILE)
    done = subprocess.run([sys.executable, "-c", GUARDED, command, str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = line_of(BOMB_PROFILE, "e: &e")
    assert f"{path}:{line}: e[1]" in done.stderr and "aliases are expanded" in done.stderr


def test_a_recursive_alias_names_file_line_and_key(tmp_path: Path) -> None:
    text = "name: rec\nrisk:\n  x: &a [1, *a]\n"
    err = refusal(write(tmp_path, "rec.yaml", text))
    assert (err.line, err.key) == (line_of(text, "*a"), "risk.x[1]")
    assert "recursive alias" in err.problem


def test_deep_nesting_is_refused_before_the_stack_runs_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = "name: deep\nrisk: " + "[" * 5000 + "]" * 5000 + "\n"
    path = write(tmp_path, "deep.yaml", text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: risk[0]" in err and "nested more than 20 levels" in err
    assert "RecursionError" not in err


def test_a_merge_key_merges_and_its_errors_name_the_file(tmp_path: Path) -> None:
    text = "name: m\nbase: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n"
    data, locator = load_yaml(write(tmp_path, "merge.yaml", text))
    assert data["other"] == {"x": 1, "y": 3}
    assert locator.line(("other", "x")) == line_of(text, "base:")
    assert locator.line(("other", "y")) == line_of(text, "y: 3")
    bad = "name: m\nother:\n  <<: 5\n"
    path = write(tmp_path, "badmerge.yaml", bad)
    err = refusal(path)
    assert (err.file, err.line, err.key) == (str(path), 3, "other.<<")


def test_a_machine_with_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    text = MACHINE_FILE.read_text(encoding="utf-8") + "x_bomb:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    text += "".join("  " + line + "\n" for line in BOMB.splitlines())
    path = write(tmp_path, "machine.yaml", text)
    done = subprocess.run([sys.executable, "-c", GUARDED, "diagram", str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)  # guarded like the profile bomb: a broken limit must not eat memory
    assert done.returncode == 2, done.stderr
    assert f"{path}:{line_of(text, 'e: &e')}: x_bomb.e[1]" in done.stderr
