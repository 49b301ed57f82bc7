"""Who can control the bot through Telegram, beyond what the profile's author may think."""

from __future__ import annotations

from engine.config.profile import TelegramSection


def telegram_warnings(section: TelegramSection) -> list[str]:
    """Who can control the bot beyond what the profile's author may think: a group or channel (Telegram
    gives them negative ids) on the chat allow-list with no user allow-list lets every member in."""
    if section.allowed_user_ids:
        return []
    groups = [chat for chat in section.allowed_chat_ids if chat < 0]
    if not groups:
        return []
    chats = ", ".join(str(chat) for chat in groups)
    state = "" if section.enabled else " (telegram.enabled is false now; this applies once it is enabled)"
    return [f"telegram.allowed_chat_ids has group/channel chat(s) {chats} and telegram.allowed_user_ids is empty: "
            f"EVERY member of {'that chat' if len(groups) == 1 else 'those chats'} can control the bot (pause, "
            f"panic, close positions, switch profiles). List the operators' numeric user ids in "
            f"telegram.allowed_user_ids{state}."]
