"""Load a machine YAML: parse safely, check the schema, check the meaning, then compile.

Nothing is compiled — and so nothing can run — until every check has passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import SpecErrors
from engine.machine.contract import Expected, check_contract, check_destinations
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


def load_definition(path: Path, registry: Registry, expected: Sequence[Expected] = ()) -> MachineDefinition:
    """Load and fully validate `path` against the guards and actions of `registry` and the events its
    driver promises to send (`expected`, see machine.contract). Raises SpecError / SpecErrors naming
    file, line and key. The registry is handed in: this module knows nothing of what it runs."""
    data, locator = load_yaml(path)
    if not isinstance(data, dict):
        raise locator.error((), "a machine file must be a mapping with keys name, initial, states, transitions")
    spec = validate_model(MachineSpec, data, locator)
    errors = check_machine(spec, locator, registry)
    if not errors:  # the contract checks assume every state and action name exists
        errors = check_contract(spec, locator, expected) + check_destinations(spec, locator, registry.leads_to)
    if errors:
        raise SpecErrors(errors)
    return MachineDefinition(spec=spec, locator=locator, registry=registry)
