"""The machine diagrams of the pages, as inline SVG drawn by `engine.inspect.diagram` (Graphviz), in a
worker thread (a render takes tens of milliseconds; the bot's loop must not wait for it) and cached:
the plain machine once, a position's path until it takes another step."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

from engine.inspect.diagram import CURRENT_FILL, PATH_COLOR, Highlight, render
from engine.machine.spec import MachineSpec

MAX_CACHED = 64


class Diagrams:
    def __init__(self, spec: MachineSpec) -> None:
        self.spec = spec
        self._cache: dict[tuple, str] = {}

    async def svg(self, highlight: Highlight | None = None) -> str:
        key = ("plain",) if highlight is None else (highlight.position, highlight.current, len(highlight.steps))
        if key not in self._cache:
            if len(self._cache) >= MAX_CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = await asyncio.to_thread(self._draw, highlight)
        return self._cache[key]

    async def held(self, counts: dict[str, int]) -> str:
        """The plain machine with every state that holds a position filled as the current state is."""
        svg = await self.svg()
        for state in counts:
            pattern = re.compile(r'(<title>' + re.escape(state) + r'</title>\s*<path fill=")[^"]*(" stroke=")[^"]*"')
            svg = pattern.sub(rf'\g<1>{CURRENT_FILL}\g<2>{PATH_COLOR}" stroke-width="3"', svg, count=1)
        return svg

    def _draw(self, highlight: Highlight | None) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "machine.svg"
            render(self.spec, out, "svg", highlight)
            text = out.read_text(encoding="utf-8")
        start = text.find("<svg")  # drop the XML prolog and doctype: the SVG goes inline
        return text[start:] if start >= 0 else text
