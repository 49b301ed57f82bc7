"""Named guards and actions. The machine YAML may only refer to names registered here.

Never resolve a YAML string any other way: `transitions` would import a dotted path such as
`os.system` and call it (see reference/state-machines.md §1.6), so the loader hands it callables only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.machine.tags import Tag

NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(slots=True)
class Step:
    """Everything a guard or action may look at while one event is being applied.

    `env` is what the engine passes in (risk state, market rules); guards read it, actions never
    call out through it: actions only change the model and queue intents.
    """

    model: Any
    event: str
    payload: dict[str, Any]
    now: datetime
    env: Any = None
    seq: int = 0
    replay_to: str | None = None  # set when rebuilding from the journal: pick the recorded edge
    refusals: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # edges whose `unless` said they do not apply


Guard = Callable[[Step], bool]
Action = Callable[[Step], None]


class Registry:
    """Maps `section.name` strings to guard and action callables."""

    def __init__(self) -> None:
        self.guards: dict[str, Guard] = {}
        self.actions: dict[str, Action] = {}
        # action name -> the tag its transition's destination must carry (see machine.contract)
        self.leads_to: dict[str, Tag] = {}

    def guard(self, name: str) -> Callable[[Guard], Guard]:
        return self._add(self.guards, name)

    def action(self, name: str, *, leads_to: Tag | None = None) -> Callable[[Action], Action]:
        """Register an action; `leads_to` names the tag of the state its transition must enter (an
        action that sends an order leads where the engine sends that order's answer)."""
        if leads_to is not None:
            self.leads_to[name] = leads_to
        return self._add(self.actions, name)

    @staticmethod
    def _add(table: dict[str, Any], name: str) -> Callable[[Any], Any]:
        if not NAME.match(name):
            raise ValueError(f"registry names are 'section.name' in lower case, got {name!r}")

        def register(fn: Any) -> Any:
            if name in table:
                raise ValueError(f"{name!r} is registered twice")
            table[name] = fn
            return fn

        return register
