"""No setting that nothing reads: every field of the profile schema must be read by some code in engine/.

The schema is walked from `Profile` (engine/config/profile.py, with `strategy:` from
engine/strategy/params.py), recursively through every nested section model, giving dotted paths such
as `universe.min_quote_volume_24h`, `risk.sl_streak.losses` or `orders.take_profit[].at_pct`.

"Read" is decided with `ast` over every engine/**/*.py except the two schema modules (their
validators and properties do not count), plus the `timeout.after` references of machines/*.yaml,
which engine/config/loading.py resolves with `Profile.param`. The rule pairs a field with its
*section*, so a same-named attribute of an unrelated object (`UniverseRules.min_quote_volume_24h`,
`ScalpingParams.atr_pct_min`) does not count for `universe.min_quote_volume_24h` / `universe.atr_pct_min`:

1. Expressions holding a section model are tracked, per module:
   - any `….profile` / `profile` holds a `Profile` (the name every module uses for it);
   - `X.<section>` where X holds the parent model holds the section (`profile.risk.sl_streak`);
     `getattr(X, "<section>")`, `X[i]` / iteration over a tuple of models (`orders.take_profit`),
     `a if c else b`, `a or b`, and a call of the model class (`ScalpingParams()`) too;
   - a name or attribute assigned from such an expression (`universe = loaded.profile.universe`,
     `self.config = config`), one annotated with the model class (`config: RiskSection`, also
     `ScalpingParams | None`), and a `for` / comprehension target over a tuple of models;
   - a keyword argument `f(orders=self.profile.orders)` makes `orders` a holder in every module
     (it is the callee's parameter name, wherever the callee lives).
   A holder is known by its last name (`self.config` → `config`) within its module.
2. A field `section.field` is read where such a holder is followed by `.field`, by
   `getattr(holder, "field")`, by `holder.model_dump(...)["field"]` / `.get("field")`, where
   `**holder.model_dump()` is splatted into a call (all its direct fields), or where
   `X.param("section.field")` names it (as does a machine's `timeout: {after: section.field}`).
   Dumping the whole profile (`profile.model_dump()` for a diff or a display) reads no field.

Fields nothing reads today are listed in KNOWN_GAPS; the list may only shrink: an entry that becomes
read, or no longer exists, fails the suite until it is removed.
"""

from __future__ import annotations

import ast
import functools
import inspect
import typing
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel

from engine.config.profile import Profile

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "engine"
MACHINES = REPO / "machines"
SCHEMA_MODULES = {ENGINE / "config" / "profile.py", ENGINE / "strategy" / "params.py"}

# Empty: the universe settings are read by engine/market/universe.py (rules_from_profile), `description`
# and `venue.exchange` by the live banner (engine/run/live.py). Any setting added must be read too.
KNOWN_GAPS: dict[str, str] = {}


# --- the schema ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    path: str  # dotted, e.g. "risk.sl_streak.losses"; "[]" marks an element of a tuple of models
    model: type[BaseModel]  # the model declaring the field
    field: str
    line: int

    @property
    def where(self) -> str:
        file = Path(inspect.getsourcefile(self.model) or "?").resolve()
        try:
            file = file.relative_to(REPO)
        except ValueError:
            pass
        return f"{self.model.__name__}.{self.field} ({file}:{self.line})"


def _nested(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """(model, is_sequence) when the annotation is a model or a tuple/list of models."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            return args[0], True
    return None, False


def _field_line(model: type[BaseModel], name: str) -> int:
    for klass in model.__mro__:
        if name in klass.__dict__.get("__annotations__", {}):
            lines, start = inspect.getsourcelines(klass)
            for offset, text in enumerate(lines):
                if text.strip().startswith(f"{name}:"):
                    return start + offset
            return start
    return 0


@functools.cache
def schema() -> tuple[tuple[Setting, ...], dict[str, type[BaseModel]]]:
    """Every leaf setting of Profile, and every model of the schema by class name."""
    settings: list[Setting] = []
    models: dict[str, type[BaseModel]] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        models[model.__name__] = model
        for name, info in model.model_fields.items():
            child, seq = _nested(info.annotation)
            path = f"{prefix}{name}"
            if child is not None:
                walk(child, f"{path}[]." if seq else f"{path}.")
            else:
                settings.append(Setting(path, model, name, _field_line(model, name)))

    walk(Profile, "")
    return tuple(settings), models


# --- the readers --------------------------------------------------------------------------------

Type = tuple[str, bool]  # (model class name, is a tuple of that model)


def _terminal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class Analysis:
    """Which (model, field) pairs the given sources read, and where; see the module docstring."""

    def __init__(self, sources: dict[str, str], machine_refs: dict[str, list[str]] | None = None) -> None:
        _, self.models = schema()
        self.fields = {name: dict(m.model_fields) for name, m in self.models.items()}
        self.trees = {name: ast.parse(src, filename=name) for name, src in sources.items()}
        self.nodes = {name: list(ast.walk(tree)) for name, tree in self.trees.items()}
        binding = (ast.Assign, ast.AnnAssign, ast.arg, ast.For, ast.AsyncFor, ast.comprehension, ast.Call)
        self.binding_nodes = {name: [n for n in nodes if isinstance(n, binding)] for name, nodes in self.nodes.items()}
        self.global_holders: dict[str, set[Type]] = defaultdict(set)
        self.global_holders["profile"].add(("Profile", False))
        self.local: dict[str, dict[str, set[Type]]] = {name: defaultdict(set) for name in self.trees}
        self.reads: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.machine_refs = machine_refs or {}
        self._solve()
        self._collect()

    # types of expressions
    def _types(self, node: ast.AST, module: str) -> set[Type]:
        out: set[Type] = set()
        if isinstance(node, ast.Attribute):
            out |= self._field_types(self._types(node.value, module), node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in self.models:
                out.add((node.func.id, False))
            elif node.func.id == "getattr" and len(node.args) >= 2 and _const_str(node.args[1]):
                out |= self._field_types(self._types(node.args[0], module), node.args[1].value)  # type: ignore[attr-defined]
        if isinstance(node, ast.Subscript):
            out |= {(m, False) for m, seq in self._types(node.value, module) if seq}
        if isinstance(node, ast.IfExp):
            out |= self._types(node.body, module) | self._types(node.orelse, module)
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                out |= self._types(value, module)
        if isinstance(node, ast.NamedExpr):
            out |= self._types(node.value, module)
        name = _terminal(node)
        if name is not None:
            out |= self.global_holders.get(name, set()) | self.local[module].get(name, set())
        return out

    def _field_types(self, owners: set[Type], attr: str) -> set[Type]:
        out: set[Type] = set()
        for model, seq in owners:
            info = self.fields[model].get(attr)
            if info is not None and not seq:
                child, child_seq = _nested(info.annotation)
                if child is not None:
                    out.add((child.__name__, child_seq))
        return out

    def _annotation_types(self, node: ast.AST | None) -> set[Type]:
        if node is None:
            return set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return set()
        seq = isinstance(node, ast.Subscript) and _terminal(node.value) in ("tuple", "list", "Sequence")
        out: set[Type] = set()
        for sub in ast.walk(node):
            name = _terminal(sub)
            if name in self.models:
                out.add((name, seq))
        return out

    # holders, to a fixed point
    def _bind(self, target: ast.AST, types: set[Type], module: str) -> bool:
        name = _terminal(target)
        if name is None or not types or types <= self.local[module][name]:
            return False
        self.local[module][name] |= types
        return True

    def _solve(self) -> None:
        changed = True
        while changed:
            changed = False
            for module, nodes in self.binding_nodes.items():
                for node in nodes:
                    if isinstance(node, ast.Assign):
                        types = self._types(node.value, module)
                        for target in node.targets:
                            changed |= self._bind(target, types, module)
                    elif isinstance(node, ast.AnnAssign):
                        types = self._annotation_types(node.annotation)
                        if node.value is not None:
                            types |= self._types(node.value, module)
                        changed |= self._bind(node.target, types, module)
                    elif isinstance(node, ast.arg):
                        changed |= self._bind(ast.Name(node.arg), self._annotation_types(node.annotation), module)
                    elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                        iterable, target = node.iter, node.target
                        if (isinstance(iterable, ast.Call) and _terminal(iterable.func) == "enumerate"
                                and iterable.args and isinstance(target, ast.Tuple) and len(target.elts) == 2):
                            iterable, target = iterable.args[0], target.elts[1]
                        elements = {(m, False) for m, seq in self._types(iterable, module) if seq}
                        changed |= self._bind(target, elements, module)
                    elif isinstance(node, ast.Call):
                        for keyword in node.keywords:
                            if keyword.arg is None:
                                continue
                            types = self._types(keyword.value, module)
                            if types and not types <= self.global_holders[keyword.arg]:
                                self.global_holders[keyword.arg] |= types
                                changed = True

    # reads
    def _read(self, owners: set[Type], field: str, module: str, node: ast.AST) -> None:
        for model, seq in owners:
            if not seq and field in self.fields[model]:
                self.reads[(model, field)].append(f"{module}:{getattr(node, 'lineno', 0)}")

    def _collect(self) -> None:
        by_path = {s.path: s for s in schema()[0]}
        for module, nodes in self.nodes.items():
            for node in nodes:
                if isinstance(node, ast.Attribute):
                    self._read(self._types(node.value, module), node.attr, module, node)
                elif isinstance(node, ast.Call):
                    func = node.func
                    if _terminal(func) == "getattr" and len(node.args) >= 2 and _const_str(node.args[1]):
                        self._read(self._types(node.args[0], module), node.args[1].value, module, node)  # type: ignore[attr-defined]
                    if (isinstance(func, ast.Attribute) and func.attr == "get" and node.args
                            and _const_str(node.args[0]) and _is_dump(func.value)):
                        self._read(self._types(func.value.func.value, module), node.args[0].value, module, node)  # type: ignore[attr-defined]
                    if (isinstance(func, ast.Attribute) and func.attr == "param" and node.args
                            and _const_str(node.args[0])):
                        setting = by_path.get(node.args[0].value)  # type: ignore[attr-defined]
                        if setting is not None:
                            self.reads[(setting.model.__name__, setting.field)].append(f"{module}:{node.lineno}")
                    for keyword in node.keywords:
                        if keyword.arg is None and _is_dump(keyword.value):
                            for model, seq in self._types(keyword.value.func.value, module):  # type: ignore[attr-defined]
                                for field in self.fields[model] if not seq else ():
                                    self._read({(model, False)}, field, module, node)
                elif isinstance(node, ast.Subscript) and _const_str(node.slice) and _is_dump(node.value):
                    self._read(self._types(node.value.func.value, module), node.slice.value, module, node)  # type: ignore[attr-defined]
        for file, refs in self.machine_refs.items():
            for ref in refs:
                setting = by_path.get(ref)
                if setting is not None:
                    self.reads[(setting.model.__name__, setting.field)].append(f"{file} (timeout.after)")

    def readers(self, setting: Setting) -> list[str]:
        return self.reads.get((setting.model.__name__, setting.field), [])

    def name_mentions(self, name: str) -> list[str]:
        """Every attribute access `x.name` or string 'name' in the sources, whatever `x` is (hints)."""
        out = []
        for module, nodes in self.nodes.items():
            for node in nodes:
                if (isinstance(node, ast.Attribute) and node.attr == name) or (
                        isinstance(node, ast.Constant) and node.value == name):
                    out.append(f"{module}:{node.lineno}")
        return out


def _const_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_dump(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("model_dump", "dict"))


def _machine_refs() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(MACHINES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        states = data.get("states") if isinstance(data, dict) else None
        refs = []
        for state in (states or {}).values():
            timeout = state.get("timeout") if isinstance(state, dict) else None
            if isinstance(timeout, dict) and isinstance(timeout.get("after"), str):
                refs.append(timeout["after"])
        out[str(path.relative_to(REPO))] = refs
    return out


@functools.cache
def engine_analysis() -> Analysis:
    sources = {
        str(path.relative_to(REPO)): path.read_text(encoding="utf-8")
        for path in sorted(ENGINE.rglob("*.py"))
        if path.resolve() not in SCHEMA_MODULES
    }
    return Analysis(sources, _machine_refs())


def unread(analysis: Analysis) -> list[Setting]:
    return [s for s in schema()[0] if not analysis.readers(s)]


def _describe(analysis: Analysis, setting: Setting) -> str:
    mentions = analysis.name_mentions(setting.field)
    hint = (f"the name appears only elsewhere, on other objects: {', '.join(mentions[:4])}"
            f"{' …' if len(mentions) > 4 else ''}" if mentions else "the name appears nowhere outside the schema")
    return f"  {setting.path}: declared as {setting.where}; {hint}"


# --- the tests ----------------------------------------------------------------------------------


def test_every_setting_is_read_by_some_code() -> None:
    analysis = engine_analysis()
    missing = [s for s in unread(analysis) if s.path not in KNOWN_GAPS]
    assert not missing, (
        "profile settings that no code in engine/ reads (wire them in, or delete them from the schema):\n"
        + "\n".join(_describe(analysis, s) for s in missing)
    )


def test_known_gaps_only_shrink() -> None:
    analysis = engine_analysis()
    settings = {s.path: s for s in schema()[0]}
    stale = []
    for path in sorted(KNOWN_GAPS):
        setting = settings.get(path)
        if setting is None:
            stale.append(f"  {path}: no longer a profile setting; remove it from KNOWN_GAPS")
        elif readers := analysis.readers(setting):
            stale.append(f"  {path} ({setting.where}) is read now, at {', '.join(readers[:3])}; "
                         "remove it from KNOWN_GAPS")
    assert not stale, "KNOWN_GAPS in tests/config/test_settings_read.py is out of date:\n" + "\n".join(stale)


def test_schema_walk_reaches_every_section() -> None:
    paths = {s.path for s in schema()[0]}
    for expected in ("name", "universe.min_quote_volume_24h", "orders.leverage", "strategy.ema_fast",
                     "risk.sl_streak.losses", "orders.take_profit[].at_pct", "telegram.poll_timeout"):
        assert expected in paths


def test_known_readers_are_found() -> None:
    """The rule sees readers through each kind of holder (guards against a rule that reads nothing)."""
    analysis = engine_analysis()
    settings = {s.path: s for s in schema()[0]}
    expect = {
        "orders.leverage": "engine/bot/control/control.py",  # new.profile.orders.leverage
        "orders.risk_per_trade_pct": "engine/trading/sizing.py",  # orders: OrdersSection
        "orders.take_profit[].at_pct": "engine/trading/sizing.py",  # [s.at_pct for s in steps]
        "risk.sl_streak.losses": "engine/trading/risk.py",  # self.config.sl_streak.losses
        "universe.max_symbols": "engine/market/universe.py",  # universe: UniverseSection
        "strategy.atr_pct_min": "engine/strategy/signal.py",  # p: ScalpingParams
        "orders.entry_timeout": "machines/position.yaml",  # timeout.after → Profile.param
    }
    for path, file in expect.items():
        readers = analysis.readers(settings[path])
        assert any(r.startswith(file) for r in readers), (path, readers)


def test_rule_is_not_fooled_by_unrelated_attributes_and_fails_without_the_reader() -> None:
    reader = (
        "from engine.config.profile import OrdersSection\n"
        "def size(orders: OrdersSection, rules, p):\n"
        "    return orders.leverage, rules.min_quote_volume_24h, p.atr_pct_min\n"
    )
    with_reader = Analysis({"engine/x.py": reader})
    settings = {s.path: s for s in schema()[0]}
    assert with_reader.readers(settings["orders.leverage"]) == ["engine/x.py:3"]
    # Same names on objects that are not the universe section do not count.
    assert not with_reader.readers(settings["universe.min_quote_volume_24h"])
    assert not with_reader.readers(settings["universe.atr_pct_min"])
    assert not with_reader.readers(settings["strategy.atr_pct_min"])
    # Delete the only reader and the setting is reported.
    without = Analysis({"engine/x.py": reader.replace("orders.leverage", "orders.margin_mode")})
    assert settings["orders.leverage"] in unread(without)
    # Held through a profile, an alias, a keyword argument, getattr and a dump key.
    other = Analysis({
        "engine/a.py": "def f(loaded):\n    u = loaded.profile.universe\n    g(section=u)\n"
                       "    return (getattr(loaded.profile.risk, 'max_hold'),\n"
                       "            loaded.profile.venue.model_dump()['timeframe'])\n",
        "engine/b.py": "def g(section):\n    return section.rotation\n",
    })
    for path in ("universe.rotation", "risk.max_hold", "venue.timeframe"):
        assert other.readers(settings[path]), path
