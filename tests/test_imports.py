"""The jobs package's import graph: every module imports, no cycles, and each layer imports only below it.

The graph is read from the source with ``ast``: module-level and function-level imports alike, since
a function-level import still ties the two modules together (it only defers the cost). Imports by
name at run time (the registry's runners, the CLI's importers, ``dag_runs --then``) are not edges.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.registry import jobs

JOBS = Path(__file__).resolve().parents[1] / "jobs"

#: Layers from the ground up: a module may import its own layer and those below it, never one above.
#: The registry is the daily graph the CLI and the DAGs are built from; the CLI's verbs
#: (jobs.commands) run jobs of every layer; orchestration runs those verbs from Airflow; the
#: command line and the demo (which drives Airflow) sit on top.
LAYERS: list[set[str]] = [
    {"common"},
    {"bronze"},
    {"silver"},
    {"gold"},
    {"features"},
    {"quality"},
    {"publish"},
    {"ml", "maintenance", "report"},
    {"registry", "commands"},
    {"orchestration"},
    {"cli", "demo", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
#: Beside the pipeline: the simulator and the importers write landing files. They may use common
#: (and each other); only the verbs and the demo may use them, never a pipeline layer.
SIDE = {"simulate", "importers"}
SIDE_USERS = SIDE | {"commands", "cli", "demo"}

#: Violations in the tree today, left for the modules' own rewrite. Each entry is (importer, imported,
#: rule). The test fails on any violation not listed here, and on a listed one that no longer exists,
#: so the list only shrinks.
KNOWN_VIOLATIONS = {
    # Segments and review sentiment are gold tables a model writes: the gold jobs call the model code
    # in jobs.ml (k-means, the sentiment scorer, the capped pandas hand-off). The model libraries
    # belong below gold (a jobs/models package) with only training and evaluation left in ml.
    ("jobs.gold.segments", "jobs.ml.segments", "layer"),
    ("jobs.gold.segments", "jobs.ml.common", "layer"),
    ("jobs.gold.sentiment", "jobs.ml.sentiment", "layer"),
    # Point-in-time features reuse the purchase-time frames, and the recommendation evaluation reuses
    # the recommender, from the modules that also hold those jobs' runners: both belong in libraries
    # the runners and their users share.
    ("jobs.features.user_daily", "jobs.gold.purchase_time", "runner"),
    ("jobs.ml.recommend_eval", "jobs.gold.recommendations", "runner"),
}


def module_names() -> list[str]:
    names = []
    for path in sorted(JOBS.rglob("*.py")):
        parts = list(path.relative_to(JOBS.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = module_names()


def _path(module: str) -> Path:
    base = JOBS.parent.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _known(name: str) -> str:
    """The jobs module an import refers to (``from jobs.gold import funnel`` → jobs.gold.funnel)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(module: str) -> Iterator[str]:
    """Every jobs module ``module`` imports, anywhere in its source."""
    tree = ast.parse(_path(module).read_text())
    is_package = _path(module).name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "jobs" or target.startswith("jobs."):
                found = _known(target)
                if found and found != module:
                    yield found


GRAPH = {m: sorted(set(imports(m))) for m in MODULES}


def unit(module: str) -> str:
    """A module's layer: its package under jobs (``jobs.gold.funnel`` → gold), or its own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "jobs"


def runners() -> set[str]:
    """Modules holding a registry job's runner: entry points, not libraries for other layers."""
    return {j.runner.partition(":")[0] for j in jobs() if j.runner}


def violations() -> set[tuple[str, str, str]]:
    found = set()
    entry_points = runners()
    for module, targets in GRAPH.items():
        mine = unit(module)
        for target in targets:
            theirs = unit(target)
            if mine == theirs or "jobs" in (mine, theirs):
                continue
            if theirs in SIDE:
                if mine not in SIDE_USERS:
                    found.add((module, target, "side"))
                continue
            if mine in SIDE:
                if theirs != "common":
                    found.add((module, target, "side"))
                continue
            if RANK[theirs] > RANK[mine]:
                found.add((module, target, "layer"))
            elif target in entry_points:
                found.add((module, target, "runner"))
    return found


def cycles() -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
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
                groups.append(sorted(group))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return sorted(groups)


def test_every_package_has_a_layer() -> None:
    assert {unit(m) for m in MODULES} - {"jobs"} == set(RANK) | SIDE


def test_every_module_imports() -> None:
    for name in MODULES:
        importlib.import_module(name)


def test_no_import_cycles() -> None:
    assert cycles() == []


def test_layers_import_only_below_them() -> None:
    found = violations()
    assert found - KNOWN_VIOLATIONS == set(), "new layer violations"
    assert KNOWN_VIOLATIONS - found == set(), "fixed: remove them from KNOWN_VIOLATIONS"


def test_nothing_below_the_command_line_imports_it() -> None:
    importers = {m for m, targets in GRAPH.items() if "jobs.cli" in targets}
    assert importers == {"jobs.__main__"}


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, [["a", "b", "c"]]),
        ({"a": ["b"], "b": [], "c": ["b"]}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(
    monkeypatch: pytest.MonkeyPatch, graph: dict[str, list[str]], expected: list[list[str]]
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", graph)
    assert cycles() == expected


def test_the_layer_check_sees_an_upward_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself can fail: a silver module importing the CLI is reported."""
    graph = {**GRAPH, "jobs.silver.sessions": [*GRAPH["jobs.silver.sessions"], "jobs.cli", "jobs.simulate.rand"]}
    monkeypatch.setattr(sys.modules[__name__], "GRAPH", graph)
    assert violations() - KNOWN_VIOLATIONS == {
        ("jobs.silver.sessions", "jobs.cli", "layer"),
        ("jobs.silver.sessions", "jobs.simulate.rand", "side"),
    }
