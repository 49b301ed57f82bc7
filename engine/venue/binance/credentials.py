"""Binance API credentials: read from the environment, else from a `.env` file, and never shown.

The environment wins over `.env` (python-dotenv values are read, `os.environ` is not modified). A key
or secret that is missing or empty is a `UserError` naming the variables, so the CLI exits 2 before
anything starts. `repr`/`str` of `Credentials` only say which variables were used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from engine.errors import UserError

DEFAULT_KEY_ENV = "BINANCE_API_KEY"
DEFAULT_SECRET_ENV = "BINANCE_API_SECRET"


@dataclass(frozen=True, slots=True)
class Credentials:
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    key_env: str = DEFAULT_KEY_ENV
    secret_env: str = DEFAULT_SECRET_ENV

    def __repr__(self) -> str:
        return f"Credentials(api_key=${self.key_env}, secret=${self.secret_env})"

    __str__ = __repr__

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a log line or a message."""
        return tuple(s for s in (self.api_key, self.secret) if s)


def load_credentials(
    key_env: str = DEFAULT_KEY_ENV,
    secret_env: str = DEFAULT_SECRET_ENV,
    *,
    env_file: Path | None = Path(".env"),
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """The key and secret named by `key_env` / `secret_env`: from `environ` (default `os.environ`),
    else from `env_file` (default `.env` in the working directory; None to skip it).
    Raises UserError naming every missing variable."""
    env = os.environ if environ is None else environ
    from_file: Mapping[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        from_file = dotenv_values(env_file)
    values: dict[str, str] = {}
    missing: list[str] = []
    for name in (key_env, secret_env):
        value = (env.get(name) or from_file.get(name) or "").strip()
        if value:
            values[name] = value
        else:
            missing.append(name)
    if missing:
        where = "the environment" + (f" or {env_file}" if env_file is not None else "")
        raise UserError(
            f"Binance API credentials missing: set {' and '.join(missing)} in {where} "
            "(the profile's venue.api_key_env / venue.api_secret_env name the variables)"
        )
    return Credentials(values[key_env], values[secret_env], key_env, secret_env)
