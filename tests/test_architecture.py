"""The package's shape, as DESIGN.md draws it: arrows point one way, and only flow/ reads the log.

interfaces (cli, web, the API) -> views -> analyses -> flow -> workspace -> sources -> model.
Every import statement counts, also those inside functions: a lazy import upwards is still an
arrow the wrong way.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import valuestream

PACKAGE = Path(valuestream.__file__).parent

# Lower number = lower layer. A module may import its own layer or lower ones only.
LAYERS = {
    "errors": 0,
    "model": 0,
    "results": 0,
    "sources": 1,
    "sample": 1,
    "workspace": 2,
    "maps": 3,
    "events": 3,
    "flow": 4,
    "streammap": 5,
    "xmr": 5,
    "economics": 5,
    "constraint": 6,
    "forecast": 6,
    "simulate": 6,
    "check": 7,
    "views": 8,
    "cli": 9,
    "web": 9,
    "__main__": 10,
}
ANALYSES = ("streammap", "xmr", "economics", "constraint", "forecast", "simulate", "check")
# Outside libraries that belong to one side of the line: the engine to flow/ and storage, the
# charts to views/.
ENGINE = ("duckdb",)
DRAWING = ("altair", "vl_convert")

# Known exceptions, each with its reason; the test fails when one is no longer needed, so the list
# only shrinks. (module, imported) pairs.
EXPECTED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _statements(tree: ast.Module, module_level: bool) -> list[ast.AST]:
    """Every node, or (``module_level``) only what runs at import: not function bodies, not
    ``if TYPE_CHECKING`` blocks."""
    if not module_level:
        return list(ast.walk(tree))
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
            continue
        out.append(node)
        todo += list(ast.iter_child_nodes(node))
    return out


def _imports(
    path: Path, source: str | None = None, *, module_level: bool = False
) -> list[tuple[str, int]]:
    """Every module an import statement in ``path`` names (``from a import b`` names a.b when
    b is a module), with its line."""
    name = _module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    out = []
    for node in _statements(tree, module_level):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.append((sub if _find(sub) else module, node.lineno))
    return out


def _find(module: str) -> bool:
    if not module.startswith("valuestream."):
        return False
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _all_imports() -> dict[str, list[tuple[str, int]]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "valuestream" or len(parts) == 1:
        return None
    return parts[1]


def _violations() -> set[tuple[str, str]]:
    found = set()
    for module, imported in _all_imports().items():
        mine = _top(module)
        if mine is None:  # the package itself is the public API, the top layer
            continue
        for target, _line in imported:
            theirs = _top(target)
            if theirs is not None and theirs != mine and LAYERS[theirs] > LAYERS[mine]:
                found.add((module, target))
            outside = target.split(".")[0]
            if mine in ANALYSES and outside in ENGINE + DRAWING:
                found.add((module, outside))
            if mine in ANALYSES and theirs == "views":
                found.add((module, target))
    return found


def test_every_module_has_a_layer() -> None:
    tops = {_top(m) for m in _all_imports()} - {None}
    assert tops <= set(LAYERS), f"give these a layer in DESIGN.md and here: {tops - set(LAYERS)}"


def test_arrows_point_one_way() -> None:
    """No module imports a higher layer; analyses import no engine, no chart library, no view."""
    found = _violations()
    unexpected = sorted(found - set(EXPECTED))
    assert not unexpected, "imports against the layering:\n" + "\n".join(
        f"  {m} imports {t}" for m, t in unexpected
    )
    stale = sorted(set(EXPECTED) - found)
    assert not stale, f"no longer needed, remove from EXPECTED: {stale}"


def test_only_flow_and_storage_use_the_engine() -> None:
    """duckdb is imported by flow/ (the event log), the workspace and maps (storage), sources
    (staging and reading files) and the CLI (its error types); by nothing else."""
    allowed = {"flow", "workspace", "maps", "sources", "cli"}
    users = {
        _top(module)
        for module, imported in _all_imports().items()
        if any(t.split(".")[0] == "duckdb" for t, _ in imported)
    }
    assert users - {None} <= allowed, f"duckdb imported outside flow/ and storage: {users - allowed}"


def _module_level_graph() -> dict[str, set[str]]:
    """Imports that run when a module loads (module level, not in functions or TYPE_CHECKING)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        for target, _line in _imports(path, module_level=True):
            # a module needs its parent packages loaded first; that is not a cycle
            if _top(target) is not None and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycle() -> None:
    assert not _cycles(_module_level_graph()), "import cycles"


def test_the_checker_sees_a_wrong_way_import() -> None:
    """The checker itself: an analysis that imports duckdb and a view is caught."""
    fake = PACKAGE / "constraint.py"
    source = "import duckdb\nfrom valuestream.views.charts import styled\n"
    found = {t for t, _ in _imports(fake, source)}
    assert found == {"duckdb", "valuestream.views.charts"}
    assert LAYERS[_top("valuestream.views.charts") or ""] > LAYERS["constraint"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
