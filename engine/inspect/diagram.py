"""State diagrams drawn from the machine definition itself, optionally with one position's path.

Mermaid text is generated here (deterministic, no dependency); SVG and PNG are rendered with
Graphviz through pygraphviz, whose wheels bundle the Graphviz libraries, so no system package is
needed after `uv sync`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.machine.spec import MachineSpec
from engine.machine.tags import Tag

CURRENT_FILL = "#ffd54f"
VISITED_FILL = "#bbdefb"
TERMINAL_FILL = "#e0e0e0"
EMERGENCY_FILL = "#ffcdd2"
PATH_COLOR = "#d32f2f"


@dataclass(frozen=True)
class Step:
    """One transition a position took: the n-th step went `source` → `dest` on `event`."""

    n: int
    event: str
    source: str
    dest: str


@dataclass(frozen=True)
class Highlight:
    position: str
    current: str
    steps: tuple[Step, ...]

    @property
    def visited(self) -> frozenset[str]:
        return frozenset({s.source for s in self.steps} | {s.dest for s in self.steps})


def highlight_from_records(position: str, records: Sequence[dict]) -> Highlight:
    steps = tuple(
        Step(i, r["event"], r["from"], r["to"]) for i, r in enumerate(records, start=1)
    )
    current = steps[-1].dest if steps else "idle"
    return Highlight(position, current, steps)


def _edges(spec: MachineSpec) -> list[tuple[str, str, str]]:
    """(source, dest, label) with events that share an edge merged into one label."""
    merged: dict[tuple[str, str], list[str]] = {}
    for t in spec.transitions:
        label = t.event + (f" [{', '.join(t.guards)}]" if t.guards and len(t.guards) <= 1 else "")
        if t.unless:
            label += f" [not {', '.join(t.unless)}]"
        for src in t.source:
            labels = merged.setdefault((src, t.to), [])
            if label not in labels:
                labels.append(label)
    return [(s, d, " / ".join(labels)) for (s, d), labels in merged.items()]


def to_mermaid(spec: MachineSpec, highlight: Highlight | None = None) -> str:
    lines = ["stateDiagram-v2"]
    if highlight:
        lines.append(f"    %% {_who(highlight)}: now in {highlight.current}")
    lines.append(f"    [*] --> {spec.initial}")
    taken: dict[tuple[str, str], list[int]] = {}
    if highlight:
        for s in highlight.steps:
            taken.setdefault((s.source, s.dest), []).append(s.n)
    for src, dest, label in _edges(spec):
        steps = taken.get((src, dest))
        suffix = f" ({', '.join(f'#{n}' for n in steps)})" if steps else ""
        lines.append(f"    {src} --> {dest}: {label}{suffix}")
    for name in sorted(spec.tagged(Tag.TERMINAL)):
        lines.append(f"    {name} --> [*]")
    for name, state in spec.states.items():
        if state.description:
            lines.append(f"    note right of {name}: {state.description}")
    lines.append(f"    classDef terminal fill:{TERMINAL_FILL}")
    lines.append(f"    classDef emergency fill:{EMERGENCY_FILL}")
    for name in sorted(spec.tagged(Tag.TERMINAL)):
        lines.append(f"    class {name} terminal")
    for name in sorted(spec.tagged(Tag.EMERGENCY)):
        lines.append(f"    class {name} emergency")
    if highlight:
        lines.append(f"    classDef visited fill:{VISITED_FILL},stroke:{PATH_COLOR}")
        lines.append(f"    classDef current fill:{CURRENT_FILL},stroke:{PATH_COLOR},stroke-width:3px")
        for name in sorted(highlight.visited - {highlight.current}):
            lines.append(f"    class {name} visited")
        lines.append(f"    class {highlight.current} current")
    return "\n".join(lines) + "\n"


def render(spec: MachineSpec, out: Path, fmt: str, highlight: Highlight | None = None) -> None:
    """Write an SVG or PNG of the machine to `out`. Raises RuntimeError if Graphviz cannot render."""
    import pygraphviz

    graph = pygraphviz.AGraph(directed=True, strict=False, rankdir="LR", label=_title(spec, highlight),
                              labelloc="t", fontname="Helvetica")
    graph.node_attr.update(shape="box", style="rounded,filled", fillcolor="white", fontname="Helvetica")
    graph.edge_attr.update(fontname="Helvetica", fontsize="10")
    graph.add_node("__start", shape="point", width="0.15", label="")
    for name, state in spec.states.items():
        fill = "white"
        if Tag.TERMINAL in state.tags:
            fill = TERMINAL_FILL
        if Tag.EMERGENCY in state.tags:
            fill = EMERGENCY_FILL
        attrs = {"fillcolor": fill, "label": name}
        if highlight and name in highlight.visited:
            attrs.update(fillcolor=VISITED_FILL, color=PATH_COLOR)
        if highlight and name == highlight.current:
            attrs.update(fillcolor=CURRENT_FILL, color=PATH_COLOR, penwidth="3")
        if Tag.TERMINAL in state.tags:
            attrs["peripheries"] = "2"
        graph.add_node(name, **attrs)
    graph.add_edge("__start", spec.initial)
    taken: dict[tuple[str, str], list[int]] = {}
    if highlight:
        for s in highlight.steps:
            taken.setdefault((s.source, s.dest), []).append(s.n)
    for src, dest, label in _edges(spec):
        steps = taken.get((src, dest))
        if steps:
            graph.add_edge(src, dest, label=f"{label} ({', '.join(f'#{n}' for n in steps)})",
                           color=PATH_COLOR, fontcolor=PATH_COLOR, penwidth="2.5")
        else:
            graph.add_edge(src, dest, label=label, color="#555555")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        graph.draw(str(out), format=fmt, prog="dot")
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"Graphviz could not render {out}: {exc}") from exc


def _title(spec: MachineSpec, highlight: Highlight | None) -> str:
    if highlight is None:
        return f"machine: {spec.name}"
    return f"machine: {spec.name} — {_who(highlight)} now in {highlight.current}"


def _who(highlight: Highlight) -> str:
    """`position P17`, or `the bot` for the bot's own machine (machines/bot.yaml)."""
    return "the bot" if highlight.position == "bot" else f"position {highlight.position}"
