"""argparse types for the commands' flags: a bad value is refused while the arguments are parsed, so
argparse names the flag (`argument --seed: expected …`) and exits 2 before anything is loaded or
started. Each type's message says what was expected."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def non_negative_int(text: str) -> int:
    """--seed, --ticks: 0 is meaningful (seed 0; --ticks 0 resumes, reconciles and exits)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 (got {text!r})")
    return value


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1 (got {text!r})")
    return value


def positive_float(text: str) -> float:
    """--speed: float() reads "nan" and "inf", which would stall or spin the replay clock."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 60 (got {text!r})") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, such as 60 (got {text!r})")
    return value


def output_dir(text: str) -> Path:
    """A folder to write into: it may not exist yet, but it must not be an existing file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is an existing file; expected a folder (new or existing)")
    return path


def output_file(text: str) -> Path:
    """A file to write: it may exist (it is replaced), but it must not be a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file name such as machine.svg")
    return path


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
