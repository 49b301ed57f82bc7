"""Switching the trading profile at runtime (/aggression NAME).

The switch takes the trading sections (`SWITCHED_SECTIONS`) of another profile from the same folder
and writes them into the running profile's runtime overrides (`<state_dir>/overrides.json`), which
`load_profile` merges over the profile at every start: the switch survives a restart, while the name,
state folder, venue, runtime, Telegram and notification settings stay those of the running profile
(a different venue or universe needs a restart with the other profile).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from engine.config.loading import OVERRIDES_FILE, LoadedProfile, load_profile, read_overrides
from engine.errors import UserError
from engine.store.fsio import fsync_dir

SWITCHED_SECTIONS = ("strategy", "orders", "risk")
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def available_profiles(loaded: LoadedProfile) -> list[str]:
    """Profile names (file stems) beside the running profile."""
    return sorted(p.stem for p in loaded.path.parent.glob("*.yaml") if PROFILE_NAME.match(p.stem))


def current_aggression(loaded: LoadedProfile) -> str | None:
    """The profile whose trading sections the running profile now has, or None when none matches
    (the running profile's own file counts too)."""
    mine = loaded.profile.model_dump(mode="json")
    folder = _folder_sections(loaded.path.parent)
    for name in [loaded.path.stem, *available_profiles(loaded)]:
        theirs = folder.get(name)
        if theirs is not None and all(mine[s] == theirs[s] for s in SWITCHED_SECTIONS):
            return name
    return None


# /status asks for the aggression on every call (Telegram, the dashboard's polling): loading and
# validating every profile of the folder each time cost 10-25 ms. The folder's trading sections are
# kept until any YAML file in it changes (name, size or mtime: a profile may extend another).
_FOLDER_CACHE: dict[Path, tuple[tuple[tuple[str, int, int], ...], dict[str, dict[str, Any] | None]]] = {}


def _folder_sections(folder: Path) -> dict[str, dict[str, Any] | None]:
    """Each profile's SWITCHED_SECTIONS by file stem; None for a profile that does not load."""
    files = sorted(folder.glob("*.yaml"))
    stamp = tuple((f.name, (st := f.stat()).st_mtime_ns, st.st_size) for f in files)
    cached = _FOLDER_CACHE.get(folder)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    sections: dict[str, dict[str, Any] | None] = {}
    for f in files:
        if not PROFILE_NAME.match(f.stem):
            continue
        try:
            dumped = load_profile(f, with_overrides=False).profile.model_dump(mode="json")
        except UserError:
            sections[f.stem] = None
            continue
        sections[f.stem] = {s: dumped[s] for s in SWITCHED_SECTIONS}
    _FOLDER_CACHE[folder] = (stamp, sections)
    return sections


def switch_profile(loaded: LoadedProfile, name: str) -> LoadedProfile:
    """Persist `name`'s trading sections as runtime overrides of the running profile and return the
    profile reloaded with them. Raises UserError for an unknown or invalid profile; on any failure
    the overrides file is left as it was."""
    if not PROFILE_NAME.match(name):
        raise UserError(f"{name!r} is not a profile name")
    path = loaded.path.parent / f"{name}.yaml"
    if not path.is_file():
        raise UserError(f"no profile {name!r}; available: {', '.join(available_profiles(loaded))}")
    target = load_profile(path, with_overrides=False).profile.model_dump(mode="json")
    state_dir = loaded.state_dir
    overrides = read_overrides(state_dir)
    for section in SWITCHED_SECTIONS:
        overrides[section] = target[section]
    previous = (state_dir / OVERRIDES_FILE).read_bytes() if (state_dir / OVERRIDES_FILE).is_file() else None
    _write_atomically(state_dir / OVERRIDES_FILE, overrides)
    try:
        return load_profile(loaded.path, state_root=state_dir.parent)
    except Exception:
        if previous is None:
            (state_dir / OVERRIDES_FILE).unlink(missing_ok=True)
        else:
            (state_dir / OVERRIDES_FILE).write_bytes(previous)
        raise


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
