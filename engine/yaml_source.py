"""Safe YAML loading that remembers where every key and item came from.

`load_yaml` returns plain Python data plus a `Locator` that maps a path such as
`("transitions", 3, "to")` to its 1-based line, so that every later check can name the file, the
line and the key. Only the safe YAML subset is accepted (no tags that construct Python objects).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import SpecError

PathKey = tuple[str | int, ...]


@dataclass
class Locator:
    file: Path
    lines: dict[PathKey, int] = field(default_factory=dict)
    # Where a merged document (profile `extends:`) took a key from another file.
    files: dict[PathKey, Path] = field(default_factory=dict)

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def file_of(self, path: Sequence[str | int]) -> Path:
        key = tuple(path)
        while key:
            if key in self.files:
                return self.files[key]
            key = key[:-1]
        return self.file

    def error(self, path: Sequence[str | int], problem: str) -> SpecError:
        return SpecError(self.file_of(path), self.line(path), dotted(path), problem)


def dotted(path: Sequence[str | int]) -> str:
    """`("transitions", 3, "to")` → `transitions[3].to`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(file: Path) -> tuple[Any, Locator]:
    """Parse `file` safely. Raises SpecError (with the line) for unreadable files and YAML syntax errors."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(file, None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(file, None, "", f"cannot read file: {exc}") from None
    return parse_yaml(text, file)


def parse_yaml(text: str, file: Path) -> tuple[Any, Locator]:
    locator = Locator(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(file, line, "", f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SpecError(file, None, "", f"YAML syntax error: {exc}") from None
    if node is None:
        return None, locator
    return _build(node, (), locator), locator


# Plain YAML only: any explicit tag other than the core schema's would ask for a Python object.
_CORE_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary")
}


def _build(node: yaml.Node, path: PathKey, locator: Locator) -> Any:
    locator.lines.setdefault(path, node.start_mark.line + 1)
    if node.tag not in _CORE_TAGS:
        raise SpecError(locator.file, node.start_mark.line + 1, dotted(path),
                        f"unsupported YAML tag {node.tag!r}: only plain values, lists and mappings are allowed")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if isinstance(key, (list, dict)):
                raise SpecError(locator.file, key_node.start_mark.line + 1, dotted(path), "keys must be plain")
            if key in out:
                raise SpecError(
                    locator.file, key_node.start_mark.line + 1, dotted((*path, key)), "duplicate key"
                )
            locator.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*path, key), locator)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), locator) for i, item in enumerate(node.value)]
    try:
        return _scalar(node)
    except SpecError as exc:
        raise SpecError(locator.file, exc.line, dotted(path), exc.problem) from None


def _scalar(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        try:
            return yaml.SafeLoader(" ").construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise SpecError("", node.start_mark.line + 1, "", f"unsupported YAML: {exc.problem}") from None
    return [None]  # a complex key: rejected by the caller as "keys must be plain"


def validation_errors(exc: Any, locator: Locator, prefix: Sequence[str | int] = ()) -> list[SpecError]:
    """Turn a pydantic ValidationError into SpecErrors that name the line, the key and what was expected."""
    errors = []
    for err in exc.errors():
        path = (*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
        msg = err["msg"]
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key; check the spelling (allowed keys are listed in the documentation)"
            parent = tuple(path[:-1])
            allowed = _allowed_keys(exc, parent)
            if allowed:
                msg = f"unknown key; expected one of: {', '.join(allowed)}"
        elif kind == "missing":
            msg = "required key is missing"
        elif "input" in err and not isinstance(err["input"], (dict, list)) and "(got" not in msg:
            msg = f"{msg} (got {err['input']!r})"
        errors.append(locator.error(path, msg))
    return errors


def _allowed_keys(exc: Any, parent: tuple[str | int, ...]) -> list[str]:
    # Best effort: pydantic does not report the allowed keys, the model class knows them.
    model = getattr(exc, "_engine_model", None)
    if model is None:
        return []
    mapping_of: type | None = None  # set while walking into a dict[str, Model]: the next part is a free key
    for part in parent:
        if isinstance(part, int):
            continue
        if mapping_of is not None:
            model, mapping_of = mapping_of, None
            continue
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return []
        found = _model_in(field.annotation)
        if found is None:
            return []
        model, is_mapping = found
        if is_mapping:
            mapping_of, model = model, None
    if model is None:
        return []
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_in(annotation: Any) -> tuple[type, bool] | None:
    """The pydantic model inside an annotation (`M`, `M | None`, `tuple[M, ...]`, `dict[str, M]`),
    and whether it sits behind mapping keys."""
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation, False
    for arg in args:
        found = _model_in(arg)
        if found is not None:
            return found[0], found[1] or origin is dict
    return None


def validate_model(model: type, data: Any, locator: Locator, prefix: Sequence[str | int] = ()) -> Any:
    """`model.model_validate(data)`, raising SpecErrors (all of them) instead of pydantic's error."""
    from pydantic import ValidationError

    from engine.errors import SpecErrors

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        exc._engine_model = model  # type: ignore[attr-defined]
        raise SpecErrors(validation_errors(exc, locator, prefix)) from None
