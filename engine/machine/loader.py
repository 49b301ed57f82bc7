"""Load a machine YAML: parse safely, check the schema, check the meaning, then compile.

Nothing is compiled — and so nothing can run — until every check has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import SpecErrors
from engine.machine.registry import Registry
from engine.machine.spec import MachineSpec
from engine.machine.validate import check_machine
from engine.yaml_source import Locator, load_yaml, validate_model


@dataclass(frozen=True)
class MachineDefinition:
    """A validated machine spec together with where it came from."""

    spec: MachineSpec
    locator: Locator
    registry: Registry

    @property
    def file(self) -> Path:
        return self.locator.file


def load_definition(path: Path, registry: Registry | None = None) -> MachineDefinition:
    """Load and fully validate `path`. Raises SpecError / SpecErrors naming file, line and key."""
    if registry is None:
        from engine.positions.lifecycle import REGISTRY

        registry = REGISTRY
    data, locator = load_yaml(path)
    if not isinstance(data, dict):
        raise locator.error((), "a machine file must be a mapping with keys name, initial, states, transitions")
    spec = validate_model(MachineSpec, data, locator)
    errors = check_machine(spec, locator, registry)
    if errors:
        raise SpecErrors(errors)
    return MachineDefinition(spec=spec, locator=locator, registry=registry)
