"""The compiled machine: one `transitions.Machine` per definition, models attached with `add_model`.

This module knows nothing about trading. A model is any object with the attributes listed in
`MachineModel`; guards and actions are the registry's callables, looked up at compile time.

Dispatch: `transitions` is the reference semantics (first candidate in priority order whose guards
pass; its `before` callbacks run the actions; then the state changes), and `fire` follows a route
table compiled from the machine's own event table, in the same order, calling the same callables.
Going through `Event.trigger` costs a third of a durable transition's CPU time (partials, event
data, empty callback lists, logging checks) for no behaviour we use. There is one dispatch path,
in production and in tests; a property test checks it against an interpreter of the YAML.

Exception safety: `transitions` has no rollback (an exception in a callback can leave the model in
the new state, reference §1.2). `fire` therefore snapshots the model first and restores it whenever
the event is refused or an action raises, so a failed event leaves the model exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from transitions import Machine, MachineError

from engine.machine.loader import MachineDefinition
from engine.machine.registry import Step
from engine.machine.spec import TransitionSpec

# transitions logs every callback at INFO, which costs ~3x throughput (reference §1.7).
logging.getLogger("transitions").setLevel(logging.WARNING)


class MachineModel(Protocol):
    id: str
    state: str
    state_entered_at: datetime | None
    opened_at: datetime | None
    deadline_event: str | None
    deadline_at: datetime | None

    def checkpoint(self) -> Any: ...
    def rollback(self, checkpoint: Any) -> None: ...
    def begin_step(self) -> None: ...


class InvalidTransition(Exception):
    """The event is not declared for the model's current state. Nothing changed."""

    def __init__(self, model_id: str, state: str, event: str, reason: str = "") -> None:
        self.model_id, self.state, self.event = model_id, state, event
        why = reason or f"no transition on {event!r} from state {state!r}"
        super().__init__(f"InvalidTransition: {model_id}: {why}; did not apply {event}")


class ActionFailed(Exception):
    """An action raised while applying an event. The model was restored to its previous state."""


class Route(NamedTuple):
    """One candidate transition for a (state, event) pair, as `transitions` would try it."""

    dest: str
    passes: Callable[[Step], bool]  # guards and `unless`, or the recorded edge on replay
    act: Callable[[Step], None]  # the actions, in declared order
    internal: bool = False  # stays in the state: its deadline and entry time stand


class Outcome(NamedTuple):  # a tuple: built on every transition, and three times cheaper than a frozen dataclass
    applied: bool
    event: str
    source: str
    dest: str
    refusals: tuple[str, ...] = ()


class CompiledMachine:
    """Runs one validated definition for any number of models."""

    def __init__(
        self,
        definition: MachineDefinition,
        timeouts: Mapping[str, timedelta],
    ) -> None:
        """`timeouts` maps each `timeout.after` parameter named in the definition to its duration.
        Raises KeyError naming a parameter that is missing (the config layer checks this first)."""
        self.definition = definition
        spec = definition.spec
        self.spec = spec
        self._timeouts: dict[str, tuple[str, timedelta | str, str]] = {}
        for name, state in spec.states.items():
            if state.timeout is not None:
                after = timeouts[state.timeout.after] if state.timeout.after else str(state.timeout.at)
                self._timeouts[name] = (state.timeout.event, after, state.timeout.since)
        self._machine = Machine(
            model=None,
            states=list(spec.states),
            initial=spec.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        self.events = frozenset(spec.events)
        self._events_by_state: dict[str, set[str]] = {s: set() for s in spec.states}
        ordered = sorted(spec.transitions, key=lambda t: -(t.priority or 0))  # stable: YAML order breaks ties
        route_of: dict[int, Route] = {}  # id of the callback handed to transitions → its route
        for t in ordered:
            for src in t.source:
                self._events_by_state[src].add(t.event)
            route = Route(t.to, self._condition(t), self._actions(t), t.internal)
            condition, before = _event_data_adapter(route.passes), _event_data_adapter(route.act)
            route_of[id(condition)] = route
            self._machine.add_transition(
                trigger=t.event, source=list(t.source), dest=t.to, conditions=[condition], before=[before]
            )
        self._tags = {name: frozenset(s.tags) for name, s in spec.states.items()}
        # read back from the machine itself, so the routes are in exactly the order it would try them
        self._routes: dict[tuple[str, str], tuple[Route, ...]] = {
            (source, name): tuple(route_of[id(tr.conditions[0].func)] for tr in candidates)
            for name, event in self._machine.events.items()
            for source, candidates in event.transitions.items()
        }
        self._attached: set[int] = set()

    # --- models ---------------------------------------------------------------------------
    def attach(self, model: MachineModel) -> None:
        """Attach a model in its persisted state. No `on_enter` runs, so resuming re-runs nothing."""
        if id(model) in self._attached:
            return
        if model.state not in self.spec.states:
            raise ValueError(f"{model.id}: state {model.state!r} is not in machine {self.spec.name!r}")
        # Not handed to `transitions` (add_model): `fire` runs the routes read back from its machine and
        # never the trigger methods add_model would put on the model, and adding them cost ~0.2 ms per
        # position, a fifth of a backtest trade.
        self._attached.add(id(model))

    def detach(self, model: MachineModel) -> None:
        self._attached.discard(id(model))

    # --- queries --------------------------------------------------------------------------
    def events_from(self, state: str) -> frozenset[str]:
        return frozenset(self._events_by_state[state])

    def has_tag(self, state: str, tag: str) -> bool:
        return tag in self._tags[state]

    def due(self, model: MachineModel, now: datetime) -> str | None:
        """The timeout event to fire for `model` at `now`, if its deadline has passed."""
        if model.deadline_at is not None and model.deadline_event and now >= model.deadline_at:
            return model.deadline_event
        return None

    # --- firing ---------------------------------------------------------------------------
    def fire(
        self,
        model: MachineModel,
        event: str,
        payload: dict[str, Any] | None,
        *,
        now: datetime,
        env: Any = None,
        seq: int = 0,
        replay_to: str | None = None,
        deadline_at: datetime | None | str = "compute",
    ) -> Outcome:
        """Apply `event` to `model`.

        Returns an Outcome; `applied=False` with the names of the refusing guards when every
        candidate transition was refused. Raises InvalidTransition when the event is not declared
        for the current state and ActionFailed when an action raised; in both cases, and on refusal,
        the model is unchanged. On replay (`replay_to` set) guards are not consulted: the recorded
        destination picks the edge and `deadline_at` is taken from the record.
        """
        source = model.state
        if id(model) not in self._attached:
            raise ValueError(f"{model.id} is not attached to machine {self.spec.name!r}")
        if event not in self.events:
            raise InvalidTransition(model.id, source, event, f"unknown event {event!r}")
        if event not in self._events_by_state[source]:
            raise InvalidTransition(model.id, source, event)
        before = model.checkpoint()
        model.begin_step()
        step = Step(model=model, event=event, payload=payload or {}, now=now, env=env, seq=seq, replay_to=replay_to)
        try:
            route = self._run_routes(model, source, event, step)
        except MachineError as exc:
            model.rollback(before)
            raise InvalidTransition(model.id, source, event, str(exc)) from None
        except Exception as exc:
            model.rollback(before)
            raise ActionFailed(f"{model.id}: {event} from {source!r} failed in an action: {exc!r}") from exc
        if route is None:
            model.rollback(before)
            return Outcome(False, event, source, source,
                           tuple(step.refusals) or tuple(step.skipped) or ("no transition matched",))
        dest = model.state
        if not route.internal:
            model.state_entered_at = now
            self._arm_deadline(model, dest, now, deadline_at)
        elif deadline_at != "compute":
            model.deadline_at = deadline_at  # type: ignore[assignment]  # replay: the recorded one (the same)
        return Outcome(True, event, source, dest)

    def _run_routes(self, model: MachineModel, source: str, event: str, step: Step) -> Route | None:
        for route in self._routes[(source, event)]:
            if route.passes(step):
                route.act(step)
                model.state = route.dest  # what the machine's set_state does for a plain string state
                return route
        return None

    def _arm_deadline(self, model: MachineModel, dest: str, now: datetime, recorded: datetime | None | str) -> None:
        timeout = self._timeouts.get(dest)
        if timeout is None:
            model.deadline_event, model.deadline_at = None, None
            return
        event, after, since = timeout
        model.deadline_event = event
        if recorded != "compute":
            model.deadline_at = recorded  # type: ignore[assignment]
            return
        anchor = model.opened_at if since == "opened" and model.opened_at is not None else now
        model.deadline_at = _calendar(after, anchor) if isinstance(after, str) else anchor + after

    # --- compilation helpers ---------------------------------------------------------------
    def _condition(self, t: TransitionSpec) -> Callable[[Step], bool]:
        guards = [(name, self.definition.registry.guards[name]) for name in t.guards]
        unless = [(name, self.definition.registry.guards[name]) for name in t.unless]
        dest = t.to

        def passes(step: Step) -> bool:
            if step.replay_to is not None:
                return dest == step.replay_to
            # `unless` first: it says when an edge does not apply at all (a market entry's edge for a
            # limit entry), and then its guards are not asked: a refusal names the edge that applied.
            for name, fn in unless:
                if fn(step):
                    step.skipped.append(f"unless {name}")
                    return False
            ok = True
            for name, fn in guards:
                if not fn(step):
                    step.refusals.append(name)
                    ok = False
            return ok

        return passes

    def _actions(self, t: TransitionSpec) -> Callable[[Step], None]:
        actions = [self.definition.registry.actions[name] for name in t.actions]

        def act(step: Step) -> None:
            for fn in actions:
                fn(step)

        return act


def _calendar(at: str, anchor: datetime) -> datetime:
    """The calendar deadline `at` (spec.CALENDAR) after `anchor`."""
    if at == "next_utc_day":
        day = anchor.astimezone(UTC).date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    raise ValueError(f"unknown calendar deadline {at!r}")


def _event_data_adapter(fn: Callable[[Step], Any]) -> Callable[[Any], Any]:
    """`fn` as a `transitions` callback (send_event=True hands it the EventData)."""

    def callback(event_data: Any) -> Any:
        return fn(event_data.kwargs["step"])

    return callback
