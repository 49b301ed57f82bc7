"""The schema of a machine YAML file (shape and types only; meaning is checked in `validate`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.machine.tags import Tag

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
# `section.key` — a registry name or a profile parameter; never an import path.
REF_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
# A profile parameter may sit one level deeper (`orders.entry.timeout`); binding to the profile refuses one
# it does not have, so a dotted name like `os.path.join` names no parameter and imports nothing.
PARAM_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,2}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Calendar deadlines a timeout may name instead of a duration (`at:`): generic time, no domain.
CALENDAR = ("next_utc_day",)


class TimeoutSpec(_Strict):
    after: str | None = Field(None, pattern=PARAM_PATTERN, description="profile parameter holding the duration")
    at: Literal["next_utc_day"] | None = Field(None, description="a calendar deadline instead of a duration")
    event: str = Field(pattern=NAME_PATTERN, description="event fired when the deadline passes")
    since: Literal["entered", "opened"] = Field(
        "entered", description="measure from entering this state, or from when the position opened"
    )

    @model_validator(mode="after")
    def _after_or_at(self) -> TimeoutSpec:
        if (self.after is None) == (self.at is None):
            raise ValueError("a timeout needs exactly one of 'after' (a profile duration) or 'at' "
                             f"(one of: {', '.join(CALENDAR)})")
        return self


class StateSpec(_Strict):
    tags: tuple[Tag, ...] = ()
    description: str = ""
    timeout: TimeoutSpec | None = None


class TransitionSpec(_Strict):
    event: str = Field(pattern=NAME_PATTERN)
    source: tuple[str, ...] = Field(alias="from", min_length=1)
    to: str
    guards: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    priority: int | None = None
    # An internal transition stays in its state without leaving it: the state's deadline and its
    # entry time stand (a part of a resting entry filling does not put the entry's timeout back).
    internal: bool = False
    description: str = ""

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _internal_stays(self) -> TransitionSpec:
        if self.internal and any(src != self.to for src in self.source):
            raise ValueError(f"an internal transition stays in its state: 'from' must be just {self.to!r}")
        return self


class MachineSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    initial: str
    # false for a machine that lives as long as the bot (machines/bot.yaml): it needs no terminal state
    ends: bool = True
    states: dict[str, StateSpec] = Field(min_length=1)
    transitions: tuple[TransitionSpec, ...] = Field(min_length=1)

    @field_validator("states", mode="before")
    @classmethod
    def _empty_state_bodies(cls, v: object) -> object:
        # `idle: {}` and a bare `idle:` (null) mean the same thing.
        if isinstance(v, dict):
            return {k: ({} if body is None else body) for k, body in v.items()}
        return v

    def tagged(self, tag: Tag) -> frozenset[str]:
        return frozenset(name for name, s in self.states.items() if tag in s.tags)

    @property
    def events(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for t in self.transitions:
            seen.setdefault(t.event, None)
        for s in self.states.values():
            if s.timeout:
                seen.setdefault(s.timeout.event, None)
        return tuple(seen)
