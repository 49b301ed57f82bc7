"""A trial's profile: the search values applied to the base profile's merged data by dotted key, then
validated by the same pydantic models as any profile, before anything runs."""

from __future__ import annotations

import copy
from typing import Any

from engine.config.loading import LoadedProfile
from engine.config.profile import Profile
from engine.errors import SpecError, SpecErrors
from engine.optimize.space import Param, Space
from engine.yaml_source import validate_model

_MISSING = object()


def get_key(data: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted key of raw profile data, or `_MISSING` (a number indexes a list)."""
    node: Any = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a dotted key in place, making the mappings on the way; a number part indexes an existing list."""
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(f"{'.'.join(parts[:i])} is a list of {len(node)}; {part!r} is not an index of it")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if last:
            node[part] = value
        else:
            if not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]


def applies(param: Param, data: dict[str, Any]) -> bool:
    """Whether `when:` holds for this profile data (no `when:`: always)."""
    return all(get_key(data, key) == value for key, value in (param.spec.when or {}).items())


def build_profile(base: LoadedProfile, values: dict[str, Any]) -> LoadedProfile:
    """The base profile with `values` (dotted key → value) applied and validated. Raises SpecErrors
    (from the base profile's locator) when the result is not a valid profile, KeyError for a key that
    names an item past a list's end."""
    data = copy.deepcopy(base.data)
    for key, value in values.items():
        set_key(data, key, value)
    profile = validate_model(Profile, data, base.locator)
    return LoadedProfile(profile, base.path, base.locator, data, {})


def invalid_reason(space: Space, base: LoadedProfile, values: dict[str, Any]) -> str | None:
    """None when `values` make a valid profile, else what is wrong, naming the keys and values."""
    try:
        build_profile(base, values)
    except (SpecErrors, SpecError) as exc:
        errors = exc.errors if isinstance(exc, SpecErrors) else [exc]
        chosen = ", ".join(f"{k}={v!r}" for k, v in values.items())
        return f"{chosen} give an invalid profile: " + "; ".join(f"{e.key}: {e.problem}" for e in errors)
    except KeyError as exc:
        return str(exc.args[0])
    return None


def check_space(space: Space, base: LoadedProfile) -> None:
    """Refuse (exit 2) a space one of whose parameters alone, at an end of its range or at any choice,
    makes the base profile invalid: the message names the space's file, line and key and the value."""
    for param in space.params:
        for value in param.corners():
            try:
                build_profile(base, {param.key: value})
            except (SpecErrors, SpecError) as exc:
                errors = exc.errors if isinstance(exc, SpecErrors) else [exc]
                problems = "; ".join(f"{e.key}: {e.problem}" for e in errors)
                raise space.error(param, f"value {value!r} gives an invalid profile ({problems})") from None
            except KeyError as exc:
                raise space.error(param, str(exc.args[0])) from None
