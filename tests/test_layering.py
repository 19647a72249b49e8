"""The floors of docs/architecture.md hold: every import in the package (function-level ones included) points
down or sideways, never up, no two modules import each other round a circle, and no task imports another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# lowest first; a module may import its own floor and those below (docs/architecture.md, "Floors")
FLOORS = (
    ("utils", ("zoo.utils",)),
    ("models", ("zoo.models",)),
    ("data", ("zoo.data",)),
    ("run", ("zoo.run",)),
    ("tasks", ("zoo.tasks",)),
    ("export", ("zoo.export",)),
    ("commands", ("zoo.predict", "zoo.__main__")),
    ("facade", ("zoo",)),
    ("recipes", ("recipes",)),
    ("benchmarks", ("benchmarks",)),
)


def modules() -> dict[str, Path]:
    found = {}
    for top in ("zoo", "recipes", "benchmarks"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def floor(module: str) -> int:
    best, level = -1, -1
    for index, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    assert level >= 0, f"{module} is on no floor: add it to FLOORS and to docs/architecture.md"
    return level


def imports(known: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its file (the longest known prefix of each)."""
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                # `from package import module` imports the module; `from module import name` the module
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in names:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        edges[name] = targets
    return edges


KNOWN = modules()
EDGES = imports(KNOWN)


def test_every_module_is_on_a_floor():
    for module in KNOWN:
        floor(module)


def test_no_import_climbs_a_floor():
    climbing = [
        f"{m} ({FLOORS[floor(m)][0]}) -> {t} ({FLOORS[floor(t)][0]})"
        for m, targets in EDGES.items()
        for t in sorted(targets)
        if floor(t) > floor(m)
    ]
    assert not climbing, "imports that climb a floor:\n" + "\n".join(climbing)


def _task(module: str) -> str | None:
    """The task package ``module`` belongs to (``zoo.tasks.<task>...``), None outside the task packages."""
    parts = module.split(".")
    if len(parts) > 2 and parts[:2] == ["zoo", "tasks"]:
        package = KNOWN.get(".".join(parts[:3]))
        if package is not None and package.name == "__init__.py":
            return parts[2]
    return None


def test_no_task_imports_another_and_the_registry_imports_none():
    crossing = [
        f"{m} -> {t}"
        for m, targets in EDGES.items()
        for t in targets
        if _task(t) and (_task(m) or m.startswith("zoo.tasks")) and _task(m) != _task(t)
    ]
    assert not crossing, "a task (or the registry) imports a task:\n" + "\n".join(crossing)


def test_no_import_circles():
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for target in sorted(EDGES.get(module, ())):
            if seen.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in seen:
                visit(target, path + [target])
        seen[module] = 2

    for module in sorted(EDGES):
        if module not in seen:
            visit(module, [module])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("example, climbs", [("zoo.models.encoder", False), ("zoo.tasks.segmentation.task", False)])
def test_the_check_sees_function_level_imports(example, climbs):
    # zoo.tasks.segmentation.task imports its serving module inside methods only: the edge is still seen
    assert "zoo.tasks.segmentation.serving" in EDGES["zoo.tasks.segmentation.task"]
    assert any(floor(t) > floor(example) for t in EDGES[example]) is climbs
