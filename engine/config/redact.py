"""The one redaction rule for secrets in shown config: a profile names the environment variables that
hold its secrets (API key and secret, Telegram token, notification URLs); whoever shows a profile
(`validate`, the bot's /config) shows whether each is set, never its value."""

from __future__ import annotations

import json
import os


def redacted(data: dict) -> dict:
    """Show which secret-holding environment variables are set, never their values."""
    out = json.loads(json.dumps(data))
    for section, keys in (("venue", ("api_key_env", "api_secret_env")), ("telegram", ("token_env",)),
                          ("notifications", ("urls_env",))):
        for key in keys:
            name = out.get(section, {}).get(key)
            if name:
                out[section][key] = f"{name} ({'set' if os.environ.get(name) else 'not set'})"
    return out
