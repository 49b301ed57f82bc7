"""Load a profile: YAML → `extends:` chain merged → runtime overrides merged → pydantic validation.

Every error names the file and line the offending key came from (the parent's file for an
inherited key) and what was expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.config.profile import Profile
from engine.errors import SpecError, SpecErrors
from engine.machine.loader import MachineDefinition
from engine.machine.runtime import CompiledMachine
from engine.yaml_source import Locator, load_yaml, validate_model

OVERRIDES_FILE = "overrides.json"
MAX_EXTENDS_DEPTH = 8


@dataclass(frozen=True)
class LoadedProfile:
    profile: Profile
    path: Path
    locator: Locator
    data: dict[str, Any]  # merged raw data, as validated
    overrides: dict[str, Any]

    @property
    def root(self) -> Path:
        """The folder relative paths in the profile are resolved against (the project root)."""
        return self.path.resolve().parent.parent

    @property
    def state_dir(self) -> Path:
        base = Path(self.profile.runtime.state_dir)
        if not base.is_absolute():
            base = self.root / base
        return base / self.profile.name

    @property
    def machine_path(self) -> Path:
        path = Path(self.profile.runtime.machine)
        return path if path.is_absolute() else self.root / path


def load_profile(path: Path, *, with_overrides: bool = True, state_root: Path | None = None) -> LoadedProfile:
    """Raises SpecError/SpecErrors (a UserError) for any problem in the profile chain."""
    data, locator = _load_chain(path, [])
    overrides: dict[str, Any] = {}
    if with_overrides and isinstance(data.get("name"), str):
        base = Path(state_root) if state_root else _state_root(data, path)
        overrides_path = base / data["name"] / OVERRIDES_FILE
        overrides = read_overrides(base / data["name"])
        data = deep_merge(data, overrides)
        for key in _paths(overrides):
            locator.files[key] = overrides_path
            locator.lines[key] = 0  # JSON has no lines worth naming; the key path says where
    profile = validate_model(Profile, data, locator)
    return LoadedProfile(profile, path, locator, data, overrides)


def _state_root(data: dict[str, Any], path: Path) -> Path:
    """Where the profile's state folders live, as `LoadedProfile.state_dir` will say once validated
    (the overrides are read before validation, so from the raw `runtime.state_dir`)."""
    runtime = data.get("runtime")
    raw = runtime.get("state_dir", "state") if isinstance(runtime, dict) else "state"
    base = Path(raw) if isinstance(raw, str) else Path("state")
    return base if base.is_absolute() else path.resolve().parent.parent / base


def _load_chain(path: Path, seen: list[Path]) -> tuple[dict[str, Any], Locator]:
    resolved = path.resolve()
    if resolved in seen:
        chain = " → ".join(p.name for p in [*seen, resolved])
        raise SpecError(path, None, "extends", f"profiles extend each other in a cycle: {chain}")
    if len(seen) >= MAX_EXTENDS_DEPTH:
        raise SpecError(path, None, "extends", f"more than {MAX_EXTENDS_DEPTH} levels of extends")
    data, locator = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(path, locator.line(()), "", "a profile must be a mapping of sections (name, mode, orders, …)")
    parent_name = data.pop("extends", None)
    if parent_name is None:
        return data, locator
    if not isinstance(parent_name, str):
        raise locator.error(("extends",), f"expected a profile file name, got {parent_name!r}")
    if not seen and "name" not in data:
        # Inheriting the parent's name would share its state folder (positions, journal, overrides).
        raise SpecError(path, locator.line(("extends",)), "name",
                        f"required key is missing: a profile that extends {parent_name} needs its own name "
                        f"(e.g. name: {_suggested_name(path)}), or it would share {parent_name}'s state folder")
    parent_path = path.parent / parent_name
    if not parent_path.suffix:
        parent_path = parent_path.with_suffix(".yaml")
    if not parent_path.is_file():
        raise locator.error(("extends",), f"profile {parent_name!r} not found (looked for {parent_path})")
    if parent_path.resolve() in (*seen, resolved):
        chain = " → ".join(p.name for p in [*seen, resolved, parent_path.resolve()])
        raise locator.error(("extends",), f"profiles extend each other in a cycle: {chain}")
    parent, parent_locator = _load_chain(parent_path, [*seen, resolved])
    merged = deep_merge(parent, data)
    # Keys from the child keep the child's lines; everything else points into the parent file.
    combined = Locator(path, dict(parent_locator.lines), dict(parent_locator.files))
    for key in parent_locator.lines:
        combined.files.setdefault(key, parent_locator.file_of(key))
    for key, line in locator.lines.items():
        combined.lines[key] = line
        combined.files[key] = path
    return merged, combined


def _suggested_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_")
    return name or "my-profile"


def _paths(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in data.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out.extend(_paths(value, (*prefix, key)))
    return out


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, recursing into mappings; lists and scalars in `top` replace."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_overrides(state_dir: Path) -> dict[str, Any]:
    """Runtime overrides (pause, profile switch …) persisted by the running bot; {} when none."""
    path = state_dir / OVERRIDES_FILE
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(path, None, "", f"cannot read runtime overrides: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(path, None, "", "runtime overrides must be a JSON object")
    return data


def bind_machine(definition: MachineDefinition, loaded: LoadedProfile) -> CompiledMachine:
    """Compile the machine with the durations its timeouts name, taken from the profile.

    Raises SpecErrors naming the machine file and line of every `timeout.after` that the profile
    does not provide as a duration.
    """
    timeouts: dict[str, timedelta] = {}
    errors = []
    for name, state in definition.spec.states.items():
        if state.timeout is None or state.timeout.after is None:  # `at:` deadlines need no profile value
            continue
        ref = state.timeout.after
        try:
            value = loaded.profile.param(ref)
        except KeyError:
            errors.append(
                definition.locator.error(
                    ("states", name, "timeout", "after"),
                    f"profile {loaded.path} has no parameter {ref!r}; "
                    "expected a duration key such as orders.entry_timeout",
                )
            )
            continue
        if not isinstance(value, timedelta):
            errors.append(
                definition.locator.error(
                    ("states", name, "timeout", "after"), f"profile parameter {ref!r} is {value!r}, expected a duration"
                )
            )
            continue
        timeouts[ref] = value
    if errors:
        raise SpecErrors(errors)
    return CompiledMachine(definition, timeouts)


def load_machine_for(loaded: LoadedProfile) -> CompiledMachine:
    from engine.positions.events import load_position_machine  # the domain's registry and contract

    return bind_machine(load_position_machine(loaded.machine_path), loaded)
