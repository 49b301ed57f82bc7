"""Helpers of the profile tests: textual edits of fixed copies of the profiles in tmp_path, loading, and the
refusal each edit must give (file, line, key, phrases)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.config.loading import LoadedProfile, load_profile
from engine.errors import SpecError, SpecErrors, UserError
from engine.machine.runtime import CompiledMachine
from engine.positions.model import Position
from tests.positions.support import MACHINE_FILE, REPO, T0, Env, fill, plan

PROFILES = REPO / "profiles"
SHIPPED = ("balanced", "conservative", "aggressive")
# The loader's tests edit profiles as text and name the lines they expect: they edit these fixed copies
# (the seed's three profiles), so re-tuning the shipped ones moves no line and no value under them.
FIXTURES = Path(__file__).with_name("fixtures")



# --- helpers -----------------------------------------------------------------------------------
def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"edit anchor must be unique: {old!r}"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}, expected exactly one"
    return hits[0]


def fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.yaml").read_text(encoding="utf-8")


def make_pdir(tmp_path: Path) -> Path:
    """tmp_path/profiles with copies of the three fixed profiles (FIXTURES; machine path made absolute)."""
    d = tmp_path / "profiles"
    d.mkdir()
    for name in SHIPPED:
        (d / f"{name}.yaml").write_text(fixture_text(name), encoding="utf-8")
    text = (d / "balanced.yaml").read_text(encoding="utf-8")
    (d / "balanced.yaml").write_text(
        edit(text, "runtime:\n", f"runtime:\n  machine: {MACHINE_FILE}\n"), encoding="utf-8"
    )
    return d


def load(path: Path, tmp_path: Path, **kw) -> LoadedProfile:
    return load_profile(path, state_root=tmp_path / "state", **kw)


def refusals(path: Path, tmp_path: Path) -> list[SpecError]:
    with pytest.raises(UserError) as info:
        load(path, tmp_path)
    exc = info.value
    if isinstance(exc, SpecErrors):
        return list(exc.errors)
    assert isinstance(exc, SpecError), type(exc)
    return [exc]


def expect(errors: list[SpecError], file: Path, line: int | None, key: str, *phrases: str) -> SpecError:
    matching = [e for e in errors if e.key == key]
    assert matching, f"no error for key {key!r}; got {[str(e) for e in errors]}"
    err = matching[0]
    assert err.file == str(file), f"{err.file} != {file}"
    assert err.line == line, f"{key}: line {err.line}, expected {line}: {err}"
    for phrase in phrases:
        assert phrase in err.problem, f"{phrase!r} not in {err.problem!r}"
    where = f"{file}:{line}" if line else str(file)
    assert str(err) == f"{where}: {key}: {err.problem}"
    return err


def write(dirpath: Path, name: str, text: str) -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    path = dirpath / name
    path.write_text(text, encoding="utf-8")
    return path


def bound_deadlines(machine: CompiledMachine) -> tuple[object, object]:
    """Fire signal then entry_filled on a fresh position; return the two deadlines the machine armed."""
    pos = Position("P1", "BTC/USDC:USDC")
    machine.attach(pos)
    machine.fire(pos, "signal", {"plan": plan()}, now=T0, env=Env())
    after_signal = (pos.deadline_event, pos.deadline_at)
    machine.fire(pos, "entry_filled", fill("0.010", "60000.0"), now=T0 + timedelta(seconds=5), env=Env())
    machine.detach(pos)
    return after_signal, (pos.deadline_event, pos.deadline_at)


