"""Find the state folder a read-only command should look at."""

from __future__ import annotations

from pathlib import Path

from engine.errors import UserError

DEFAULT_STATE_ROOT = Path("state")


def state_folder(state: Path | None, profile: Path | None, root: Path = DEFAULT_STATE_ROOT) -> Path:
    """`--state DIR` wins; then `--profile FILE`; else the only profile folder under `state/`.

    Raises UserError listing the candidates when the choice is ambiguous or nothing exists.
    """
    from engine.positions.book import JOURNAL_FILE  # imported here (the whole book): start-up time of `log`

    if state is not None:
        if not state.is_dir():
            raise UserError(f"--state {state}: no such folder")
        if not (state / JOURNAL_FILE).is_file():
            inside = sorted(p.name for p in state.glob("*") if (p / JOURNAL_FILE).is_file())
            hint = f"; profile folders inside: {', '.join(inside)}" if inside else ""
            raise UserError(f"--state {state}: no transition journal ({JOURNAL_FILE}) in this folder{hint}")
        return state
    if profile is not None:
        from engine.config.loading import load_profile

        return load_profile(profile).state_dir
    candidates = sorted(p for p in root.glob("*") if (p / JOURNAL_FILE).is_file()) if root.is_dir() else []
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UserError(f"no transition journal found under {root}/; run the bot first or pass --state DIR")
    names = ", ".join(str(c) for c in candidates)
    raise UserError(f"several state folders exist ({names}); choose one with --state DIR or --profile FILE")
