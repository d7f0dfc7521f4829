"""The import graph of the package, read with ``ast`` (nothing is imported or run).

Fails on an import cycle between modules, on ``from x import _private`` across modules and on a
module over :data:`MAX_LINES` lines. Every existing exception is named below with its reason; an
exception that no longer applies fails too, so the lists only shrink.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = "assen_demand"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE
MAX_LINES = 1_200

#: Modules allowed over MAX_LINES, with why. Split them; then delete the line here.
LONG_MODULES: dict[str, str] = {}

#: Import cycles allowed for now (as sets of modules), with why.
CYCLES: dict[frozenset[str], str] = {}

#: Private names imported across modules, as (importing module, source module, name), with why.
PRIVATE_IMPORTS: dict[tuple[str, str, str], str] = {}

#: An import of a package module inside a function hides a dependency; it needs a comment on its
#: line (or the line above) saying why: ``# import here: <reason>`` (a genuine cycle, a heavy
#: optional dependency). Modules allowed to have uncommented ones for now, with why.
IN_FUNCTION_IMPORTS = {
}
IMPORT_HERE = "# import here:"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _resolve(module: str, level: int, target: str | None, current: str, is_package: bool) -> str | None:
    """The package-relative module an import refers to, or None for an outside module."""
    if level:
        base = current.split(".") if is_package else current.split(".")[:-1]
        base = base[: len(base) - (level - 1)] if level > 1 else base
        full = ".".join([*base, *( [target] if target else [])])
    elif target == PACKAGE or (target or "").startswith(PACKAGE + "."):
        full = target[len(PACKAGE) + 1:]
    else:
        return None
    return full


@functools.cache
def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every package import of a module."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve("", 0, alias.name, name, is_package)
                if target is not None:
                    out.append((target, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve("", node.level, node.module, name, is_package)
            if target is None:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}".lstrip(".")
                if sub in MODULES:  # `from assen_demand.demography import base`
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, alias.name, node.lineno))
    return out


@functools.cache
def _graph() -> dict[str, set[str]]:
    graph = {name: set() for name in MODULES}
    for name in MODULES:
        for target, _, _ in _imports(name):
            # a package's __init__ re-exports its modules: importing it is not an edge back into them
            if target in MODULES and target != name and MODULES[target].name != "__init__.py":
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.add(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(frozenset(members))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read():
    # guards against a parser that finds nothing (every other test would then pass vacuously)
    graph = _graph()
    assert {"pipeline", "datamodel", "demography.base", "outputs.export"} <= set(graph)
    assert "datamodel" in graph["demography.base"] and "errors" in graph["datamodel"]


def test_no_import_cycles():
    cycles = set(_cycles(_graph()))
    new = [sorted(c) for c in cycles - set(CYCLES)]
    assert not new, f"import cycle(s) {new}: move the shared name to a module both can import (e.g. datamodel)"
    gone = [sorted(c) for c in set(CYCLES) - cycles]
    assert not gone, f"cycle(s) {gone} are gone: delete them from CYCLES in {Path(__file__).name}"


def test_datamodel_is_a_leaf():
    assert _graph()["datamodel"] <= {"errors"}


def test_the_shared_output_modules_import_no_other_output_module():
    # labels and figures are what export, plots, monitoring and voorzieningen share; importing
    # one of those back would bring the old export <-> monitoring/plots/voorzieningen cycle back
    graph = _graph()
    assert not {m for m in graph["outputs.labels"] if m.startswith("outputs.")}
    assert {m for m in graph["outputs.figures"] if m.startswith("outputs.")} == {"outputs.labels"}


def test_no_private_names_across_modules():
    found = {}
    for name in MODULES:
        for target, imported, line in _imports(name):
            private_module = any(part.startswith("_") and not part.startswith("__") for part in target.split("."))
            private_name = imported is not None and imported.startswith("_") and not imported.startswith("__")
            if target != name and (private_name or private_module):
                found[(name, target, imported)] = line
    new = {k: v for k, v in found.items() if k not in PRIVATE_IMPORTS}
    assert not new, ("private name(s) imported across modules (importer, module, name: line): "
                     f"{new}; make the name public with a docstring, or move it to the module that uses it")
    gone = set(PRIVATE_IMPORTS) - set(found)
    assert not gone, f"{sorted(gone)} no longer imported: delete from PRIVATE_IMPORTS"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_length(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    if name in LONG_MODULES:
        assert lines > MAX_LINES, f"{name} has {lines} lines now: delete it from LONG_MODULES"
    else:
        assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it along its steps"


def _uncommented_in_function_imports(name: str) -> list[int]:
    """Lines of package imports inside functions of a module without an ``# import here:`` comment."""
    path = MODULES[name]
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    is_package = path.name == "__init__.py"
    found = []
    for function in ast.walk(ast.parse(text)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                targets = [_resolve("", 0, alias.name, name, is_package) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [_resolve("", node.level, node.module, name, is_package)]
            else:
                continue
            if all(t is None for t in targets):
                continue  # not a package module (the standard library, numpy, matplotlib, ...)
            said = lines[node.lineno - 2: node.end_lineno]  # the line above through the last line
            if not any(IMPORT_HERE in line for line in said):
                found.append(node.lineno)
    return sorted(set(found))


def test_in_function_imports_of_package_modules_say_why():
    found = {name: lines for name in MODULES if (lines := _uncommented_in_function_imports(name))}
    new = {k: v for k, v in found.items() if k not in IN_FUNCTION_IMPORTS}
    assert not new, (f"package imports inside functions (module: lines): {new}; move them to the top of the file, "
                     f"or say why on the line: '{IMPORT_HERE} <a genuine cycle / a heavy optional dependency>'")
    gone = set(IN_FUNCTION_IMPORTS) - set(found)
    assert not gone, f"{sorted(gone)} have no uncommented in-function imports left: delete from IN_FUNCTION_IMPORTS"


def test_the_in_function_import_check_finds_one(tmp_path, monkeypatch):
    # the check itself, on a two-function module: one bare import (found), one with its reason (not found)
    module = tmp_path / "probe.py"
    module.write_text(
        "def f():\n"
        "    from assen_demand.errors import InvalidValueError\n"
        "    return InvalidValueError\n"
        "\n"
        "def g():\n"
        "    # import here: a heavy optional dependency\n"
        "    from assen_demand import scale\n"
        "    import numpy\n"
        "    return scale, numpy\n",
        encoding="utf-8",
    )
    monkeypatch.setitem(MODULES, "probe", module)
    assert _uncommented_in_function_imports("probe") == [2]
