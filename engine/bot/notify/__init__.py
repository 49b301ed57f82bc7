"""Notifications of important events through apprise: queued, rate-limited, never blocking trading."""

from engine.bot.notify.events import Message, format_event, summarise
from engine.bot.notify.notifier import Notifier, urls_from_env, usable_urls

__all__ = ["Message", "Notifier", "format_event", "summarise", "urls_from_env", "usable_urls"]
