"""Safe YAML loading that remembers where every key and item came from.

`load_yaml` returns plain Python data plus a `Locator` that maps a path such as
`("transitions", 3, "to")` to its 1-based line, so that every later check can name the file, the
line and the key. Only the safe YAML subset is accepted (no tags that construct Python objects).

Anchors, aliases and merge keys (`<<: *defaults`) are allowed, within limits checked on the event
stream before anything is built: at most `MAX_DEPTH` levels of nesting and `MAX_NODES` values once
every alias is expanded, and no alias inside the collection it names. A ten-line "billion laughs"
file would otherwise expand to 10^9 values and exhaust memory, and a recursive alias or deep
nesting would exhaust the stack; each is refused naming the file, the line and the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import SpecError

PathKey = tuple[str | int, ...]

# Shipped files nest 4 levels deep and hold about 330 values (machines/position.yaml): these leave
# ample room for hand-written files and none for a bomb.
MAX_DEPTH = 20
MAX_NODES = 20_000
MERGE_TAG = "tag:yaml.org,2002:merge"


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
        check_shape(text, file)
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


@dataclass
class _Open:
    """A collection being read in `check_shape`: what it holds so far, and where the next item goes."""

    anchor: str | None
    is_map: bool
    size: int = 1  # values inside, aliases expanded, itself included
    depth: int = 1  # levels inside, aliases expanded, itself included
    slot: str | int = 0  # the key (mapping) or index (sequence) of the next value
    at_key: bool = True  # mapping: the next node is a key


def check_shape(text: str, file: Path) -> None:
    """Refuse, before composing, what would exhaust memory or the stack when the data is built:
    nesting deeper than MAX_DEPTH, more than MAX_NODES values with aliases expanded, and an alias
    inside the collection it refers to. Streams the parser's events, so it never recurses itself."""
    stack: list[_Open] = []
    done: dict[str, tuple[int, int]] = {}  # anchor -> (size, depth) of the finished node
    total = 0

    def path_here() -> PathKey:
        return tuple(o.slot for o in stack if not (o.is_map and o.at_key))

    def refuse(event: yaml.Event, problem: str) -> SpecError:
        return SpecError(file, event.start_mark.line + 1, dotted(path_here()), problem)

    def place(event: yaml.Event, size: int, depth: int, key: str | None, new: int) -> None:
        """Put a finished node of `size` values and `depth` levels into its parent; `new` of its values
        were not counted yet (its items were counted as they came)."""
        nonlocal total
        total += new
        if total > MAX_NODES:
            raise refuse(event, f"the document holds more than {MAX_NODES} values once its aliases are "
                                "expanded; use fewer aliases (a YAML alias bomb is refused)")
        if len(stack) + depth > MAX_DEPTH:
            raise refuse(event, f"nested more than {MAX_DEPTH} levels deep (aliases expanded)")
        if not stack:
            return
        parent = stack[-1]
        parent.size += size
        parent.depth = max(parent.depth, depth + 1)
        if not parent.is_map:
            parent.slot = int(parent.slot) + 1
        elif parent.at_key:
            parent.slot, parent.at_key = (key if key is not None else "?"), False
        else:
            parent.at_key = True

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            if any(o.anchor == event.anchor for o in stack):
                raise refuse(event, f"alias *{event.anchor} is inside the collection &{event.anchor} it names "
                                    "(a recursive alias)")
            size, depth = done.get(event.anchor, (1, 1))  # an undefined alias: compose names it
            place(event, size, depth, None, size)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                done[event.anchor] = (1, 1)
            place(event, 1, 1, event.value, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(stack) + 1 > MAX_DEPTH:
                raise refuse(event, f"nested more than {MAX_DEPTH} levels deep")
            stack.append(_Open(event.anchor, isinstance(event, yaml.MappingStartEvent)))
        elif isinstance(event, yaml.CollectionEndEvent):
            node = stack.pop()
            if node.anchor:
                done[node.anchor] = (node.size, node.depth)
            place(event, node.size, node.depth, None, 1)


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
        return _build_mapping(node, path, locator)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), locator) for i, item in enumerate(node.value)]
    return _scalar(node, path, locator)


def _build_mapping(node: yaml.MappingNode, path: PathKey, locator: Locator) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    merges = []
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            merges.append((key_node, value_node))
            continue
        key = _scalar(key_node, path, locator) if isinstance(key_node, yaml.ScalarNode) else None
        if key is None or isinstance(key, (list, dict)):
            raise SpecError(locator.file, key_node.start_mark.line + 1, dotted(path), "keys must be plain")
        if key in out:
            raise SpecError(locator.file, key_node.start_mark.line + 1, dotted((*path, key)), "duplicate key")
        locator.lines[(*path, key)] = key_node.start_mark.line + 1
        out[key] = _build(value_node, (*path, key), locator)
    for key_node, value_node in merges:
        _merge_into(out, key_node, value_node, path, locator)
    return out


def _merge_into(out: dict[Any, Any], key_node: yaml.Node, value_node: yaml.Node, path: PathKey,
                locator: Locator) -> None:
    """YAML merge key `<<: *a` or `<<: [*a, *b]`: keys written in the mapping win, then earlier sources.
    Merged keys keep the lines where the source mapping wrote them (in this same file)."""
    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            raise SpecError(locator.file, key_node.start_mark.line + 1, dotted((*path, "<<")),
                            "a merge key (<<) takes a mapping or a list of mappings, e.g. <<: *defaults")
        scratch = Locator(locator.file)
        merged = _build_mapping(source, path, scratch)
        for key, value in merged.items():
            if key in out:
                continue
            out[key] = value
            prefix = (*path, key)
            locator.lines.update({p: line for p, line in scratch.lines.items() if p[: len(prefix)] == prefix})


def _scalar(node: yaml.Node, path: PathKey, locator: Locator) -> Any:
    try:
        return yaml.SafeLoader(" ").construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise SpecError(locator.file, node.start_mark.line + 1, dotted(path),
                        f"unsupported YAML: {exc.problem}") from None


def validation_errors(exc: Any, locator: Locator, prefix: Sequence[str | int] = ()) -> list[SpecError]:
    """Turn a pydantic ValidationError into SpecErrors that name the line, the key and what was expected."""
    errors = []
    for err in exc.errors():
        path = (*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))))
        msg = err["msg"]
        kind = err["type"]
        if kind == "cross_field":  # engine.config.numbers.cross_field_error: the key the rule is about
            path = (*path, err["ctx"]["key"])
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
