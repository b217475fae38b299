"""The shape of the package, read from its source with `ast` (nothing is imported):

* no import cycle between keras_cnns' modules, counting imports inside functions too;
* the library never imports the command line (`keras_cnns.cli`, a module or a package);
* subpackages import from `keras_cnns.models` & co., never from the top-level facade
  (`import keras_cnns`, `from keras_cnns import get_model`; a submodule, as in
  `from keras_cnns import validation`, is a module like any other);
* private Keras (`keras.src`) is used in one module only, and no library module imports
  `matplotlib.pyplot` (which would take over the backend of a notebook).

The import graph has an edge for every import written in a module (`import a.b`,
`from a.b import c` -> `a.b.c` where that is a module, else `a.b`;
`importlib.import_module("a.b")` with a literal name), plus one for every package whose
`__init__` such an import runs first: `from keras_cnns.export.saved_model import x` in
`training/train.py` runs `keras_cnns/export/__init__.py` and so depends on everything
that facade imports. A module's own enclosing packages are left out of those implied
edges (they are already being imported when the module runs: that is the facade relation,
not a dependency), but an explicit `from keras_cnns.analysis import profile` inside
`keras_cnns/analysis/` that names something the facade defines is a real edge, and a
cycle if the facade imports the module back.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "keras_cnns"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def _modules() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _written_imports(module: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import the module's source writes, anywhere."""
    path, is_package = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append((child if child in MODULES else base, node.lineno))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (
                name == "import_module" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
            ):
                found.append((node.args[0].value, node.lineno))
    return found


def _internal(name: str) -> str | None:
    """The keras_cnns module an import name refers to (None outside the package)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    while name not in MODULES and "." in name:  # `import keras_cnns.x.attr`: the module
        name = name.rpartition(".")[0]
    return name if name in MODULES else None


def _graph() -> dict[str, dict[str, int]]:
    """module -> {module it depends on: line of the import}."""
    graph: dict[str, dict[str, int]] = {}
    for module in MODULES:
        own = set(_ancestors(module))
        edges = graph.setdefault(module, {})
        for name, line in _written_imports(module):
            target = _internal(name)
            if target is None or target == module:
                continue
            edges.setdefault(target, line)
            for package in _ancestors(target):  # the __init__s that import runs first
                if package not in own and package != module:
                    edges.setdefault(package, line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _describe(component: list[str], graph) -> str:
    members = set(component)
    edges = [
        f"  {source} -> {target} ({MODULES[source][0].relative_to(ROOT.parent)}:{line})"
        for source in component
        for target, line in sorted(graph[source].items())
        if target in members
    ]
    return "\n".join([" <-> ".join(component), *edges])


def test_the_graph_reads_the_imports_it_should():
    # The checks below are only as good as the graph: known edges of each kind.
    graph = _graph()
    assert "keras_cnns.analysis.profile" in graph["keras_cnns.analysis.compare"]  # top level
    assert "keras_cnns.models" in graph["keras_cnns.analysis.profile"]  # inside a function
    assert "keras_cnns.analysis.plots" in graph["keras_cnns.analysis.compare"]  # in a method
    assert "keras_cnns.analysis" in graph["keras_cnns.training.assembly"]  # the implied __init__
    assert "keras_cnns.analysis" not in graph["keras_cnns.analysis.compare"]  # own package
    assert "keras_cnns.training" in graph["keras_cnns"]  # importlib.import_module("...")
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n\n".join(_describe(c, graph) for c in cycles)


def _is_cli(module: str) -> bool:
    return module == f"{PACKAGE}.cli" or module.startswith(f"{PACKAGE}.cli.")


def test_the_library_never_imports_the_command_line():
    graph = _graph()
    offenders = [
        f"{MODULES[source][0].relative_to(ROOT.parent)}:{line} imports {target}"
        for source, edges in graph.items() if not _is_cli(source)
        for target, line in edges.items() if _is_cli(target)
    ]
    assert not offenders, "\n".join(offenders)


def _facade_imports(module: str) -> list[tuple[str, int]]:
    """`import keras_cnns` and `from keras_cnns import X` (also written relatively)."""
    path, is_package = MODULES[module]
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(f"import {a.name}", node.lineno) for a in node.names if a.name == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # A submodule (`from keras_cnns import optimizers`) is a module like any other;
            # a name the facade defines (`from keras_cnns import get_model`) is the facade.
            names = [a.name for a in node.names if f"{PACKAGE}.{a.name}" not in MODULES]
            if base == PACKAGE and names:
                found.append((f"from {PACKAGE} import {', '.join(names)}", node.lineno))
    found += [(f"import_module({name!r})", line) for name, line in _written_imports(module)
              if name == PACKAGE and (f"import {name}", line) not in found]
    return found


def test_subpackages_do_not_import_the_top_level_facade():
    subpackage_modules = [m for m in MODULES if MODULES[m][0].parent != ROOT]  # keras_cnns/<sub>/...
    assert "keras_cnns.analysis.profile" in subpackage_modules
    offenders = [
        f"{MODULES[module][0].relative_to(ROOT.parent)}:{line}: {statement}"
        for module in subpackage_modules
        for statement, line in _facade_imports(module)
    ]
    assert not offenders, (
        "subpackages import from keras_cnns.models (and the like), never from the top-level "
        "package (`import keras_cnns`, `from keras_cnns import X`):\n" + "\n".join(offenders)
    )


def _importers(prefix: str) -> set[str]:
    return {
        module for module in MODULES
        for name, _ in _written_imports(module) if name == prefix or name.startswith(prefix + ".")
    }


def test_private_keras_lives_in_one_module():
    mentions = {
        module for module, (path, _) in MODULES.items() if "keras.src" in path.read_text()
    }
    assert mentions == {"keras_cnns.keras_internals"}
    assert _importers("keras.src") == {"keras_cnns.keras_internals"}


def test_the_library_does_not_import_pyplot():
    assert _importers("matplotlib.pyplot") == set()
