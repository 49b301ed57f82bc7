"""Replies fit Telegram (4096 characters) and stay valid HTML however much there is to show."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from engine.bot.control.control import PositionView
from engine.bot.telegram.format import MAX_TEXT, config_text, logs_text, positions_text


def _balanced(html: str) -> bool:
    stack = []
    for closing, tag in re.findall(r"<(/?)(b|i|code|pre)>", html):
        if closing:
            if not stack or stack.pop() != tag:
                return False
        else:
            stack.append(tag)
    return not stack


def test_long_answers_are_cut_between_lines() -> None:
    views = [PositionView(f"P{n}", "BTC/USDC:USDC", "long", Decimal("0.001"), Decimal("60000"), Decimal("-1.5"),
                          "open", timedelta(minutes=n), Decimal("58800")) for n in range(200)]
    body = positions_text(views)
    assert len(body) <= MAX_TEXT and body.endswith("…") and _balanced(body)
    records = [{"seq": n, "time": "2025-01-01T00:00:00+00:00", "position": f"P{n}", "symbol": "ETH/USDC:USDC",
                "from": "open", "to": "closing", "event": "close_requested <&>" * 5} for n in range(300)]
    body = logs_text(records)
    assert len(body) <= MAX_TEXT and _balanced(body) and "<&>" not in body and "&lt;&amp;&gt;" in body
    config = config_text({"section": {f"key_{n}": "x" * 50 for n in range(200)}})
    assert len(config) <= MAX_TEXT and config.endswith("</pre>") and _balanced(config)
