"""The import rules of the architecture, checked on the source (no engine module is imported).

Every `engine/**/*.py` is parsed with `ast`; every import counts, at any level: module level, inside
functions, under `if TYPE_CHECKING:`, in `try:` blocks. Relative imports are resolved against the
importing file's package. The result is a file-level graph: one node per module
(`engine/a/b.py` -> `engine.a.b`, `engine/a/__init__.py` -> `engine.a`), one edge per import.

`from engine.a import b` is an edge to the module `engine.a.b` when `engine/a/b.py` (or the package
`engine/a/b/`) exists, otherwise to `engine.a` (a name of the package `__init__`). `import engine.a.b`
is an edge to `engine.a.b`. The package `__init__`s that Python runs along the way are not edges.

"Package" below is the first folder under `engine/`; a top-level module (`engine/clock.py`) is a
package of its own, named by its stem (`clock`). Inside the composition root `engine/bot/`, each
sub-folder is a package of its own (`bot.control`, `bot.stats`, ...) and the root's own modules are
`bot`; a rule that forbids `bot` forbids all of them.

Rules that are still broken somewhere else in the tree are listed in `KNOWN_VIOLATIONS`; the tests
fail when an entry no longer occurs, so the set can only shrink. Run this file with
`uv run python tests/test_architecture.py` to print the whole graph's violations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
MAX_LINES = 500

# The trading domain, as seen from the state machine: everything that knows about positions,
# orders, venues, strategies, markets, running, the CLI, the operator's channels and the profile.
TRADING_DOMAIN = ("positions", "trading", "venue", "strategy", "market", "run", "cli", "bot", "config")
# The composition root engine/bot/: session, venues and services, and the operator's channels in it.
BOT = "bot"
OPERATOR = ("bot.control", "bot.telegram", "bot.notify", "bot.stats")

# package -> the packages it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "machine": TRADING_DOMAIN,
    "store": ("trading", "venue", "run", "cli"),
    "venue": ("config", "trading", "run", "cli", BOT),
    "strategy": ("trading", "run", "cli", BOT),
    "market": ("trading", "run", "cli", BOT),
    "trading": ("run", "cli", BOT),
    # the composition root: drivers use it, it imports no driver
    BOT: ("run", "cli"),
    "bot.control": ("run", "cli"),
    "bot.telegram": ("run", "cli"),
    "bot.notify": ("run", "cli"),
    # stats reads the history; it must not depend on the trading it reports on (trading writes it)
    "bot.stats": ("trading", "run", "cli"),
}

# Violations that belong to other engineers' areas and are being fixed there. The architecture
# issue must empty this set: each entry is (rule, importing file, imported module), or
# ("cycle", "a -> b -> a", "") for a cycle. A test fails when an entry no longer occurs.
KNOWN_VIOLATIONS: set[tuple[str, str, str]] = set()  # e.g. ("machine", "engine/machine/x.py", "engine.positions.y")


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    path: str  # importing file, relative to the repository root
    line: int
    target: str  # imported engine module, dotted
    text: str  # the import statement, as written
    name: str | None = None  # the name taken, for `from ... import name`
    bound: str | None = None  # the name it is bound to, for `from ... import name as bound`

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def package_of(module: str) -> str:
    """The first folder under engine/ (or a top-level module's stem); '' for engine itself. Under
    engine/bot/, a sub-folder is `bot.<name>` and the root's own modules are `bot`."""
    parts = module.split(".")
    if len(parts) > 3 and parts[1] == BOT:
        return f"{BOT}.{parts[2]}"
    return parts[1] if len(parts) > 1 else ""


def falls_under(package: str, forbidden: set[str]) -> bool:
    """`package` is one of `forbidden`, or inside one of them (`bot.stats` inside `bot`)."""
    return package in forbidden or package.split(".")[0] in forbidden


class Graph:
    """The engine modules under `root` (the folder holding `engine/`) and their imports."""

    def __init__(self, root: Path, top: str = "engine") -> None:
        self.root = root
        self.files: dict[str, Path] = {}
        for path in sorted((root / top).rglob("*.py")):
            self.files[module_name(path, root)] = path
        self.imports: list[Import] = []
        for module, path in self.files.items():
            self.imports.extend(self._imports_of(module, path))

    def rel(self, module: str) -> str:
        return self.files[module].relative_to(self.root).as_posix()

    def _resolve(self, dotted: str) -> str | None:
        """The engine module `dotted` names, or its longest existing prefix; None outside engine."""
        parts = dotted.split(".")
        while parts:
            name = ".".join(parts)
            if name in self.files:
                return name
            parts.pop()
        return None

    def _imports_of(self, module: str, path: Path) -> Iterable[Import]:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        package = module if is_package(path) else module.rpartition(".")[0]
        rel = path.relative_to(self.root).as_posix()
        for node in ast.walk(tree):
            text = ast.get_source_segment(source, node) if isinstance(node, ast.Import | ast.ImportFrom) else None
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = self._resolve(alias.name)
                    if target is not None:
                        yield Import(module, rel, node.lineno, target, text or "")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    if node.level > 1:
                        base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                for alias in node.names:
                    full = f"{stem}.{alias.name}"
                    target = full if full in self.files else self._resolve(stem)
                    if target is not None:
                        text = " ".join((text or "").split())
                        yield Import(module, rel, node.lineno, target, text, alias.name, alias.asname)

    # --- the rules -----------------------------------------------------------------------------

    def layer_violations(self, package: str, forbidden: Iterable[str]) -> list[Import]:
        forbidden = set(forbidden)
        return [
            i for i in self.imports
            if package_of(i.source) == package and falls_under(package_of(i.target), forbidden)
            and package_of(i.target) != package
        ]

    def cli_violations(self) -> list[Import]:
        """Only engine/cli/ and engine/__main__.py import engine/cli/."""
        return [
            i for i in self.imports
            if package_of(i.target) == "cli"
            and package_of(i.source) != "cli"
            and i.source != "engine.__main__"
        ]

    def cycle_edges(self) -> dict[str, dict[str, Import]]:
        """The graph the cycle check walks: source -> target -> first import of that edge.

        Package `__init__`s: an `__init__` that imports its own submodules re-exports them; a
        submodule that takes a name from its own package (`from engine.a import X` inside
        `engine.a.b`) really depends on the submodule where X is defined. So an edge from a module to
        an ancestor package's `__init__` is followed to the `__init__`'s own import of that name when
        the `__init__` re-exports it, and dropped when the name is the package's submodule itself.
        An edge to an `__init__` that defines the name is kept: that is a real cycle when the
        `__init__` imports the submodule back. Self-imports are dropped.
        """
        reexports: dict[tuple[str, str], str] = {}  # (package, name it binds) -> module it came from
        for imp in self.imports:
            if imp.name is not None and is_package(self.files[imp.source]) and imp.target != imp.source:
                reexports[(imp.source, imp.bound or imp.name)] = imp.target
        edges: dict[str, dict[str, Import]] = {m: {} for m in self.files}
        for imp in self.imports:
            target = imp.target
            if imp.source.startswith(target + "."):  # from its own (ancestor) package's __init__
                if imp.name is None:
                    continue  # `import engine.a` inside engine.a.b: the package is being set up anyway
                target = reexports.get((target, imp.name), target)
            if target != imp.source:
                edges[imp.source].setdefault(target, imp)
        return edges

    def cycles(self) -> list[list[Import]]:
        """One shortest cycle through each file on a cycle, each reported once (as a chain)."""
        edges = self.cycle_edges()
        found: dict[tuple[str, ...], list[Import]] = {}
        for start in sorted(edges):
            chain = self._shortest_cycle(edges, start)
            if chain is None:
                continue
            nodes = [i.source for i in chain]
            k = nodes.index(min(nodes))
            key = tuple(nodes[k:] + nodes[:k])
            found.setdefault(key, chain[k:] + chain[:k])
        return [found[k] for k in sorted(found)]

    @staticmethod
    def _shortest_cycle(edges: dict[str, dict[str, Import]], start: str) -> list[Import] | None:
        previous: dict[str, Import] = {}
        frontier = [start]
        seen = {start}
        while frontier:
            nxt = []
            for node in frontier:
                for target, imp in sorted(edges.get(node, {}).items()):
                    if target == start:
                        chain = [imp]
                        while chain[0].source != start:
                            chain.insert(0, previous[chain[0].source])
                        return chain
                    if target not in seen:
                        seen.add(target)
                        previous[target] = imp
                        nxt.append(target)
            frontier = nxt
        return None

    def long_modules(self, limit: int = MAX_LINES) -> list[tuple[str, int]]:
        sizes = ((self.rel(m), len(p.read_text(encoding="utf-8").splitlines())) for m, p in self.files.items())
        return sorted((rel, n) for rel, n in sizes if n > limit)


def chain_of(cycle: list[Import]) -> str:
    return " -> ".join([i.source for i in cycle] + [cycle[0].source])


def describe(cycle: list[Import]) -> str:
    return chain_of(cycle) + "\n" + "\n".join(f"    {i.where()}" for i in cycle)


# --- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Graph:
    return Graph(ROOT)


def all_violations(graph: Graph) -> set[tuple[str, str, str]]:
    found = {(pkg, i.path, i.target) for pkg, bad in FORBIDDEN.items() for i in graph.layer_violations(pkg, bad)}
    found |= {("cli", i.path, i.target) for i in graph.cli_violations()}
    found |= {("cycle", chain_of(c), "") for c in graph.cycles()}
    found |= {("size", rel, "") for rel, _ in graph.long_modules()}
    return found


def _fail_unless_known(rule: str, violations: list[tuple[tuple[str, str, str], str]]) -> None:
    new = [where for key, where in violations if key not in KNOWN_VIOLATIONS]
    assert not new, f"{rule}: {len(new)} forbidden import(s):\n" + "\n".join(new)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer(graph: Graph, package: str) -> None:
    """engine/<package>/ imports none of the packages FORBIDDEN[package] names."""
    found = graph.layer_violations(package, FORBIDDEN[package])
    _fail_unless_known(
        f"engine/{package}/ must not import {', '.join(FORBIDDEN[package])}",
        [((package, i.path, i.target), f"  {i.where()}  (-> {i.target})") for i in found],
    )


def test_only_cli_imports_cli(graph: Graph) -> None:
    found = graph.cli_violations()
    _fail_unless_known(
        "only engine/cli/ and engine/__main__.py import engine/cli/",
        [(("cli", i.path, i.target), f"  {i.where()}  (-> {i.target})") for i in found],
    )


def test_no_import_cycles(graph: Graph) -> None:
    found = graph.cycles()
    _fail_unless_known("import cycles between files", [(("cycle", chain_of(c), ""), describe(c)) for c in found])


def test_module_size(graph: Graph) -> None:
    found = graph.long_modules()
    _fail_unless_known(
        f"modules over {MAX_LINES} lines",
        [(("size", rel, ""), f"  {rel}: {n} lines") for rel, n in found],
    )


def test_known_violations_still_occur(graph: Graph) -> None:
    """KNOWN_VIOLATIONS only shrinks: an entry that no longer occurs must be removed from it."""
    gone = KNOWN_VIOLATIONS - all_violations(graph)
    assert not gone, "fixed, remove from KNOWN_VIOLATIONS:\n" + "\n".join(f"  {g}" for g in sorted(gone))


# --- the rules can fail: a planted tree -------------------------------------------------------------


def _plant(tmp_path: Path, files: dict[str, str]) -> Graph:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Graph(tmp_path)


def _empty_packages() -> dict[str, str]:
    names = set(FORBIDDEN) | set(TRADING_DOMAIN) | set(OPERATOR) | {"store", "report"}
    files = {"engine/__init__.py": "", "engine/__main__.py": "from engine.cli.main import main\n"}
    for name in sorted(names):
        folder = name.replace(".", "/")
        files[f"engine/{folder}/__init__.py"] = ""
        files[f"engine/{folder}/mod.py"] = "x = 1\n"
    files["engine/clock.py"] = "x = 1\n"
    files["engine/cli/main.py"] = "def main(): return 0\n"
    return files


def test_planted_tree_is_clean(tmp_path: Path) -> None:
    g = _plant(tmp_path, _empty_packages())
    assert not any(g.layer_violations(p, bad) for p, bad in FORBIDDEN.items())
    assert not g.cli_violations() and not g.cycles() and not g.long_modules()


@pytest.mark.parametrize(("package", "forbidden"), [(p, b) for p, bad in sorted(FORBIDDEN.items()) for b in bad])
def test_layer_rule_can_fail(tmp_path: Path, package: str, forbidden: str) -> None:
    files = _empty_packages()
    target = f"engine.{forbidden}.mod"
    folder = package.replace(".", "/")
    up = "." * (folder.count("/") + 2)  # from engine/<folder>/bad.py back to engine/
    # a function-level import under TYPE_CHECKING, and a relative one: both count
    files[f"engine/{folder}/bad.py"] = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        f"    import {target}\n"
        "def f():\n"
        f"    from {up}{forbidden} import mod\n"
    )
    found = _plant(tmp_path, files).layer_violations(package, FORBIDDEN[package])
    assert [(i.path, i.line, i.target) for i in found] == [
        (f"engine/{folder}/bad.py", 3, target),
        (f"engine/{folder}/bad.py", 5, target),
    ]


def test_bot_rule_covers_its_rooms(tmp_path: Path) -> None:
    """Forbidding `bot` forbids every room in it: the trading layer may not reach the operator's channels."""
    files = _empty_packages()
    files["engine/trading/bad.py"] = "from engine.bot.telegram.mod import x\n"
    found = _plant(tmp_path, files).layer_violations("trading", FORBIDDEN["trading"])
    assert [(i.path, i.target) for i in found] == [("engine/trading/bad.py", "engine.bot.telegram.mod")]


def test_run_holds_only_drivers_and_their_console() -> None:
    """engine/run/ is the drivers (backtest, paper, paper on live data, live) and what they share; the
    backtest's event loop and its compact trade log are its own parts."""
    assert sorted(p.stem for p in (ENGINE / "run").glob("*.py")) == [
        "__init__", "backtest", "console", "driver", "events", "live", "live_loop", "paper", "paper_online",
        "timeline", "trade_log",
    ]


def test_cli_rule_can_fail(tmp_path: Path) -> None:
    files = _empty_packages()
    files["engine/bot/control/bad.py"] = "def f():\n    from engine.cli import main\n"
    found = _plant(tmp_path, files).cli_violations()
    assert [(i.path, i.line, i.target) for i in found] == [("engine/bot/control/bad.py", 2, "engine.cli.main")]


def test_cycle_rule_can_fail(tmp_path: Path) -> None:
    files = _empty_packages()
    files["engine/venue/a.py"] = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\nA = 1\n"
    files["engine/venue/b.py"] = "from engine.venue.a import A\nB = 1\n"
    cycles = _plant(tmp_path, files).cycles()
    assert [chain_of(c) for c in cycles] == ["engine.venue.a -> engine.venue.b -> engine.venue.a"]
    assert [(i.path, i.line) for i in cycles[0]] == [("engine/venue/a.py", 3), ("engine/venue/b.py", 1)]


def test_package_init_is_no_false_cycle(tmp_path: Path) -> None:
    files = _empty_packages()
    # the __init__ re-exports its submodules; a submodule takes a sibling's name through the package
    files["engine/venue/__init__.py"] = "from engine.venue.a import A\nfrom engine.venue.b import B\n"
    files["engine/venue/a.py"] = "A = 1\n"
    files["engine/venue/b.py"] = "from engine.venue import A\nimport engine.venue\nfrom . import a\nB = 1\n"
    assert _plant(tmp_path, files).cycles() == []
    # ...but a name the __init__ defines itself, while importing the submodule back, is a cycle
    files["engine/venue/__init__.py"] += "C = 1\n"
    files["engine/venue/b.py"] = "from engine.venue import C\nB = 1\n"
    assert [chain_of(c) for c in _plant(tmp_path, files).cycles()] == ["engine.venue -> engine.venue.b -> engine.venue"]


def test_size_rule_can_fail(tmp_path: Path) -> None:
    files = _empty_packages()
    files["engine/store/big.py"] = "x = 1\n" * (MAX_LINES + 1)
    assert _plant(tmp_path, files).long_modules() == [("engine/store/big.py", MAX_LINES + 1)]


def test_known_violations_can_fail(graph: Graph) -> None:
    """An entry that no longer occurs is caught (the set can only shrink)."""
    gone = ("bot.stats", "engine/bot/stats/never.py", "engine.run")
    saved = set(KNOWN_VIOLATIONS)
    KNOWN_VIOLATIONS.add(gone)
    try:
        with pytest.raises(AssertionError, match="never.py"):
            test_known_violations_still_occur(graph)
    finally:
        KNOWN_VIOLATIONS.clear()
        KNOWN_VIOLATIONS.update(saved)


if __name__ == "__main__":
    g = Graph(ROOT)
    for v in sorted(all_violations(g)):
        print(("KNOWN " if v in KNOWN_VIOLATIONS else "      ") + " | ".join(x for x in v if x))
    for c in g.cycles():
        print(describe(c))
