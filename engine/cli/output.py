"""Console output shared by commands: rich tables on a terminal, stable wide text in a pipe."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def console() -> Console:
    from rich.console import Console  # imported here: start-up time of the light commands

    # In a pipe rich would wrap at 80 columns and cut table cells; keep lines whole instead.
    if sys.stdout.isatty():
        return Console()
    return Console(width=200, no_color=True, soft_wrap=True)
