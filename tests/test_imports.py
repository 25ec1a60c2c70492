"""Imports flow one way: data -> cleaning -> model -> training -> evaluation -> tables.

Every module under unix/ is parsed and each of its imports (at module level or inside a function alike) is
checked against `LAYERS`: a module may import from its own layer or a lower one, never from a higher one.
No module imports a private (underscore) name from another package, and no modules import each other in a
circle. Failures name the module, the line and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "unix"

# Lowest first. The entries are the package `unix` itself and its direct children (packages or modules).
LAYERS: list[tuple[str, ...]] = [
    # Neutral bottom: the config, provenance records, the step runner, launching, packaged facts, weight errors.
    # real_run: the parse-time check that a real (non-synthetic) run names every path it needs.
    # stages: the stage and model names and the image size each stage reads.
    ("unix", "unix.config", "unix.stages", "unix.provenance", "unix.pipeline", "unix.launch", "unix.resources",
     "unix.weights", "unix.real_run"),
    ("unix.data",),
    ("unix.labels",),  # CheXpert-style report labelers: the drift audit of cleaning and the evaluation use them
    ("unix.cleaning",),
    # The results layout of the data and cleaning stages, for the Snakefile; the model, training, evaluation and
    # tables paths modules build on it.
    ("unix.workflow", "unix.job_limits"),  # job_limits: the Snakefile's onerror messages (config keys of limits)
    ("unix.model",),
    ("unix.training",),
    ("unix.evaluation",),
    ("unix.tables",),
    ("unix.cli",),  # the command line dispatches to every package
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
FLOW = " -> ".join("/".join(n.removeprefix("unix.") for n in names) for names in LAYERS)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def read_sources(root: Path = PACKAGE_DIR) -> dict[str, tuple[str, bool]]:
    """{module name: (source, is a package __init__)} of every .py file under `root`."""
    return {module_name(p, root): (p.read_text(), p.name == "__init__.py") for p in sorted(root.rglob("*.py"))}


def top(module: str) -> str:
    """The entry of LAYERS a module belongs to: `unix` or the direct child of `unix` it lies in."""
    return ".".join(module.split(".")[:2])


def is_private(name: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in name.split("."))


def imports_of(module: str, source: str, is_package: bool, modules: set[str]) -> list[tuple[int, str, str]]:
    """(line, imported module, imported name or "") of every import of a `unix` module in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, "") for a in node.names if top(a.name).startswith("unix")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            if base != "unix" and not base.startswith("unix."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub, "") if sub in modules else (node.lineno, base, alias.name))
    return found


def import_violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Imports against the flow of LAYERS and private names imported across packages, one message each."""
    modules = set(sources)
    problems = []
    for module, (source, is_package) in sorted(sources.items()):
        if top(module) not in RANK:
            problems.append(f"{module}: not placed in tests/test_imports.py LAYERS (add {top(module)!r} to a layer)")
            continue
        for line, target, name in imports_of(module, source, is_package, modules):
            spelled = f"from {target} import {name}" if name else f"import {target}"
            if RANK.get(top(target), -1) > RANK[top(module)]:
                problems.append(f"{module}:{line}: `{spelled}` runs against the flow ({top(module)} may not "
                                f"import {top(target)}; the order is {FLOW})")
            if top(target) != top(module) and (is_private(name) or is_private(target)):
                problems.append(f"{module}:{line}: `{spelled}` imports a private name from another package")
    return problems


def import_cycles(sources: dict[str, tuple[str, bool]]) -> list[list[str]]:
    """Groups of modules that import each other in a circle (strongly connected components of size > 1)."""
    modules = set(sources)
    graph = {m: sorted({t for _, t, _ in imports_of(m, s, pkg, modules) if t in modules and t != m})
             for m, (s, pkg) in sources.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_every_import_flows_down_and_no_private_name_crosses_a_package():
    problems = import_violations(read_sources())
    assert not problems, "\n".join(problems)


def test_no_modules_import_each_other():
    cycles = import_cycles(read_sources())
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checks_name_the_module_and_the_import():
    sources = {
        "unix.data.mimic": ("X = 1\n", False),
        "unix.data.bad": ("def f():\n    from unix.evaluation.steps import g\n", False),
        "unix.evaluation.steps": ("from ..training.data import _private\ndef g():\n    pass\n", False),
        "unix.training.data": ("from unix.data import mimic\n_private = 1\n", False),
        "unix.model.a": ("from unix.model import b\n", False),
        "unix.model.b": ("def f():\n    import unix.model.a\n", False),
        "unix.extra": ("", False),
    }
    problems = import_violations(sources)
    assert problems == [
        "unix.data.bad:2: `from unix.evaluation.steps import g` runs against the flow (unix.data may not import "
        f"unix.evaluation; the order is {FLOW})",
        "unix.evaluation.steps:1: `from unix.training.data import _private` imports a private name from another "
        "package",
        "unix.extra: not placed in tests/test_imports.py LAYERS (add 'unix.extra' to a layer)",
    ]
    assert import_cycles(sources) == [["unix.model.a", "unix.model.b"]]
