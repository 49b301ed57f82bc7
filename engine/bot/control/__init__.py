"""Remote control of a running bot, independent of the channel: live answers and journaled changes."""

from engine.bot.control.confirmations import ConfirmationError, Confirmations, Pending
from engine.bot.control.control import BotControl, CommandResult, PerformanceView, PositionView, SignalView, StatusView
from engine.bot.control.profiles import SWITCHED_SECTIONS, available_profiles, current_aggression, switch_profile

__all__ = [
    "SWITCHED_SECTIONS",
    "BotControl",
    "CommandResult",
    "ConfirmationError",
    "Confirmations",
    "Pending",
    "PerformanceView",
    "PositionView",
    "SignalView",
    "StatusView",
    "available_profiles",
    "current_aggression",
    "switch_profile",
]
