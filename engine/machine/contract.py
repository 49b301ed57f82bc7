"""What the code that drives a machine promises to send it, checked against the YAML at load.

A machine YAML is the single truth of a lifecycle, but the engine that feeds it events is code: if the
YAML renames or drops an event the engine sends, the event would be refused at run time and silently
lost (a stop fill dropped, say). So the driver declares, once, every event it sends and in which kinds
of state it can send each (kinds are tags, so the contract names no state), and the loader refuses a
machine that leaves one of them unhandled. Timeout events are the YAML's own and need no promise.

This module is generic: the trading domain supplies the `Expected` entries (engine.positions.events).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.errors import SpecError
from engine.machine.spec import MachineSpec
from engine.yaml_source import Locator


@dataclass(frozen=True, slots=True)
class Expected:
    """The driver sends `event` into every state that carries one of `any_of` and none of `none_of`
    (or into the initial state, with `initial`). `sender` says who sends it, for the error message."""

    event: str
    sender: str
    any_of: frozenset[str] = frozenset()
    none_of: frozenset[str] = frozenset()
    initial: bool = False

    def states(self, spec: MachineSpec) -> list[str]:
        out = []
        for name, state in spec.states.items():
            tags = set(state.tags)
            if self.initial and name == spec.initial:
                out.append(name)
            elif tags & self.any_of and not tags & self.none_of:
                out.append(name)
        return out

    def where(self) -> str:
        parts = ["the initial state"] if self.initial else []
        if self.any_of:
            parts.append("every state tagged " + " or ".join(sorted(self.any_of)))
        text = " and ".join(parts)
        if self.none_of:
            text += " but not " + " or ".join(sorted(self.none_of))
        return text


def check_contract(spec: MachineSpec, locator: Locator, expected: Iterable[Expected]) -> list[SpecError]:
    """One error per (event, state) the machine leaves unhandled, and one per tag the contract relies
    on that no state carries (the events sent there would have nowhere to go)."""
    errors: list[SpecError] = []
    handled = {(src, t.event) for t in spec.transitions for src in t.source}
    carried = {tag for state in spec.states.values() for tag in state.tags}
    missing_tags: set[str] = set()
    for promise in expected:
        for tag in sorted(promise.any_of - carried - missing_tags):
            missing_tags.add(tag)
            errors.append(locator.error(
                ("states",), f"no state is tagged '{tag}'; the engine relies on it (it sends "
                f"{promise.event!r} there: {promise.sender})"))
        for state in promise.states(spec):
            if (state, promise.event) not in handled:
                errors.append(locator.error(
                    ("states", state),
                    f"event {promise.event!r} is not handled in state {state!r}: the engine sends it "
                    f"({promise.sender}) in {promise.where()}; add a transition on {promise.event!r} "
                    f"from {state!r}"))
    return errors


def check_destinations(spec: MachineSpec, locator: Locator, leads_to: dict[str, str]) -> list[SpecError]:
    """An action that sends an order (`leads_to[action] = tag`) must lead to a state of that kind, where
    the engine sends the order's answer: an entry sent into a state not tagged `entry` would have its
    fill refused."""
    errors = []
    for i, t in enumerate(spec.transitions):
        for j, action in enumerate(t.actions):
            tag = leads_to.get(action)
            if tag is not None and t.to in spec.states and tag not in spec.states[t.to].tags:
                errors.append(locator.error(
                    ("transitions", i, "actions", j),
                    f"action {action!r} needs its transition to lead to a state tagged '{tag}' (the engine "
                    f"sends the answer of its order there), but {t.to!r} is not"))
    return errors
