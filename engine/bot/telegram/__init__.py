"""Telegram control: a python-telegram-bot Application in the engine's loop, in front of `BotControl`."""

from engine.bot.telegram.bot import TelegramBot, sender, telegram_allowed

__all__ = ["TelegramBot", "sender", "telegram_allowed"]
