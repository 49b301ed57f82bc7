"""Semantic checks of a machine spec: everything `transitions` itself would not catch.

Each problem becomes a SpecError naming the file, the line and the key. All problems are collected
and reported together.
"""

from __future__ import annotations

from collections import deque
from itertools import combinations

from engine.errors import SpecError
from engine.machine.registry import NAME, Registry
from engine.machine.spec import MachineSpec, TransitionSpec
from engine.machine.tags import Tag
from engine.yaml_source import Locator


def check_machine(spec: MachineSpec, locator: Locator, registry: Registry) -> list[SpecError]:
    errors: list[SpecError] = []
    states = spec.states
    known = ", ".join(states)

    if spec.initial not in states:
        errors.append(locator.error(("initial",), f"unknown state {spec.initial!r}; expected one of: {known}"))
    for i, t in enumerate(spec.transitions):
        for j, src in enumerate(t.source):
            if src not in states:
                errors.append(
                    locator.error(
                        ("transitions", i, "from", j) if len(t.source) > 1 else ("transitions", i, "from"),
                        f"unknown state {src!r}; expected one of: {known}",
                    )
                )
        if t.to not in states:
            errors.append(locator.error(("transitions", i, "to"), f"unknown state {t.to!r}; expected one of: {known}"))
        errors.extend(_check_names(t, i, locator, registry))
    if errors:
        return errors  # the graph checks below assume every endpoint exists

    errors.extend(_check_graph(spec, locator))
    errors.extend(_check_timeouts(spec, locator))
    errors.extend(_check_determinism(spec, locator))
    return errors


def _check_names(t: TransitionSpec, i: int, locator: Locator, registry: Registry) -> list[SpecError]:
    errors = []
    for key, table, kind in (
        ("guards", registry.guards, "guard"),
        ("unless", registry.guards, "guard"),
        ("actions", registry.actions, "action"),
    ):
        for j, name in enumerate(getattr(t, key)):
            path = ("transitions", i, key, j)
            if not NAME.match(name):
                errors.append(
                    locator.error(
                        path,
                        f"{name!r} is not a valid {kind} name; expected 'section.name' from the "
                        "registry (expressions and import paths are not allowed)",
                    )
                )
            elif name not in table:
                errors.append(
                    locator.error(path, f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(table))}")
                )
    return errors


def _check_graph(spec: MachineSpec, locator: Locator) -> list[SpecError]:
    errors = []
    edges: dict[str, set[str]] = {s: set() for s in spec.states}
    for t in spec.transitions:
        for src in t.source:
            edges[src].add(t.to)
    terminal = spec.tagged(Tag.TERMINAL)
    if not spec.ends:
        if terminal:
            errors.append(locator.error(("ends",), f"a machine with 'ends: false' has no terminal state, but "
                                        f"{', '.join(sorted(terminal))} is tagged 'terminal'"))
    elif not terminal:
        errors.append(locator.error(("states",), "no state is tagged 'terminal'; a position must be able to end"))

    for i, t in enumerate(spec.transitions):
        for src in t.source:
            if src in terminal:
                errors.append(
                    locator.error(
                        ("transitions", i, "from"),
                        f"state {src!r} is terminal and cannot have a way out (event {t.event!r})",
                    )
                )

    reached = _reach(spec.initial, edges)
    for name in spec.states:
        if name not in reached:
            errors.append(locator.error(("states", name), f"state {name!r} is unreachable from {spec.initial!r}"))

    reverse: dict[str, set[str]] = {s: set() for s in spec.states}
    for src, dests in edges.items():
        for dest in dests:
            reverse[dest].add(src)
    can_end: set[str] = set()
    for t_state in terminal:
        can_end |= _reach(t_state, reverse)
    for name in spec.states if spec.ends else ():
        if name not in can_end:
            errors.append(
                locator.error(
                    ("states", name),
                    f"state {name!r} cannot reach a terminal state ({', '.join(sorted(terminal)) or 'none'})",
                )
            )

    # Direct edge, not any path: a panic must not depend on a second event arriving.
    emergency_states = spec.tagged(Tag.EMERGENCY)
    for name in sorted(spec.tagged(Tag.EXPOSED) - emergency_states):
        if not edges[name] & emergency_states:
            errors.append(
                locator.error(
                    ("states", name),
                    f"state {name!r} can hold exposure (tag 'exposed') but has no transition to an "
                    f"emergency state ({', '.join(sorted(emergency_states)) or 'none declared'})",
                )
            )
    return errors


def _reach(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen = {start}
    todo = deque([start])
    while todo:
        for nxt in edges[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _check_timeouts(spec: MachineSpec, locator: Locator) -> list[SpecError]:
    errors = []
    for name, state in spec.states.items():
        if state.timeout is None:
            continue
        if Tag.TERMINAL in state.tags:
            errors.append(locator.error(("states", name, "timeout"), "a terminal state cannot have a timeout"))
        handled = any(t.event == state.timeout.event and name in t.source for t in spec.transitions)
        if not handled:
            errors.append(
                locator.error(
                    ("states", name, "timeout", "event"),
                    f"event {state.timeout.event!r} has no transition from {name!r}; the deadline "
                    "would fire into nothing",
                )
            )
    return errors


def _check_determinism(spec: MachineSpec, locator: Locator) -> list[SpecError]:
    """Two transitions on the same (state, event) that could both pass need distinct priorities."""
    errors = []
    by_key: dict[tuple[str, str], list[int]] = {}
    for i, t in enumerate(spec.transitions):
        for src in t.source:
            by_key.setdefault((src, t.event), []).append(i)
    reported: set[tuple[int, int]] = set()
    for (src, event), idxs in by_key.items():
        for a, b in combinations(idxs, 2):
            ta, tb = spec.transitions[a], spec.transitions[b]
            if _exclusive(ta, tb) or (a, b) in reported:
                continue
            if ta.priority is not None and tb.priority is not None and ta.priority != tb.priority:
                continue
            reported.add((a, b))
            errors.append(
                locator.error(
                    ("transitions", b),
                    f"transitions[{a}] and transitions[{b}] both handle event {event!r} in state "
                    f"{src!r} and could both pass; give them different 'priority' values or make "
                    "their guards exclusive (one lists a guard in 'guards', the other in 'unless')",
                )
            )
    return errors


def _exclusive(a: TransitionSpec, b: TransitionSpec) -> bool:
    return bool(set(a.guards) & set(b.unless)) or bool(set(b.guards) & set(a.unless))
