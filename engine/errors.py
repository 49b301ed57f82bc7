"""Error kinds shared by every layer.

`UserError` is a mistake in something the user gave us (a YAML file, a flag, a path): the CLI prints
its message without a traceback and exits 2, before anything has started.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from the user. The message says what is wrong and what was expected."""


class SpecError(UserError):
    """A problem at a known place in a YAML file."""

    def __init__(self, file: Path | str, line: int | None, key: str, problem: str) -> None:
        self.file = str(file)
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


class SpecErrors(UserError):
    """Several SpecErrors found in one file; all are reported at once so the user fixes them in one go."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
